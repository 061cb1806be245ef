"""The sha256 of every input, one per line: a step that depends on all outputs of the chain."""
import hashlib
import sys

with open(sys.argv[-1], "w") as out:
    for path in sys.argv[1:-1]:
        out.write(hashlib.sha256(open(path, "rb").read()).hexdigest() + "\n")

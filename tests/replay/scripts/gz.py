"""gzip with the default header mtime: NOT reproducible without a code change (mtime=0)."""
import gzip
import sys

with open(sys.argv[1], "rb") as src, gzip.open(sys.argv[2], "wb") as dst:
    dst.write(src.read())

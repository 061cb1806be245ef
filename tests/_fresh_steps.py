"""python.call steps whose bytes depend on the state of the process that runs them: the hash
seed, the BLAS thread count, the RNG and matplotlib's rcParams. ``CELLS`` has the same steps
written as notebook cells for ``%%scidex_step``."""

import os
import pickle
from pathlib import Path


def string_set(inputs, output):
    """A set of strings written in iteration order (cf. jamieleecho/coco-tools#43)."""
    Path(output).write_text("\n".join({f"sample-{i}" for i in range(20)}) + "\n")


def pickled_set(inputs, output):
    """A pickled set (joblib PR 1566)."""
    Path(output).write_bytes(pickle.dumps({f"gene{i}" for i in range(20)}, protocol=4))


def blas_product(inputs, output):
    """A matrix product, whose reduction order follows the BLAS thread count (numpy#25100)."""
    import numpy as np

    a = np.random.default_rng(7).standard_normal((400, 400))
    Path(output).write_text(float.hex(float((a @ a.T).sum())) + "\n")


def bootstrap(inputs, output):
    """An unseeded bootstrap of the mean."""
    import numpy as np

    x = np.arange(50.0)
    rng = np.random.default_rng()
    Path(output).write_text(repr([float(rng.choice(x, x.size).mean()) for _ in range(20)]) + "\n")


def plot(inputs, output):
    """A line plot as SVG: its line width comes from rcParams, which an earlier cell may have changed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 4, 9])
    fig.savefig(output, format="svg")
    plt.close(fig)


def environment(inputs, output):
    """What the step sees of two variables: NORMALIZE (declared or not) and LEAKED (never declared)."""
    Path(output).write_text(repr((os.environ.get("NORMALIZE"), os.environ.get("LEAKED"))) + "\n")


CASES = ("string_set", "pickled_set", "blas_product", "bootstrap", "plot")

CELLS = {
    "string_set": 'output.write_text("\\n".join({f"sample-{i}" for i in range(20)}) + "\\n")\n',
    "pickled_set": "import pickle\noutput.write_bytes(pickle.dumps({f'gene{i}' for i in range(20)}, protocol=4))\n",
    "blas_product": (
        "import numpy as np\n"
        "a = np.random.default_rng(7).standard_normal((400, 400))\n"
        'output.write_text(float.hex(float((a @ a.T).sum())) + "\\n")\n'
    ),
    "bootstrap": (
        "import numpy as np\n"
        "x = np.arange(50.0)\n"
        "rng = np.random.default_rng()\n"
        'output.write_text(repr([float(rng.choice(x, x.size).mean()) for _ in range(20)]) + "\\n")\n'
    ),
    "plot": (
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([1, 2, 3], [1, 4, 9])\n"
        "fig.savefig(output, format='svg')\n"
    ),
}

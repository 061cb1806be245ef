"""Deterministic mode: the documented variables, the seeding sitecustomize, and numpy left alone."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from scidex_replay.env import deterministic_env
from scidex_replay.env.deterministic import MPLRC_DIR, SITE_DIR

EPOCH = 1_700_000_000
DOCUMENTED = {
    "PYTHONHASHSEED": "0",
    "TZ": "UTC",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "SOURCE_DATE_EPOCH": str(EPOCH),
}


def run_child(code: str, env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_sets_the_documented_variables_over_the_base():
    base = {"TZ": "Europe/Paris", "LC_ALL": "fr_FR.UTF-8", "PYTHONHASHSEED": "random", "HOME": "/home/x"}
    env = deterministic_env(EPOCH, base)
    for key, value in DOCUMENTED.items():
        assert env[key] == value, key
    assert env["HOME"] == "/home/x"  # the rest of the base passes through
    assert Path(env["MATPLOTLIBRC"]) == MPLRC_DIR and (MPLRC_DIR / "matplotlibrc").is_file()
    assert base["TZ"] == "Europe/Paris"  # the base is not modified


def test_source_date_epoch_is_an_integer_string():
    assert deterministic_env(1234.9, {})["SOURCE_DATE_EPOCH"] == "1234"


def test_prepends_the_site_dir_to_pythonpath():
    assert deterministic_env(EPOCH, {})["PYTHONPATH"] == str(SITE_DIR)
    env = deterministic_env(EPOCH, {"PYTHONPATH": os.pathsep.join(["/a", "/b"])})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(SITE_DIR), "/a", "/b"]
    assert (SITE_DIR / "sitecustomize.py").is_file()


def test_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCIDEX_TEST_MARKER", "kept")
    assert deterministic_env(EPOCH)["SCIDEX_TEST_MARKER"] == "kept"


def test_a_child_seeds_random_the_same_way_every_run():
    code = "import random; print(random.random(), random.getrandbits(64))"
    env = deterministic_env(EPOCH)
    first, second = run_child(code, env), run_child(code, env)
    assert first == second
    expected = random.Random(0)
    assert first == f"{expected.random()} {expected.getrandbits(64)}"


def test_a_child_without_deterministic_mode_is_not_seeded():
    # guards the test above: the sameness comes from the mode, not from Python
    code = "import random; print(random.random())"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert run_child(code, env) != run_child(code, env)


def test_a_child_hashes_strings_the_same_way_every_run():
    code = "print(hash('scidex'), list({'a', 'b', 'c', 'd', 'e'}))"
    env = deterministic_env(EPOCH)
    assert run_child(code, env) == run_child(code, env)


def test_a_child_seeds_numpy_random_when_it_imports_numpy():
    import numpy as np  # always installed: pandas, a dependency, requires it

    code = "import numpy; print(repr(numpy.random.random()), numpy.random.randint(0, 2**31))"
    env = deterministic_env(EPOCH)
    first, second = run_child(code, env), run_child(code, env)
    assert first == second
    rs = np.random.RandomState(0)
    assert first == f"{rs.random_sample()!r} {rs.randint(0, 2**31)}"


def test_default_rng_without_a_seed_is_seeded_with_independent_streams():
    import numpy as np

    code = (
        "from numpy.random import default_rng\nimport numpy as np\n"
        "print(default_rng().integers(10**9), np.random.default_rng().integers(10**9), default_rng(5).integers(10**9))"
    )
    env = deterministic_env(EPOCH)
    first, second = run_child(code, env), run_child(code, env)
    assert first == second  # the same in every fresh process
    a, b, five = map(int, first.split())
    children = np.random.SeedSequence(0).spawn(2)  # the Nth unseeded call gets the Nth child
    assert (a, b) == tuple(int(np.random.default_rng(c).integers(10**9)) for c in children)
    assert five == np.random.default_rng(5).integers(10**9)  # an explicit seed is left alone
    unseeded = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    assert run_child(code, unseeded) != run_child(code, unseeded)  # outside deterministic mode: not seeded


def test_a_child_can_import_numpy_submodules_first():
    code = "import numpy.linalg, numpy.random; print(repr(numpy.random.random()))"
    env = deterministic_env(EPOCH)
    assert run_child(code, env) == run_child(code, env)


def test_importing_nothing_imports_neither_numpy_nor_random():
    code = "import sys; print('numpy' in sys.modules, 'random' in sys.modules, sorted(m for m in sys.modules if m.startswith('numpy'))[:3])"
    assert run_child(code, deterministic_env(EPOCH)) == "False False []"


def test_random_is_seeded_when_imported_after_numpy_or_through_another_module():
    import numpy as np

    code = "import numpy, tempfile, random; print(random.random(), repr(numpy.random.random()))"
    assert run_child(code, deterministic_env(EPOCH)) == f"{random.Random(0).random()} {np.random.RandomState(0).random_sample()!r}"


def test_the_seed_can_be_chosen():
    env = dict(deterministic_env(EPOCH), SCIDEX_REPLAY_SEED="42")
    assert run_child("import random; print(random.random())", env) == str(random.Random(42).random())

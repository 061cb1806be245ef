"""Limits and faults at the command line (issue 19): ``--timeout`` and ``--memory-limit`` on
``run`` and ``rerun-artifact``; bad limits, deeply nested ``--set`` JSON, a FIFO, an unreadable
file and a full disk are each one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _procs import processes_with

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"
PY = sys.executable
HOG = "x = bytearray(700 * 1024 * 1024); open('out.txt', 'w').write('fed')"


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scidex-replay: error: "), proc.stderr
    return lines[0]


def bare_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})}, timeout=120, **kwargs,
    )


# -- --timeout ---------------------------------------------------------------------------


def test_a_replay_with_a_timeout_ends_the_step_and_all_it_started(cli, tmp_path, leftovers):
    slow, marker = tmp_path / "slow", f"{random.randint(10_000, 99_999)}.25"
    script = f"if [ -e {slow} ]; then sleep {marker} & sleep {marker}; fi; echo hi > out.txt"
    recorded = cli("run", "-o", "out.txt", "--", "sh", "-c", script)
    assert recorded.returncode == 0, recorded.stderr
    slow.touch()
    proc = cli("rerun-artifact", recorded.stdout.split()[0], "--timeout", "1", "--out", tmp_path / "m")
    left = processes_with(marker)
    leftovers.extend(left)
    assert proc.returncode == 1, proc.stderr
    assert "failed: timed out after 1 s" in proc.stderr
    assert left == []
    # the run says what its steps were allowed, in its manifest and in the registry
    options = json.loads((tmp_path / "m" / "manifest.json").read_text())["options"]
    assert options["limits"] == {"timeout_s": 1.0, "memory_limit_mb": None}


def test_run_with_a_timeout_ends_the_command_and_records_nothing(cli, tmp_path, leftovers):
    marker = f"{random.randint(10_000, 99_999)}.75"
    proc = cli("run", "--timeout", "1", "-o", "out.txt", "--", "sh", "-c", f"sleep {marker} & sleep {marker}; echo > out.txt")
    left = processes_with(marker)
    leftovers.extend(left)
    assert one_line_error(proc, 1) == "scidex-replay: error: timed out after 1 s"
    assert left == []
    assert not (tmp_path / "out.txt").exists()


#: Starts ``sleep 300`` as a daemon (fork, setsid, fork), writes its pid to ``daemon.pid`` and ``out.txt``.
DAEMONIZE = """
import os
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("sleep", ["sleep", "300"])
    os.write(w, str(pid).encode())
    os._exit(0)
os.close(w)
pid = os.read(r, 32).decode()
os.wait()
open("out.txt", "w").write("started")
open(os.environ["PIDFILE"], "w").write(pid)
"""


def test_a_daemon_the_recorded_command_starts_is_gone_when_run_ends(cli, tmp_path, leftovers):
    pidfile = tmp_path / "daemon.pid"
    (tmp_path / "daemon.py").write_text(DAEMONIZE)
    proc = cli("run", "--env", f"PIDFILE={pidfile}", "-o", "out.txt", "--", PY, "daemon.py")
    assert proc.returncode == 0, proc.stderr
    pid = int(pidfile.read_text())
    left = processes_with("300")
    leftovers.extend(p for p in left if p == pid)
    assert pid not in left, "the daemonized sleep outlived the step"


def test_an_argument_longer_than_a_file_name_may_be_is_just_an_argument(cli, tmp_path):
    program = "open('out.txt', 'w').write('x' * 300)  # " + "y" * 300  # not a file: too long to be one
    proc = cli("run", "-o", "out.txt", "--", PY, "-c", program)
    assert proc.returncode == 0, proc.stderr


# -- --memory-limit ----------------------------------------------------------------------


def test_run_applies_the_memory_limit_from_the_option_or_the_environment(cli, tmp_path, monkeypatch):
    line = one_line_error(cli("run", "--memory-limit", "200", "-o", "out.txt", "--", PY, "-c", HOG), 1)
    assert "MemoryError" in line and "(memory limit 200 MB)" in line
    monkeypatch.setenv("SCIDEX_REPLAY_MEMORY_LIMIT_MB", "250")
    line = one_line_error(cli("run", "-o", "out.txt", "--", PY, "-c", HOG), 1)
    assert "(memory limit 250 MB)" in line
    assert cli("run", "--memory-limit", "2000", "-o", "out.txt", "--", PY, "-c", HOG).returncode == 0  # the option wins


def test_a_replay_applies_the_memory_limit_in_the_kernel_executor(cli, tmp_path):
    recorded = cli("run", "-o", "out.txt", "--", PY, "-c", HOG)
    assert recorded.returncode == 0, recorded.stderr
    proc = cli("rerun-artifact", recorded.stdout.split()[0], "--memory-limit", "200", "--out", tmp_path / "m")
    assert proc.returncode == 1, proc.stderr
    assert "MemoryError" in proc.stderr and "(memory limit 200 MB)" in proc.stderr


# -- bad limits: one line, exit 2 -----------------------------------------------------------

BAD_LIMITS = [
    (["--timeout", "abc"], {}, "--timeout 'abc'"),
    (["--timeout", "0"], {}, "--timeout '0'"),
    (["--timeout", "-1"], {}, "--timeout '-1'"),
    (["--timeout", "nan"], {}, "--timeout 'nan'"),
    (["--memory-limit", "abc"], {}, "--memory-limit 'abc'"),
    (["--memory-limit", "-1"], {}, "--memory-limit '-1'"),
    (["--memory-limit", "1.5"], {}, "--memory-limit '1.5'"),
    ([], {"SCIDEX_REPLAY_MEMORY_LIMIT_MB": "abc"}, "SCIDEX_REPLAY_MEMORY_LIMIT_MB 'abc'"),
    ([], {"SCIDEX_REPLAY_MEMORY_LIMIT_MB": "-1"}, "SCIDEX_REPLAY_MEMORY_LIMIT_MB '-1'"),
]


@pytest.mark.parametrize(("flags", "env", "named"), BAD_LIMITS, ids=[" ".join(f) or str(e) for f, e, _ in BAD_LIMITS])
@pytest.mark.parametrize("command", ["run", "rerun-artifact"])
def test_a_bad_limit_is_one_line_and_exit_2(command, flags, env, named, bare_home, tmp_path):
    if command == "run":
        args = ["run", *flags, "-o", "out.txt", "--", "sh", "-c", "echo > out.txt"]
    else:
        args = ["rerun-artifact", "a_00000000", *flags]
    line = one_line_error(bare_cli(*args, cwd=tmp_path, env=env))
    assert named in line
    assert not (tmp_path / "out.txt").exists()


def test_deeply_nested_json_in_set_is_one_line_and_exit_2(bare_home, tmp_path):
    line = one_line_error(bare_cli("rerun-artifact", "a_00000000", "--fork", "--set", "fit.k=" + "[" * 100_000, cwd=tmp_path))
    assert line == "scidex-replay: error: --set fit.k: the value is nested too deeply to read"


# -- files that are not regular, or cannot be read, or do not fit ----------------------------


def test_a_fifo_or_a_directory_is_not_a_regular_file(cli, tmp_path):
    os.mkfifo(tmp_path / "myfifo")
    (tmp_path / "adir").mkdir()
    assert one_line_error(cli("add", "myfifo")) == "scidex-replay: error: file myfifo is a FIFO, not a regular file"
    line = one_line_error(cli("run", "-i", "myfifo", "-o", "out.txt", "--", "cat", "myfifo"))
    assert line.endswith("myfifo is a FIFO, not a regular file")
    line = one_line_error(cli("run", "-i", "adir", "-o", "out.txt", "--", "ls", "adir"))
    assert line.endswith("adir is a directory, not a regular file")


def test_an_unreadable_input_is_one_line_naming_it(cli, tmp_path):
    # /proc/1/mem is a regular file that even root cannot open for reading (no ptrace right on init)
    assert one_line_error(cli("add", "/proc/1/mem")) == "scidex-replay: error: cannot read /proc/1/mem: Permission denied"
    line = one_line_error(cli("run", "-i", "/proc/1/mem", "-o", "out.txt", "--", "cp", "{in0}", "out.txt"))
    assert line == "scidex-replay: error: cannot read /proc/1/mem: Permission denied"


def _file_size_limit(limit: int):
    def limit_writes() -> None:  # in the CLI's process: a write past ``limit`` bytes fails with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_writes


def test_a_full_disk_on_add_is_one_line_and_leaves_no_partial_blob(cli, home, tmp_path):
    assert cli("add", Path(__file__)).returncode == 0  # the registry exists; its database is smaller than the limit
    big = tmp_path / "big.bin"
    big.write_bytes(random.randbytes(3 * 1024 * 1024))
    proc = bare_cli("add", big, cwd=tmp_path, preexec_fn=_file_size_limit(2 * 1024 * 1024))
    line = one_line_error(proc)
    assert line.startswith(f"scidex-replay: error: cannot store {big}: File too large")
    blobs = home / "blobs"
    assert not list((blobs / "tmp").glob("*")), "no partial blob"
    import hashlib

    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert not (blobs / digest[:2] / digest[2:]).exists()
    assert cli("add", big).returncode == 0  # with room, it is stored

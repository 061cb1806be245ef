"""failure_summary: a failed command's stderr as one line that names the exception and the user's line.

The tracebacks are real: each test runs a small script with this interpreter and
summarises what it wrote to stderr.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scidex_replay.handlers.stderr import failure_summary

PY = sys.executable
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def run_script(tmp_path: Path, source: str, *, name: str = "fit.py", args: tuple[str, ...] = ()) -> bytes:
    """Run ``source`` as ``tmp_path/name``; return its stderr (the script must fail)."""
    script = tmp_path / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run([PY, str(script), *args], cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.returncode != 0, proc.stderr.decode()
    return proc.stderr


def run(argv: list[str], cwd: Path) -> bytes:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=120)
    assert proc.returncode != 0, proc.stderr.decode()
    return proc.stderr


def assert_one_clean_line(summary: str, limit: int = 600) -> None:
    assert len(summary) <= limit
    assert "\n" not in summary and "\r" not in summary
    assert not CONTROL.search(summary), repr(summary)
    assert "  " not in summary


def test_pandas_read_csv_on_a_missing_file_names_the_users_line_not_pandas_internals(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        import pandas as pd

        df = pd.read_csv('x.csv')
        print(df)
        """,
    )
    assert b"site-packages" in stderr  # the traceback ends in pandas' frames

    summary = failure_summary(stderr)

    assert summary.startswith("FileNotFoundError: [Errno 2] No such file or directory: 'x.csv'")
    assert "at fit.py:3 in <module>: df = pd.read_csv('x.csv')" in summary
    assert "readers.py" not in summary and "site-packages" not in summary
    assert_one_clean_line(summary)


def test_an_error_raised_in_a_nested_user_function_points_at_the_innermost_user_frame(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        def parse(value):
            return float(value)

        def load(rows):
            return [parse(v) for v in rows]

        load(['1', 'x'])
        """,
    )

    summary = failure_summary(stderr)

    assert summary == "ValueError: could not convert string to float: 'x' | at fit.py:2 in parse: return float(value)"


def test_user_code_called_back_from_a_library_is_the_frame_shown(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        import pandas as pd

        def scale(x):
            return x / 0 if x > 1 else 1 / 0

        pd.Series([1, 2]).apply(scale)
        """,
    )

    summary = failure_summary(stderr)

    assert summary.startswith("ZeroDivisionError: division by zero")
    assert "at fit.py:4 in scale: return x / 0 if x > 1 else 1 / 0" in summary


def test_a_chained_exception_reports_the_last_one(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        def lookup(table, key):
            try:
                return table[key]
            except KeyError as exc:
                raise ValueError(f"unknown sample {key!r}") from exc

        lookup({}, 'S1')
        """,
    )
    assert b"direct cause" in stderr

    summary = failure_summary(stderr)

    assert summary == (
        "ValueError: unknown sample 'S1' | at fit.py:5 in lookup: raise ValueError(f\"unknown sample {key!r}\") from exc"
    )


def test_an_exception_raised_while_handling_another_reports_the_second(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        try:
            open('missing.txt')
        except OSError:
            undefined_name
        """,
    )
    assert b"During handling of the above exception" in stderr

    summary = failure_summary(stderr)

    assert summary == "NameError: name 'undefined_name' is not defined | at fit.py:4 in <module>: undefined_name"


def test_caret_and_tilde_markers_are_not_part_of_the_summary(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        a = {"x": {"y": None}}
        print(a["x"]["y"]["z"] + 1)
        """,
    )

    summary = failure_summary(stderr)

    assert summary == "TypeError: 'NoneType' object is not subscriptable | at fit.py:2 in <module>: print(a[\"x\"][\"y\"][\"z\"] + 1)"
    assert "^" not in summary and "~" not in summary


def test_a_syntax_error_in_the_users_script_names_the_line(tmp_path):
    stderr = run_script(tmp_path, "x = 1\ndef f(:\n    pass\n")
    assert b"Traceback" not in stderr  # Python reports it without a traceback header

    summary = failure_summary(stderr)

    assert summary == "SyntaxError: invalid syntax | at fit.py:2: def f(:"


def test_a_syntax_error_in_an_imported_user_module_names_that_module(tmp_path):
    (tmp_path / "helpers.py").write_text("x = (1,\n")
    stderr = run_script(tmp_path, "import helpers\n")

    summary = failure_summary(stderr)

    assert summary == "SyntaxError: '(' was never closed | at helpers.py:1: x = (1,"


def test_sys_exit_with_a_message_is_the_message(tmp_path):
    stderr = run_script(tmp_path, "import sys\nsys.exit('no samples passed QC')\n")

    assert failure_summary(stderr) == "no samples passed QC"


def test_a_non_python_programs_last_lines_are_joined(tmp_path):
    stderr = run(["sh", "-c", "echo a >&2; echo b >&2; exit 3"], tmp_path)

    assert failure_summary(stderr) == "a | b"


def test_only_the_last_five_non_empty_lines_of_a_non_python_program_are_kept(tmp_path):
    stderr = run(["sh", "-c", "for i in 1 2 3 4 5 6 7; do echo line $i >&2; echo >&2; done; exit 1"], tmp_path)

    assert failure_summary(stderr) == "line 3 | line 4 | line 5 | line 6 | line 7"


def test_ansi_colours_and_terminal_escapes_are_removed(tmp_path):
    stderr = run_script(
        tmp_path,
        r"""
        import sys
        sys.stderr.write("\x1b]0;pwned title\x07\x1b[2J\x1b[1;31merror:\x1b[0m  bad\tinput \x1b[4mfile.csv\x1b[24m\x07\x08\n")
        sys.stderr.write("\x1b]8;;https://example.org\x1b\\link\x1b]8;;\x1b\\ \u202eevil\n")
        sys.exit(2)
        """,
    )
    assert b"\x1b[" in stderr

    summary = failure_summary(stderr)

    assert summary == "error: bad input file.csv | link evil"
    assert_one_clean_line(summary)


def test_a_coloured_traceback_is_still_read_as_a_traceback(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        import sys, traceback

        def colour(kind, value, tb):
            for line in traceback.format_exception(kind, value, tb):
                for part in line.splitlines():
                    sys.stderr.write(part.replace("File", "\\x1b[35mFile\\x1b[0m") + "\\x1b[0m\\n")

        sys.excepthook = colour

        def fit(points):
            return sum(points) / len(points)

        fit([])
        """,
    )
    assert b"\x1b[35mFile" in stderr

    summary = failure_summary(stderr)

    assert summary == "ZeroDivisionError: division by zero | at fit.py:11 in fit: return sum(points) / len(points)"


def test_progress_bars_rewritten_with_carriage_returns_show_their_last_state(tmp_path):
    stderr = run(["sh", "-c", "printf '10%%\\r50%%\\r100%%\\nfatal: disk full\\n' >&2; exit 1"], tmp_path)

    assert failure_summary(stderr) == "100% | fatal: disk full"


def test_a_100_kb_stderr_gives_one_line_within_the_limit_with_the_exception(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        import sys

        for i in range(2000):
            print(f"warning: row {i} has a missing value in column 'dose'", file=sys.stderr)
        raise RuntimeError("model did not converge after 500 iterations")
        """,
    )
    assert len(stderr) > 100_000

    summary = failure_summary(stderr)

    assert summary == (
        "RuntimeError: model did not converge after 500 iterations"
        " | at fit.py:5 in <module>: raise RuntimeError(\"model did not converge after 500 iterations\")"
    )


def test_a_100_kb_exception_message_is_cut_in_the_middle_keeping_type_and_user_line(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        values = ['x' * 10] * 10_000
        raise ValueError('bad values: ' + ' '.join(values) + ' END')
        """,
    )
    assert len(stderr) > 100_000

    summary = failure_summary(stderr)

    assert_one_clean_line(summary)
    assert summary.startswith("ValueError: bad values: xxxxxxxxxx")
    assert "…" in summary
    assert summary.endswith("xxxxxxxxxx END | at fit.py:2 in <module>: raise ValueError('bad values: ' + ' '.join(values) + ' END')")


def test_a_100_kb_line_from_a_non_python_program_is_cut_to_the_limit(tmp_path):
    stderr = run(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' 'y' >&2; echo ' the end' >&2; exit 1"], tmp_path)

    summary = failure_summary(stderr, limit=300)

    assert_one_clean_line(summary, limit=300)
    assert summary.startswith("yyy") and summary.endswith("yyy the end") and "…" in summary


def test_non_utf8_bytes_are_replaced_not_fatal(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        import sys
        sys.stderr.buffer.write(b"cannot read caf\\xe9.csv: \\xff\\xfe\\x00bad\\n")
        sys.exit(1)
        """,
    )

    summary = failure_summary(stderr)

    assert summary == "cannot read caf\ufffd.csv: \ufffd\ufffdbad"


def test_an_exception_group_names_the_group_its_members_and_the_users_line(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        def validate(rows):
            errors = [ValueError(f"row {i}: negative dose") for i in rows]
            raise ExceptionGroup("validation failed", errors)

        validate([3, 7])
        """,
    )

    summary = failure_summary(stderr)

    assert summary == (
        "ExceptionGroup: validation failed (2 sub-exceptions)"
        " | at fit.py:3 in validate: raise ExceptionGroup(\"validation failed\", errors)"
        " | sub-exceptions: ValueError: row 3: negative dose; ValueError: row 7: negative dose"
    )


def test_an_exception_group_with_member_tracebacks_does_not_crash(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        def check(x):
            raise KeyError(x)

        errors = []
        for x in ("a", "b"):
            try:
                check(x)
            except KeyError as exc:
                errors.append(exc)
        raise ExceptionGroup("checks", errors)
        """,
    )
    assert stderr.count(b"Traceback (most recent call last)") == 3

    summary = failure_summary(stderr)

    assert summary.startswith("ExceptionGroup: checks (2 sub-exceptions) | at fit.py:10 in <module>")
    assert summary.endswith("sub-exceptions: KeyError: 'a'; KeyError: 'b'")


def test_without_a_user_frame_the_innermost_frame_is_shown(tmp_path):
    (tmp_path / "empty.pkl").write_bytes(b"")
    stderr = run([PY, "-m", "pickle", "empty.pkl"], tmp_path)

    summary = failure_summary(stderr)

    assert summary.startswith("EOFError: Ran out of input | at pickle.py:")
    assert "frozen" not in summary


def test_a_script_under_the_working_directory_is_shown_by_its_relative_path(tmp_path):
    stderr = run_script(tmp_path, "raise SystemError('boom')\n", name="src/fit.py")

    assert failure_summary(stderr, cwd=tmp_path) == "SystemError: boom | at src/fit.py:1 in <module>: raise SystemError('boom')"
    assert failure_summary(stderr) == "SystemError: boom | at fit.py:1 in <module>: raise SystemError('boom')"


@pytest.fixture(scope="module")
def long_read_csv_error(tmp_path_factory) -> bytes:
    return run_script(
        tmp_path_factory.mktemp("long"),
        """\
        import pandas as pd

        frame = pd.read_csv('measurements_from_the_second_batch_of_the_experiment.csv')
        """,
    )


def test_every_limit_is_respected(long_read_csv_error):
    for limit in range(0, 260):
        assert_one_clean_line(failure_summary(long_read_csv_error, limit=limit), limit=limit)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (10, "FileN…csv'"),
        (60, "FileNotFoundError: [Errno 2] No suc…h_of_the_experiment.csv'"),
        (100, "FileNotFoundError: [Errno 2] No such file or…_batch_of_the_experiment.csv' | at fit.py:3 in <module>"),
        (
            150,
            "FileNotFoundError: [Errno 2] No such file or directory: 'm…the_second_batch_of_the_experiment.csv'"
            " | at fit.py:3 in <module>: frame = pd.rea…ent.csv')",
        ),
    ],
)
def test_a_tight_limit_cuts_in_the_middle_keeping_the_exception_first_then_the_place(long_read_csv_error, limit, expected):
    assert failure_summary(long_read_csv_error, limit=limit) == expected


def test_a_multi_line_message_and_notes_follow_the_place(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        error = ValueError("column 'dose' is empty\\nfound in 3 files")
        error.add_note("hint: check the input units")
        raise error
        """,
    )

    assert failure_summary(stderr) == (
        "ValueError: column 'dose' is empty | at fit.py:3 in <module>: raise error"
        " | found in 3 files | hint: check the input units"
    )


def test_output_after_a_logged_traceback_is_kept(tmp_path):
    stderr = run_script(
        tmp_path,
        """\
        import logging, sys
        try:
            1 / 0
        except ZeroDivisionError:
            logging.exception("normalisation failed")
        sys.exit("fatal: giving up")
        """,
    )

    assert failure_summary(stderr) == "ZeroDivisionError: division by zero | at fit.py:3 in <module>: 1 / 0 | fatal: giving up"


FRAGMENTS = [
    b"Traceback (most recent call last):\n",
    b'  File "/usr/lib/python3.11/x.py", line 3, in f\n',
    b'  File "fit.py", line 9\n',
    b"    source()\n",
    b"    ^^^^~~~\n",
    b"ValueError: bad\n",
    b"  + Exception Group Traceback (most recent call last):\n",
    b"  | KeyError: 1\n",
    b"  +-+---- 1 ----\n",
    b"\x1b[31m",
    b"\x1b]0;t",
    b"\r",
    b"\xff",
    b"\n",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=40)), max_size=30),
    st.integers(min_value=0, max_value=200),
)
def test_any_bytes_give_one_clean_line_within_the_limit(chunks, limit):
    summary = failure_summary(b"".join(chunks), limit=limit)

    assert len(summary) <= limit
    assert not CONTROL.search(summary)


def test_empty_stderr_gives_an_empty_summary():
    assert failure_summary(b"") == ""
    assert failure_summary(b"\n \n\x1b[0m\n") == ""

"""Execute one notebook with papermill for a ``notebook`` step, then make the executed notebook
byte-stable. Run by path by the kernel's interpreter, in the step's working directory::

    PYTHON scidex_papermill_step.py NOTEBOOK EXECUTED PARAMETERS_JSON KERNEL CWD

It imports only the standard library, papermill and nbformat: the interpreter need not have
scidex-replay installed (its folder holds this file alone, so nothing here shadows a module).

What a run writes that changes from run to run is taken out of the executed notebook before it
is saved (``stabilize``): papermill's start and end times and durations, nbclient's
``execution`` timestamps, and the random id nbformat gives a cell that has none (the injected
parameters cell is ``injected-parameters``; a cell of a notebook without ids is ``cell-N``).
How a cell's printing is cut into stream messages depends on timing (the kernel flushes its
output from a thread): nbclient's ``coalesce_streams`` merges them, one stdout and one stderr
output per cell, stdout first.

A failure is printed as one line ``SCIDEX-PAPERMILL-FAILURE {json}`` on stderr (exit 3):
``{"kind": "cell", "cell": N, "line": L, "code": TEXT, "error": "Name: message"}`` (N counts
the notebook's own cells from 1, the injected one not counted; L the line in that cell, or
null), ``{"kind": "kernel", "kernel": NAME}``, or ``{"kind": "papermill", "error": TEXT}``.
"""

import json
import re
import sys

MARKER = "SCIDEX-PAPERMILL-FAILURE "
INJECTED = "injected-parameters"
ERROR_TAG = "papermill-error-cell-tag"  # the cells papermill adds to a notebook that failed
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_AT = re.compile(r"^(?:Cell In\s*\[\d*\]|Input In \[\d*\]|<ipython-input-[^>]*>)[^\n]*line (\d+)", re.MULTILINE)
_TIMES = ("start_time", "end_time", "duration")


def fail(**doc):
    sys.stderr.write(MARKER + json.dumps(doc) + "\n")
    sys.exit(3)


def own_index(nb, index):
    """The 1-based number of executed cell ``index`` among the notebook's own cells."""
    injected = sum(1 for c in nb.cells[:index] if INJECTED in c.get("metadata", {}).get("tags", []))
    return index - injected + 1


def error_line(traceback_lines):
    """(line number, code) of the cell's own line that raised, read from IPython's traceback."""
    text = _ANSI.sub("", "\n".join(traceback_lines or []))
    found = _CELL_AT.search(text)
    if not found:
        return None, None
    line = found.group(1)
    for row in text[found.end():].splitlines():
        match = re.match(r"^-+>\s*(\d+)\s?(.*)$", row)
        if match and match.group(1) == line:
            return int(line), match.group(2).strip()
    return int(line), None


def stabilize(nb, source_ids):
    """Drop what changes from run to run; give cells without an id a fixed one."""
    meta = nb.metadata.get("papermill", {})
    for key in _TIMES:
        meta.pop(key, None)
    own = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in _TIMES:
            cell.metadata.get("papermill", {}).pop(key, None)
        if INJECTED in cell.metadata.get("tags", []):
            cell["id"] = INJECTED
            continue
        recorded = source_ids[own] if own < len(source_ids) else None
        cell["id"] = recorded or "cell-%d" % (own + 1)
        own += 1
    return nb


def missing_language(nb, kernel):
    """The language of ``kernel``'s spec when the notebook says none (a notebook written by a
    program, with no ``kernelspec``/``language_info``): papermill needs one to inject parameters."""
    meta = nb.get("metadata", {})
    if (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get("name"):
        return None
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        return KernelSpecManager().get_kernel_spec(kernel).language
    except Exception:  # noqa: BLE001 - an unknown kernel is reported by the execution itself
        return None


def main(argv):
    notebook, executed, parameters, kernel, cwd = argv
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = nbformat.read(notebook, as_version=4)
    source_ids = [c.get("id") for c in source.cells if INJECTED not in c.get("metadata", {}).get("tags", [])]
    try:
        papermill.execute_notebook(
            notebook, executed, parameters=json.loads(parameters), kernel_name=kernel, progress_bar=False,
            log_output=False, cwd=cwd or None, coalesce_streams=True, language=missing_language(source, kernel),
        )
    except PapermillExecutionError as exc:
        nb = nbformat.read(executed, as_version=4)
        nb.cells = [c for c in nb.cells if ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
        line, code = error_line(exc.traceback)
        fail(kind="cell", cell=own_index(nb, exc.cell_index), line=line, code=code,
             error="%s: %s" % (exc.ename, exc.evalue) if exc.evalue else exc.ename)
    except Exception as exc:  # noqa: BLE001 - reported as one line; the handler turns it into the step's failure
        if type(exc).__name__ == "NoSuchKernel":
            fail(kind="kernel", kernel=kernel)
        fail(kind="papermill", error="%s: %s" % (type(exc).__name__, exc))
    nb = nbformat.read(executed, as_version=4)
    nbformat.write(stabilize(nb, source_ids), executed)


if __name__ == "__main__":
    main(sys.argv[1:])

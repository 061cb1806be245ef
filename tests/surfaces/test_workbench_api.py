"""The workbench's REST API (``scidex_replay/surfaces/server``) through real HTTP: a real
``jupyter server`` subprocess with a token, over a registry holding a recorded chain
data.csv → clean → slow (waits for a gate file) → report, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _jupyter import Recorder, jupyter

CLEAN = 'import sys\nrows = open(sys.argv[1]).read().splitlines()\nopen(sys.argv[2], "w").write("\\n".join(r for r in rows if r) + "\\n")\n'
#: copies its input once the gate file (argv[3]) exists: a step that runs until the test lets it end
SLOW = (
    "import os, shutil, sys, time\n"
    "while not os.path.exists(sys.argv[3]):\n    time.sleep(0.05)\n"
    "shutil.copyfile(sys.argv[1], sys.argv[2])\n"
)
REPORT = "import hashlib, sys\nopen(sys.argv[2], 'w').write(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest() + '\\n')\n"
API = "scidex-replay/api"
WAIT_S = 60


@dataclass(frozen=True)
class Workbench:
    url: str
    token: str
    gate: Path
    raw: str
    clean: str
    slow: str
    report: str
    log: Path
    env: dict[str, str]

    def request(self, method: str, path: str, body: Any = None, *, token: bool = True, headers: dict | None = None,
                data: bytes | None = None) -> tuple[int, Any, dict]:
        """(status, JSON answer, headers) of ``method`` on ``API/path``."""
        if body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/{API}/{path}", data=data, method=method, headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null"), dict(r.headers)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            return e.code, answer, dict(e.headers)

    def get(self, path: str) -> Any:
        status, answer, _ = self.request("GET", path)
        assert status == 200, (path, status, answer)
        return answer

    def rerun(self, artifact_id: str, options: dict | None = None) -> str:
        status, answer, headers = self.request("POST", f"artifacts/{artifact_id}/rerun", options or {})
        assert status == 202, answer
        assert headers["Location"].endswith(f"/{API}/jobs/{answer['job_id']}")
        return answer["job_id"]

    def wait_job(self, job_id: str, until: Any, what: str) -> dict:
        deadline = time.monotonic() + WAIT_S
        while True:
            job = self.get(f"jobs/{job_id}")
            if until(job):
                return job
            assert time.monotonic() < deadline, f"job {job_id} never {what}: {job}\n{self.log.read_text()[-3000:]}"
            time.sleep(0.1)

    def finished(self, job_id: str) -> dict:
        return self.wait_job(job_id, lambda j: j["status"] in ("done", "failed", "cancelled"), "finished")

    def waiting_at_gate(self, job_id: str) -> dict:
        return self.wait_job(
            job_id, lambda j: j["status"] == "running" and j["progress"]["current"] is not None
            and self.step_of("slow") == j["progress"]["current"], "reached the slow step",
        )

    def step_of(self, name: str) -> str:
        steps = {s["step_name"]: s["step_id"] for s in self.get(f"artifacts/{self.report}/chain")["steps"]}
        return steps[name]


@pytest.fixture(scope="module")
def workbench(databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    base = tmp_path_factory.mktemp("workbench")
    work, home, root, user = base / "work", base / "home", base / "root", base / "user"
    for d in (work, home, root, user):
        d.mkdir()
    db = databases.new(home)
    gate = base / "gate"
    gate.touch()
    env = {
        **os.environ, "SCIDEX_REPLAY_HOME": str(home), "SCIDEX_REPLAY_DB": db,
        "JUPYTER_CONFIG_DIR": str(user / "config"), "JUPYTER_RUNTIME_DIR": str(user / "runtime"),
    }
    for name, text in {"data.csv": "x,y\n1,2\n\n3,4\n", "clean.py": CLEAN, "slow.py": SLOW, "report.py": REPORT}.items():
        (work / name).write_text(text)
    rec = Recorder(work, env)
    raw = rec.cli("add", "data.csv")
    clean = rec.cli("run", "--step", "clean", "-i", "clean.py", "-i", raw, "-o", "clean.csv", "--", sys.executable, "{in0}", "{in1}", "{out}")
    slow = rec.cli("run", "--step", "slow", "-i", "slow.py", "-i", clean, "-o", "slow.csv", "--", sys.executable, "{in0}", "{in1}", "{out}", str(gate))
    report = rec.cli("run", "--step", "report", "-i", "report.py", "-i", slow, "-o", "report.txt", "--", sys.executable, "{in0}", "{in1}", "{out}")
    token = secrets.token_hex(16)
    log = base / "server.log"
    args = ["--WorkbenchApp.max_jobs=2", "--WorkbenchApp.cancel_grace_s=5"]
    try:
        with jupyter("jupyter_server", root=root, env=env, log=log, token=token, args=args) as server:
            yield Workbench(server.url, token, gate, raw, clean, slow, report, log, env)
    finally:
        databases.drop(db)


def one_line_error(answer: Any, *words: str) -> str:
    assert isinstance(answer, dict) and set(answer) == {"message"}, answer
    message = answer["message"]
    assert message and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


def test_no_token_is_refused(workbench: Workbench) -> None:
    jobs = workbench.get("jobs")["jobs"]
    for method, path, body in (("GET", "artifacts", None), ("GET", "jobs", None), ("POST", f"artifacts/{workbench.report}/rerun", {})):
        status, _, _ = workbench.request(method, path, body, token=False)
        assert status in (401, 403), (method, path, status)
    assert workbench.get("jobs")["jobs"] == jobs  # the refused POST started nothing


def test_cookie_session_post_without_xsrf_is_refused(workbench: Workbench) -> None:
    """A browser's cookie session may read, but not POST without the XSRF token (jupyter_server's check)."""
    jobs = workbench.get("jobs")["jobs"]
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{workbench.url}/login?next=/api/status&token={workbench.token}", timeout=30).read()  # sets the login cookie
    assert any(c.name.startswith("username-") for c in jar), [c.name for c in jar]
    with opener.open(f"{workbench.url}/{API}/artifacts", timeout=30) as r:
        assert r.status == 200
    post = urllib.request.Request(f"{workbench.url}/{API}/artifacts/{workbench.report}/rerun", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(post, timeout=30)
    assert refused.value.code == 403
    assert workbench.get("jobs")["jobs"] == jobs


def test_search_and_pagination(workbench: Workbench) -> None:
    page = workbench.get("artifacts?limit=2")
    assert (page["total"], page["limit"], page["offset"]) == (7, 2, 0)  # data.csv, 3 scripts, 3 outputs
    everything = workbench.get("artifacts?limit=500")["artifacts"]
    assert len(everything) == page["total"]
    assert [a["id"] for a in everything[:2]] == [a["id"] for a in page["artifacts"]]
    assert [a["created_at"] for a in everything] == sorted((a["created_at"] for a in everything), reverse=True)
    second = workbench.get("artifacts?limit=2&offset=2")
    assert [a["id"] for a in second["artifacts"]] == [a["id"] for a in everything[2:4]]
    by_name = workbench.get("artifacts?q=CLEAN")  # a substring of the name, any case
    assert {a["name"] for a in by_name["artifacts"]} == {"clean.csv", "clean.py"}
    report = workbench.get(f"artifacts?q={workbench.report[:6]}")  # an id prefix
    assert workbench.report in [a["id"] for a in report["artifacts"]]
    [found] = [a for a in report["artifacts"] if a["id"] == workbench.report]
    assert found["produced_by"]["step_name"] == "report" and found["produced_by"]["step_type"] == "shell"
    assert set(found) == {"id", "name", "kind", "size", "content_hash", "created_at", "produced_by", "last_run"}
    [raw] = [a for a in everything if a["id"] == workbench.raw]
    assert raw["produced_by"] is None and raw["size"] == len("x,y\n1,2\n\n3,4\n")
    kinds = {a["kind"] for a in everything}
    for kind in kinds:
        assert {a["id"] for a in workbench.get(f"artifacts?kind={kind}&limit=500")["artifacts"]} == {
            a["id"] for a in everything if a["kind"] == kind
        }
    assert workbench.get("artifacts?q=no-such-thing") == {"artifacts": [], "total": 0, "limit": 50, "offset": 0}
    assert workbench.get("artifacts?q=%25")["total"] == 0  # % is a character, not a wildcard


def test_artifact_detail_chain_and_graph(workbench: Workbench) -> None:
    detail = workbench.get(f"artifacts/{workbench.slow}")
    assert detail["id"] == workbench.slow and detail["name"] == "slow.csv" and "metadata" in detail
    chain = workbench.get(f"artifacts/{workbench.report}/chain")
    assert [s["step_name"] for s in chain["steps"]] == ["clean", "slow", "report"]
    clean, slow, report = chain["steps"]
    assert workbench.raw in clean["inputs"] and clean["outputs"] == [workbench.clean]
    assert workbench.clean in slow["inputs"] and report["outputs"] == [workbench.report]
    assert set(clean) == {"step_id", "step_name", "step_type", "method", "parameters", "inputs", "outputs", "env_hash"}
    graph = chain["graph"]
    assert graph["schema"] == "scidex-replay/graph/v1" and graph["target"] == workbench.report
    steps = [n for n in graph["nodes"] if n["type"] == "step"]
    assert [n["step_id"] for n in steps] == [s["step_id"] for s in chain["steps"]]
    assert {"source": f"artifact:{workbench.clean}", "target": f"step:{slow['step_id']}"} in graph["edges"]
    assert chain["artifact"]["id"] == workbench.report
    source = workbench.get(f"artifacts/{workbench.raw}/chain")
    assert source["steps"] == [] and [n["id"] for n in source["graph"]["nodes"]] == [f"artifact:{workbench.raw}"]
    assert source["graph"]["run"] is None


def test_unknown_ids_are_404_in_one_line(workbench: Workbench) -> None:
    jobs = workbench.get("jobs")["jobs"]
    for method, path, body in (
        ("GET", "artifacts/a_nosuchthing", None),
        ("GET", "artifacts/a_nosuchthing/chain", None),
        ("POST", "artifacts/a_nosuchthing/plan", {}),
        ("POST", "artifacts/a_nosuchthing/rerun", {}),
        ("GET", "runs?artifact=a_nosuchthing", None),
        ("GET", "runs/r_nosuchthing", None),
        ("GET", "jobs/j_nosuchthing", None),
        ("DELETE", "jobs/j_nosuchthing", None),
    ):
        status, answer, _ = workbench.request(method, path, body)
        assert status == 404, (method, path, status, answer)
        one_line_error(answer, "nosuchthing")
    assert workbench.get("jobs")["jobs"] == jobs


@pytest.mark.parametrize(
    "body, words",
    [
        ({"nope": 1}, ["unknown replay option", "nope"]),
        ({"executor": "gpu"}, ["executor", "gpu"]),
        ({"reuse": "sometimes"}, ["reuse", "sometimes"]),
        ({"timeout": -3}, ["timeout"]),
        ({"memory_limit": "lots"}, ["memory-limit"]),
        ({"strict": "yes"}, ["strict"]),
        ({"set": ["clean.x=1"]}, ["set"]),
        ({"set": {"clean": 1}}, ["--set", "STEP.KEY=VALUE"]),
        (["from", "clean"], ["JSON object"]),
    ],
)
def test_bad_options_are_400_in_one_line_before_any_job(workbench: Workbench, body: Any, words: list[str]) -> None:
    jobs = workbench.get("jobs")["jobs"]
    for endpoint in ("rerun", "plan"):
        status, answer, _ = workbench.request("POST", f"artifacts/{workbench.report}/{endpoint}", body)
        assert status == 400, (endpoint, status, answer)
        one_line_error(answer, *words)
    assert workbench.get("jobs")["jobs"] == jobs


def test_bad_search_arguments_and_body_are_400(workbench: Workbench) -> None:
    jobs = workbench.get("jobs")["jobs"]
    for query in ("limit=0", "limit=501", "limit=ten", "offset=-1"):
        status, answer, _ = workbench.request("GET", f"artifacts?{query}")
        assert status == 400, (query, answer)
        one_line_error(answer, query.split("=")[0])
    status, answer, _ = workbench.request("POST", f"artifacts/{workbench.report}/rerun", data=b"{not json")
    assert status == 400
    one_line_error(answer, "not JSON")
    assert workbench.get("jobs")["jobs"] == jobs


def test_plan_is_a_dry_run(workbench: Workbench) -> None:
    runs_before = workbench.get(f"runs?artifact={workbench.report}")["runs"]
    status, answer, _ = workbench.request("POST", f"artifacts/{workbench.report}/plan", {"from": "slow"})
    assert status == 200, answer
    assert [(s["step_name"], s["action"]) for s in answer["steps"]] == [("clean", "frozen"), ("slow", "execute"), ("report", "execute")]
    assert answer["steps"][0]["reason"] and answer["steps"][1]["reason"] is None
    status, answer, _ = workbench.request("POST", f"artifacts/{workbench.report}/plan", {"from": "nosuchstep"})
    assert status in (400, 404)
    one_line_error(answer, "nosuchstep")
    assert workbench.get(f"runs?artifact={workbench.report}")["runs"] == runs_before


@pytest.fixture
def gate_closed(workbench: Workbench) -> Iterator[Path]:
    """The slow step waits until the test opens the gate (``gate.touch()``); opened again afterwards."""
    workbench.gate.unlink()
    try:
        yield workbench.gate
    finally:
        workbench.gate.touch()
        for job in workbench.get("jobs")["jobs"]:  # leave no job running for the next test
            workbench.finished(job["job_id"])


def leftover_steps(gate: Path) -> list[int]:
    """The pids of slow.py processes still waiting for ``gate``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if str(gate) in (proc.info["cmdline"] or []):
            found.append(proc.info["pid"])
    return found


def test_a_job_runs_in_the_background_with_progress_then_done_with_its_manifest(workbench: Workbench, gate_closed: Path) -> None:
    job_id = workbench.rerun(workbench.report, {"executor": "subprocess"})
    job = workbench.waiting_at_gate(job_id)
    assert job["run_id"] and job["artifact_id"] == workbench.report and job["options"] == {"executor": "subprocess"}
    progress = job["progress"]
    assert (progress["done"], progress["total"]) == (1, 3)
    assert progress["steps"] == [{"step_id": workbench.step_of("clean"), "position": 0, "outcome": "reproduced"}]
    assert job["manifest"] is None and job["finished_at"] is None and job["error"] is None
    assert workbench.get(f"runs/{job['run_id']}")["status"] == "running"
    assert job_id in [j["job_id"] for j in workbench.get("jobs")["jobs"]]
    gate_closed.touch()
    job = workbench.finished(job_id)
    assert job["status"] == "done", job
    assert job["progress"]["done"] == 3 and job["progress"]["current"] is None and job["finished_at"]
    manifest = job["manifest"]
    assert manifest["run_id"] == job["run_id"] and manifest["target_artifact_id"] == workbench.report
    assert [s["outcome"] for s in manifest["steps"]] == ["reproduced"] * 3
    runs = workbench.get(f"runs?artifact={workbench.report}")["runs"]
    [run] = [r for r in runs if r["run_id"] == job["run_id"]]
    assert run["status"] == "reproduced" and run["kind"] == "replay" and run["summary"] == {"reproduced": 3}
    assert [r["started_at"] for r in runs] == sorted(r["started_at"] for r in runs)
    detail = workbench.get(f"runs/{job['run_id']}")
    assert detail["manifest"] == manifest and detail["graph"]["run"]["run_id"] == job["run_id"]
    assert {n["outcome"] for n in detail["graph"]["nodes"] if n["type"] == "step"} == {"reproduced"}
    newest = workbench.get(f"artifacts/{workbench.report}")["last_run"]
    assert newest["run_id"] == job["run_id"] and newest["status"] == "reproduced"
    assert workbench.get(f"artifacts/{workbench.report}/chain")["graph"]["run"]["run_id"] == job["run_id"]


def test_cancel_interrupts_the_run_which_a_restart_completes(workbench: Workbench, gate_closed: Path) -> None:
    job_id = workbench.rerun(workbench.report)
    job = workbench.waiting_at_gate(job_id)
    run_id = job["run_id"]
    assert leftover_steps(gate_closed), "the slow step is not running"
    status, answer, _ = workbench.request("DELETE", f"jobs/{job_id}")
    assert status == 202 and answer["job_id"] == job_id
    job = workbench.finished(job_id)
    assert job["status"] == "cancelled", job
    assert job["manifest"]["run_id"] == run_id and job["manifest"]["status"] == "interrupted"
    run = workbench.get(f"runs/{run_id}")
    assert run["status"] == "interrupted" and run["completed_at"]
    assert [s["outcome"] for s in run["manifest"]["steps"]][:1] == ["reproduced"]
    assert leftover_steps(gate_closed) == []  # the step's process went with it
    status, again, _ = workbench.request("DELETE", f"jobs/{job_id}")  # cancelling a finished job changes nothing
    assert status == 202 and again["status"] == "cancelled"
    gate_closed.touch()
    restart = workbench.finished(workbench.rerun(workbench.report, {"restart": run_id}))
    assert restart["status"] == "done", restart
    steps = {s["step_id"]: s for s in restart["manifest"]["steps"]}
    assert steps[workbench.step_of("clean")]["reused_from_run"] == run_id
    assert steps[workbench.step_of("slow")]["reused_from_run"] is None
    assert restart["manifest"]["status"] == "reproduced"
    run = workbench.get(f"runs/{restart['run_id']}")
    assert run["kind"] == "restart" and run["parent_run_id"] == run_id
    graph = run["graph"]
    [clean] = [n for n in graph["nodes"] if n.get("step_id") == workbench.step_of("clean")]
    assert clean["reused_from_run"] == run_id


def test_two_jobs_run_at_once_and_a_third_waits_for_the_limit(workbench: Workbench, gate_closed: Path) -> None:
    first, second, third = (workbench.rerun(workbench.report) for _ in range(3))
    for job_id in (first, second):
        workbench.waiting_at_gate(job_id)  # both at the slow step at the same time
    time.sleep(1)
    queued = workbench.get(f"jobs/{third}")
    assert queued["status"] == "queued" and queued["run_id"] is None and queued["progress"]["done"] == 0
    assert [j["job_id"] for j in workbench.get("jobs")["jobs"]][:3] == [third, second, first]  # newest first
    gate_closed.touch()
    jobs = [workbench.finished(job_id) for job_id in (first, second, third)]
    assert [j["status"] for j in jobs] == ["done"] * 3
    assert len({j["run_id"] for j in jobs}) == 3
    runs = {r["run_id"]: r for r in workbench.get(f"runs?artifact={workbench.report}")["runs"]}
    assert all(runs[j["run_id"]]["status"] == "reproduced" for j in jobs)
    assert runs[jobs[2]["run_id"]]["started_at"] > max(jobs[0]["created_at"], jobs[1]["created_at"])


def test_a_queued_job_cancelled_never_runs(workbench: Workbench, gate_closed: Path) -> None:
    first, second, third = (workbench.rerun(workbench.report) for _ in range(3))
    workbench.waiting_at_gate(second)
    status, answer, _ = workbench.request("DELETE", f"jobs/{third}")
    assert status == 202 and answer["status"] == "cancelled" and answer["run_id"] is None
    gate_closed.touch()
    assert [workbench.finished(j)["status"] for j in (first, second, third)] == ["done", "done", "cancelled"]
    assert workbench.get(f"jobs/{third}")["run_id"] is None


def test_a_replay_that_cannot_start_fails_in_one_line(workbench: Workbench) -> None:
    job = workbench.finished(workbench.rerun(workbench.report, {"from": "nosuchstep"}))
    assert job["status"] == "failed" and job["run_id"] is None and job["manifest"] is None
    assert "nosuchstep" in job["error"] and "\n" not in job["error"]
    job = workbench.finished(workbench.rerun(workbench.raw))  # a source artifact: nothing to replay
    assert job["status"] == "failed" and "source artifact" in job["error"]


@contextmanager
def another_server(workbench: Workbench, tmp_path: Path, db: str | None = None) -> Iterator[tuple[Workbench, Any]]:
    """A second server over the same registry (or ``db``), which it is told of by its config (not the environment)."""
    env = {k: v for k, v in workbench.env.items() if k not in ("SCIDEX_REPLAY_DB", "SCIDEX_REPLAY_HOME")}
    args = [f"--WorkbenchApp.db={db or workbench.env['SCIDEX_REPLAY_DB']}", f"--WorkbenchApp.home={workbench.env['SCIDEX_REPLAY_HOME']}"]
    (tmp_path / "root").mkdir()
    token, log = secrets.token_hex(16), tmp_path / "server.log"
    with jupyter("jupyter_server", root=tmp_path / "root", env=env, log=log, token=token, args=args) as server:
        yield dataclasses.replace(workbench, url=server.url, token=token, log=log), server


def test_stopping_the_server_interrupts_its_jobs_runs(workbench: Workbench, gate_closed: Path, tmp_path: Path) -> None:
    with another_server(workbench, tmp_path) as (other, _):
        assert other.get(f"artifacts/{workbench.report}")["id"] == workbench.report
        run_id = other.waiting_at_gate(other.rerun(workbench.report))["run_id"]
    # the server stopped (SIGTERM, as Ctrl-C) with the job at its slow step: the run ended interrupted
    run = workbench.get(f"runs/{run_id}")
    assert run["status"] == "interrupted"
    assert run["manifest"]["completed_at"] is not None  # written by the replay as it ended, not read off a dead process
    assert leftover_steps(gate_closed) == []


def test_a_job_outlives_a_server_that_was_killed(workbench: Workbench, gate_closed: Path, tmp_path: Path) -> None:
    with another_server(workbench, tmp_path) as (other, server):
        run_id = other.waiting_at_gate(other.rerun(workbench.report))["run_id"]
        server.process.kill()
        server.process.wait()
    assert workbench.get(f"runs/{run_id}")["status"] == "running"  # its process still runs the replay
    gate_closed.touch()
    deadline = time.monotonic() + WAIT_S
    while (run := workbench.get(f"runs/{run_id}"))["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
    assert run["status"] == "reproduced" and run["manifest"]["completed_at"]


def test_the_extension_is_enabled_on_install() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"], capture_output=True, text=True, timeout=120,
    )
    text = done.stdout + done.stderr
    assert re.search(r"scidex_replay\s.*enabled", text), text
    assert re.search(r"scidex_replay \S+ .*OK", text), text


def test_a_job_process_killed_outright_is_a_failed_job_and_an_interrupted_run(workbench: Workbench, gate_closed: Path) -> None:
    import psutil

    job_id = workbench.rerun(workbench.report)
    run_id = workbench.waiting_at_gate(job_id)["run_id"]
    [step] = leftover_steps(gate_closed)
    job_process = psutil.Process(step).parent()  # the kernel executor runs the step from the job's own process
    assert "scidex_replay.surfaces.server.job" in job_process.cmdline()
    job_process.kill()
    job = workbench.finished(job_id)
    assert job["status"] == "failed" and "exit status -9" in job["error"] and "\n" not in job["error"]
    assert workbench.get(f"runs/{run_id}")["status"] == "interrupted"  # liveness: its process is gone


@pytest.mark.sqlite_only(reason="about a registry that cannot be reached, whatever the backend under test")
def test_a_registry_that_cannot_be_opened_is_503_in_one_line(workbench: Workbench, tmp_path: Path) -> None:
    from _jupyter import free_port

    with another_server(workbench, tmp_path, db=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none") as (other, _):
        for method, path in (("GET", "artifacts"), ("GET", f"artifacts/{workbench.report}/chain"), ("POST", f"artifacts/{workbench.report}/rerun")):
            status, answer, _ = other.request(method, path, {} if method == "POST" else None)
            assert status == 503, (path, status, answer)
            one_line_error(answer)
        assert other.get("jobs") == {"jobs": []}

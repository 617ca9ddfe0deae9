"""Deploy to a real Scrapyd on loopback with scrapyd-client, schedule, cancel and resume."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from fakehub import HubServer, make_hub
from tests.helpers import PROJECT_ROOT, as_keys, without_seen_at

pytestmark = pytest.mark.e2e

USER, PAT = "hubspider-ci", "dckr_pat_Scrapyd7vN3xY7kLm2Pw9Rt5B"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Scrapyd:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{free_port()}/"
        port = urllib.parse.urlsplit(self.url).port
        (home / "scrapyd.conf").write_text(
            "[scrapyd]\n"
            f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
            f"eggs_dir = {home / 'eggs'}\nlogs_dir = {home / 'logs'}\nitems_dir = {home / 'items'}\n"
            f"jobs_dir = {home / 'jobs'}\ndbs_dir = {home / 'dbs'}\n"
            "poll_interval = 0.2\nmax_proc = 2\n"
        )
        self.output = (home / "scrapyd.out").open("w")
        self.process = subprocess.Popen(
            [str(BIN / "scrapyd")], cwd=home, env=env, stdout=self.output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("daemonstatus.json")
                break
            except OSError:
                assert self.process.poll() is None, (home / "scrapyd.out").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.1)

    def get(self, endpoint: str, **query: str) -> dict:
        url = self.url + endpoint + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def post(self, endpoint: str, fields: list[tuple[str, str]]) -> dict:
        data = urllib.parse.urlencode(fields).encode()
        with urllib.request.urlopen(self.url + endpoint, data=data, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "ok", answer
        return answer

    def schedule(self, job: str, **settings: str) -> None:
        fields = [("project", "hubspider"), ("spider", "library"), ("jobid", job)]
        fields += [("setting", f"{name}={value}") for name, value in settings.items()]
        self.post("schedule.json", fields)

    def state(self, job: str) -> str:
        jobs = self.get("listjobs.json", project="hubspider")
        for state in ("pending", "running", "finished"):
            if any(entry["id"] == job for entry in jobs[state]):
                return state
        return "unknown"

    def wait_finished(self, job: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.state(job) != "finished":
            assert time.monotonic() < deadline, self.log(job)
            time.sleep(0.2)

    def items(self, job: str) -> list[dict]:
        path = self.home / "items" / "hubspider" / "library" / f"{job}.jl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def log(self, job: str) -> str:
        path = self.home / "logs" / "hubspider" / "library" / f"{job}.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.output.close()


@pytest.fixture(scope="module")
def hub():
    return make_hub(12, 5_000)


@pytest.fixture(scope="module")
def hub_server(hub):
    with HubServer(hub, latency=0.03, users={USER: PAT}) as server:
        yield server


@pytest.fixture(scope="module")
def scrapyd(tmp_path_factory):
    env = os.environ | {"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT}
    server = Scrapyd(tmp_path_factory.mktemp("scrapyd"), env)
    deploy = subprocess.run(
        [str(BIN / "scrapyd-deploy"), "remote"],
        cwd=PROJECT_ROOT,
        env=os.environ | {"SCRAPYD_URL": server.url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deploy.returncode == 0, deploy.stderr
    yield server
    server.stop()


def test_deployed_egg_lists_the_spider(scrapyd):
    spiders = scrapyd.get("listspiders.json", project="hubspider")["spiders"]
    assert spiders == ["layers", "library", "reference", "registry"]


def test_scheduled_job_exports_the_ground_truth(scrapyd, hub, hub_server):
    scrapyd.schedule("full-1", HUB_API_URL=hub_server.url)
    scrapyd.wait_finished("full-1")
    log = scrapyd.log("full-1")
    assert "Signed in" in log
    assert as_keys(without_seen_at(scrapyd.items("full-1"))) == as_keys(hub.expected_records("library")), log[
        -3000:
    ]


def test_cancelled_job_resumes_under_the_same_id(scrapyd, hub, hub_server):
    # Slow enough to be cancelled in the middle: the journal counts a page done only once the
    # store has committed it, which it does once a second.
    scrapyd.schedule("resume-1", HUB_API_URL=hub_server.url, CONCURRENT_REQUESTS="1", DOWNLOAD_DELAY="0.1")
    journal = scrapyd.home / "jobs" / "hubspider" / "library" / "resume-1" / "hubspider-journal.jsonl"
    deadline = time.monotonic() + 60
    while not journal.exists() or journal.read_text().count('"done"') < 10:
        assert time.monotonic() < deadline, scrapyd.log("resume-1")
        time.sleep(0.05)
    scrapyd.post("cancel.json", [("project", "hubspider"), ("job", "resume-1")])
    scrapyd.wait_finished("resume-1")
    log = scrapyd.log("resume-1")
    assert "The crawl did not finish (shutdown)" in log, log[-3000:]
    assert len(scrapyd.items("resume-1")) < len(hub.expected_records("library"))

    scrapyd.schedule("resume-1", HUB_API_URL=hub_server.url)
    time.sleep(0.5)
    scrapyd.wait_finished("resume-1")
    assert "Resuming:" in scrapyd.log("resume-1")
    records = scrapyd.items("resume-1")
    assert as_keys(without_seen_at(records)) == as_keys(hub.expected_records("library"))


def test_no_secret_reaches_scrapyd_files(scrapyd, hub_server):
    scrapyd.schedule("secret-1", HUB_API_URL=hub_server.url)
    scrapyd.wait_finished("secret-1")
    secrets = [PAT, *hub_server.tokens.issued]
    files = [path for path in scrapyd.home.rglob("*") if path.is_file() and path.suffix != ".egg"]
    assert any(path.suffix == ".log" for path in files)
    for path in files:
        text = path.read_text(errors="replace")
        assert not any(secret in text for secret in secrets), path

"""What the tests share: stored Hub responses, a spider on a test crawler, and `scrapy crawl` and the
project's commands run for real in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from hubspider import settings as project_settings
from hubspider.records import image_reference
from hubspider.spiders.library import LibrarySpider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from fakehub import FakeRegistry

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESPONSES = Path(__file__).resolve().parent / "responses"
API = "https://hub.docker.com"


def load_response(name: str) -> Any:
    return json.loads((RESPONSES / name).read_text())


def stored_response(name: str, url: str, status: int = 200, **request_kwargs: Any) -> TextResponse:
    """A response to `url` whose body is the stored file `name`."""
    return TextResponse(
        url,
        status=status,
        body=(RESPONSES / name).read_bytes(),
        headers={"Content-Type": "application/json"},
        request=Request(url, **request_kwargs),
    )


# `python -c FULL_DISK SIZE ARGS...` runs `scrapy ARGS...` on a disk that fills: a write past
# SIZE bytes of a file fails with EFBIG (SIGXFSZ ignored), as one to a full disk fails.
FULL_DISK = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
size = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
runpy.run_module("scrapy", run_name="__main__", alter_sys=True)
"""

PROJECT_SETTINGS = {name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()}


def make_spider(**arguments: str) -> tuple[LibrarySpider, Crawler]:
    crawler = get_crawler(LibrarySpider, PROJECT_SETTINGS | {"HUB_API_URL": API})
    spider = LibrarySpider.from_crawler(crawler, **arguments)
    crawler.spider = spider
    crawler.stats.open_spider()
    return spider, crawler


def without_seen_at(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in record.items() if key != "seen_at"} for record in records]


def as_keys(records: list[dict[str, Any]]) -> list[str]:
    """Records as sorted canonical strings, so that lists compare as multisets."""
    return sorted(json.dumps(record, sort_keys=True) for record in records)


@dataclass
class CrawlResult:
    returncode: int
    stderr: str
    output: Path

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output.read_text().splitlines()]

    def csv_rows(self) -> list[dict[str, str]]:
        with self.output.open(newline="") as file:
            return list(csv.DictReader(file))


def project_environment() -> dict[str, str]:
    """This environment, with the project importable and its settings chosen, wherever a test runs."""
    return os.environ | {"PYTHONPATH": str(PROJECT_ROOT), "SCRAPY_SETTINGS_MODULE": "hubspider.settings"}


def crawl_process(
    api_url: str,
    workdir: Path,
    *arguments: str,
    output: str | None = "digests.jsonl",
    append: bool = False,
    env: dict[str, str] | None = None,
    max_file_size: int | None = None,
    spider: str = "library",
) -> subprocess.Popen[str]:
    """`scrapy crawl <spider>` started in a subprocess, in `workdir`, against `api_url`."""
    command = [sys.executable, "-m", "scrapy", "crawl", spider, "-s", f"HUB_API_URL={api_url}"]
    if max_file_size is not None:
        command[1:3] = ["-c", FULL_DISK, str(max_file_size)]
    if output is not None:
        command += ["-o" if append else "-O", output]
    environment = project_environment()
    environment.pop("DOCKERHUB_USERNAME", None)
    environment.pop("DOCKERHUB_TOKEN", None)
    return subprocess.Popen(
        [*command, *arguments],
        cwd=workdir,
        env=environment | (env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_crawl(
    api_url: str,
    workdir: Path,
    *arguments: str,
    output: str | None = "digests.jsonl",
    append: bool = False,
    env: dict[str, str] | None = None,
    max_file_size: int | None = None,
    timeout: float = 240,
    spider: str = "library",
) -> CrawlResult:
    """`scrapy crawl <spider>` run to the end in a subprocess, or killed and failed after `timeout`."""
    process = crawl_process(
        api_url,
        workdir,
        *arguments,
        output=output,
        append=append,
        env=env,
        max_file_size=max_file_size,
        spider=spider,
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"the crawl with {arguments} was still running after {timeout} s")
    return CrawlResult(process.returncode, stderr, workdir / (output or "none"))


def run_layers(
    api_url: str,
    registry: FakeRegistry,
    workdir: Path,
    *arguments: str,
    output: str | None = "layers.jsonl",
    **kwargs: Any,
) -> CrawlResult:
    """`scrapy crawl layers` against the emulator's API and `registry`, with its token service."""
    return run_crawl(
        api_url,
        workdir,
        "-s",
        f"HUB_REGISTRY_URL={registry.url}",
        "-s",
        f"HUB_REGISTRY_AUTH_URL={registry.auth_url}",
        *arguments,
        output=output,
        spider="layers",
        **kwargs,
    )


def stat(result: CrawlResult, name: str) -> int:
    """A number from the stats Scrapy dumps at the end of the crawl's log."""
    match = re.search(rf"'{re.escape(name)}': (\d+)", result.stderr)
    return int(match.group(1)) if match else 0


def run_command(workdir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """A `scrapy` project command (lookup, history, changes, import) run in `workdir`."""
    environment = project_environment()
    return subprocess.run(
        [sys.executable, "-m", "scrapy", *arguments],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def records_of(store: Path) -> list[dict[str, Any]]:
    """The store's records, shaped as exported ones without `seen_at`."""
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    columns = "digest, namespace, repository, tag, platform, kind, os, architecture, variant, os_version, "
    columns += "tag_digest, media_type, size, last_pushed"
    rows = [dict(row) for row in db.execute(f"SELECT {columns} FROM records")]
    db.close()
    for row in rows:
        row["platform"] = row["platform"] or None
        row["image"] = image_reference(row["namespace"], row["repository"], row["tag"])
    return rows

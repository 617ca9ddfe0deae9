"""The `registry` spider against an OCI distribution registry of MCR's size, checked exactly.

Serves `make_distribution(--repositories, --tags)` with `DistributionRegistry` in this process
(`--latency` on every answer stands for a distant host; `--catalog-all-at-once` answers the
catalog in one page, as MCR does), runs `scrapy crawl registry -a registry=127.0.0.1:PORT` into
a store in a temporary directory, and prints: wall and CPU time, requests by kind as the
emulator counted them against the minimum a crawl needs (catalog pages, tags pages, one HEAD a
tag, one GET a distinct digest, one config a distinct single-platform manifest's config),
requests/s, tags/s, records exported, the crawl's peak RSS and the store's size. Exits 1 if
the export is not exactly the emulator's truth or the requests are not the minimum.

MCR lists about 2,000 repositories of about 50 tags on average: the defaults.

    .venv/bin/python -m benchmarks.registry --repositories 2000 --tags 100000
    .venv/bin/python -m benchmarks.registry --repositories 2000 --tags 100000 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.bench import exported
from fakehub import DistributionRegistry, make_distribution
from hubspider import settings as project_settings

if TYPE_CHECKING:
    from fakehub.distribution import Distribution

ROOT = Path(__file__).resolve().parent.parent
# Runs one command and reports its rusage. Started before the emulator is built: on Linux a
# process's peak RSS carries over the peak of the process it was forked from (exec keeps the
# larger), so a crawl started from this process, grown to hold 100,000 tags, would show ours.
LAUNCHER = """
import json, os, subprocess, sys, time
job = json.loads(sys.stdin.readline())
with open(job["log"], "wb") as log:
    started = time.monotonic()
    process = subprocess.Popen(
        job["command"], cwd=job["cwd"], env=job["env"], stdout=subprocess.DEVNULL, stderr=log
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
cpu = usage.ru_utime + usage.ru_stime
result = {"status": os.waitstatus_to_exitcode(status), "wall": wall, "maxrss_kb": usage.ru_maxrss, "cpu": cpu}
print(json.dumps(result), flush=True)
"""
# The registry's request kinds a complete crawl needs, in the order printed.
KINDS = ("catalog_page", "tags_page", "manifest_head", "index_get", "manifest_get", "blob_get")


@dataclass
class Crawl:
    status: int
    wall: float
    cpu: float
    peak_rss_mb: float
    log: str


class Launcher:
    """A small process that starts the crawl, so that the crawl's peak RSS is its own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, command: list[str], cwd: Path, env: dict[str, str]) -> Crawl:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        log = cwd / "crawl.log"
        job = {"command": command, "cwd": str(cwd), "env": env, "log": str(log)}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        self.process.wait()
        text = log.read_text(errors="replace")
        return Crawl(result["status"], result["wall"], result["cpu"], result["maxrss_kb"] / 1024, text)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def truth(distribution: Distribution, host: str) -> list[str]:
    """The emulator's records for a crawl of it at `host`, as `exported` shapes them."""
    return sorted(json.dumps(record, sort_keys=True) for record in distribution.expected_records(host))


def identities(records: list[str]) -> set[tuple[str, str, str, str | None]]:
    """(repository, tag, digest, platform): what a record says, whatever its other fields."""
    parsed = (json.loads(record) for record in records)
    return {(r["repository"], r["tag"], r["digest"], r["platform"]) for r in parsed}


def stat(log: str, name: str) -> float:
    """A number from the stats Scrapy dumps at the end of the crawl's log (0 if absent)."""
    match = re.search(rf"'{re.escape(name)}': ([0-9.]+)", log)
    return float(match.group(1)) if match else 0.0


def store_size(workdir: Path) -> int:
    """The store's bytes on disk, its WAL and shared memory included if any are left."""
    return sum(path.stat().st_size for path in workdir.glob("store.sqlite3*"))


def crawl_command(args: argparse.Namespace, host: str, workdir: Path) -> list[str]:
    command = [
        sys.executable, "-m", "scrapy", "crawl", "registry", "-a", f"registry={host}",
        "-O", str(workdir / "out.jsonl"),
        "-s", f"HUB_STORE_PATH={workdir / 'store.sqlite3'}",
        "-s", f"HUB_REGISTRY_PAGE_SIZE={args.page_size}",
        # The stats' dump (INFO) carries the store writer's peak RSS; no progress lines between.
        "-s", "LOG_LEVEL=INFO", "-s", "HUB_PROGRESS_INTERVAL=0",
    ]  # fmt: skip
    if args.concurrency is not None:
        command += ["-s", f"CONCURRENT_REQUESTS={args.concurrency}"]
        command += ["-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={args.concurrency}"]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repositories", type=int, default=2000)
    parser.add_argument("--tags", type=int, default=100_000, help="tags over all repositories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every answer waits")
    parser.add_argument("--page-size", type=int, default=project_settings.HUB_REGISTRY_PAGE_SIZE)
    parser.add_argument("--concurrency", type=int, help="requests in flight (default: the project's)")
    parser.add_argument("--catalog-all-at-once", action="store_true", help="one catalog page, as MCR")
    args = parser.parse_args(argv)

    launcher = Launcher()  # first, while this process is small
    try:
        started = time.perf_counter()
        distribution = make_distribution(args.repositories, args.tags, args.seed)
        built = time.perf_counter() - started
        with (
            DistributionRegistry(
                distribution, latency=args.latency, catalog_all_at_once=args.catalog_all_at_once
            ) as registry,
            tempfile.TemporaryDirectory() as directory,
        ):
            workdir = Path(directory)
            host = registry.url.removeprefix("http://")
            environment = os.environ | {
                "PYTHONPATH": str(ROOT),
                "SCRAPY_SETTINGS_MODULE": "hubspider.settings",
            }
            cpu_before = time.process_time()
            crawl = launcher.run(crawl_command(args, host, workdir), workdir, environment)
            output = workdir / "out.jsonl"
            run = Run(
                distribution=distribution,
                host=host,
                built=built,
                crawl=crawl,
                # What this process spent meanwhile is the emulator's: it does nothing else.
                emulator_cpu=time.process_time() - cpu_before,
                counts=registry.counts_snapshot(),
                records=exported(output) if output.exists() else [],
                store_bytes=store_size(workdir),
            )
    finally:
        launcher.close()
    return report(args, run)


@dataclass
class Run:
    """What one benchmark run measured, and the registry it crawled."""

    distribution: Distribution
    host: str
    built: float
    crawl: Crawl
    emulator_cpu: float
    counts: dict[str, int]
    records: list[str]
    store_bytes: int


def line(name: str, value: str, note: str = "") -> None:
    print(f"{name:<24}{value:>10}  {note}".rstrip())


def report(args: argparse.Namespace, run: Run) -> int:
    """Print the figures; 1 if the crawl failed, its export is not the truth or a request was spare."""
    crawl, counts, records, log = run.crawl, run.counts, run.records, run.crawl.log
    if crawl.status != 0:
        print(f"the crawl exited {crawl.status}:\n{log[-3000:]}", file=sys.stderr)
    expected = truth(run.distribution, run.host)
    exact = records == expected
    same_identities = identities(records) == identities(expected)
    least = run.distribution.fewest_requests(args.page_size, catalog_all_at_once=args.catalog_all_at_once)
    tags = run.distribution.tag_count
    requests = sum(counts.values())  # the refused (401, 429) and the tokens too: all the crawl sent
    wall = crawl.wall
    catalog = "one catalog page (as MCR)" if args.catalog_all_at_once else f"pages of {args.page_size}"
    concurrency = args.concurrency or project_settings.CONCURRENT_REQUESTS
    print(
        f"## registry at {args.repositories} repositories, {tags} tags, {args.latency * 1000:.0f} ms "
        f"latency, concurrency {concurrency}, {catalog}"
    )
    digests = len(run.distribution.distinct_digests())
    print(f"emulator built in {run.built:.1f} s; {digests} distinct tag digests")
    line("records exported", str(len(records)), f"(truth {len(expected)})")
    line(
        "exact export", yes(exact), f"(same (repository, tag, digest, platform) set: {yes(same_identities)})"
    )
    line("wall time", f"{wall:.1f}", f"s (the crawl's own: {stat(log, 'elapsed_time_seconds'):.1f} s)")
    line("tags/s", f"{tags / wall:.0f}")
    line("records/s", f"{len(records) / wall:.0f}")
    line("requests", str(requests), f"({requests / wall:.0f}/s)")
    for kind in KINDS:
        spare = "" if counts[kind] == least[kind] else "  <- more than needed"
        line(f"  {kind}", str(counts[kind]), f"minimum {least[kind]}{spare}")
    for kind in ("token", "unauthorized", "429"):
        line(f"  {kind}", str(counts[kind]))
    writer_cpu = stat(log, "hubspider/store/writer_cpu_seconds")
    line("crawl CPU", f"{crawl.cpu:.1f}", f"s (store writer {writer_cpu:.1f} s)")
    share = run.emulator_cpu / wall
    line("emulator CPU", f"{run.emulator_cpu:.1f}", f"s ({share:.0%} of one core over the wall time)")
    writer_rss = stat(log, "hubspider/store/writer_peak_rss_mb")
    line("peak RSS, crawl", f"{crawl.peak_rss_mb:.0f}", f"MB (store writer {writer_rss:.0f} MB)")
    per_record = run.store_bytes / max(len(records), 1)
    line("store", f"{run.store_bytes / 2**20:.1f}", f"MB ({per_record:.0f} bytes a record)")
    failures = []
    if crawl.status != 0:
        failures.append(f"the crawl exited {crawl.status}")
    if not exact:
        failures.append("the export is not the emulator's truth" + describe_difference(records, expected))
    if any(counts[kind] != least[kind] for kind in KINDS):
        failures.append("the crawl's requests are not the minimum")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def yes(value: bool) -> str:
    return "yes" if value else "NO"


def describe_difference(records: list[str], expected: list[str]) -> str:
    """The first record of each side the other lacks, to say what went wrong."""
    found, wanted = set(records), set(expected)
    extra = sorted(found - wanted)[:1]
    missing = sorted(wanted - found)[:1]
    return (
        f": {len(found - wanted)} unexpected (e.g. {extra}), {len(wanted - found)} missing (e.g. {missing})"
    )


if __name__ == "__main__":
    sys.exit(main())

"""The `layers` spider at a chosen size, and what a first full index costs at each source's limits.

Serves the emulator's Hub API and registry (with `--latency` on every answer) in this process,
fills a store with a `library` crawl, then runs `scrapy crawl layers` with no pull limit and
prints: images indexed, requests, pulls (manifest GETs), HEADs, config blobs and Hub API calls,
each per image; wall and CPU time; whether the export equals the emulator's truth. Then, from
the emulator's model at full size (or `--full-repositories/--full-tags`), the pulls and Hub API
calls a first full index needs, and the time they take at each documented limit (hub-api.md).

    .venv/bin/python -m benchmarks.layers --repositories 18 --tags 6000 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench import exported
from fakehub import FakeRegistry, HubServer, make_hub

ROOT = Path(__file__).resolve().parent.parent
# Pulls a second (or per 6 hours) each source documents; hub-api.md, "The registry route".
SIX_HOURS = 6 * 3600
PULL_RATES = {
    "Docker Hub, anonymous (100 pulls / 6 h)": 100 / SIX_HOURS,
    "Docker Hub, free account (200 pulls / 6 h)": 200 / SIX_HOURS,
    "Docker Hub, paid account (no pull limit; Hub API 180/min)": None,
    "ECR Public, anonymous (1 pull/s)": 1.0,
    "ECR Public, signed in (10 pulls/s)": 10.0,
}
# The Hub API's reported limit (perf-notes.md), which paces the tag images calls whatever the registry.
HUB_API_PER_SECOND = 180 / 60


def crawl(spider: str, workdir: Path, settings: dict[str, str], output: str) -> tuple[float, float, str]:
    """Run `scrapy crawl <spider>`: wall seconds, CPU seconds of the crawl, its log."""
    command = [sys.executable, "-m", "scrapy", "crawl", spider, "-O", output]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    environment = os.environ | {"PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "hubspider.settings"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{spider} crawl failed ({result.returncode}):\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stderr


def stat(log: str, name: str) -> int:
    match = re.search(rf"'{re.escape(name)}': (\d+)", log)
    return int(match.group(1)) if match else 0


def duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


def full_size_work(repositories: int, tags: int, seed: int) -> tuple[int, int]:
    """Image records, and distinct platform digests: the pulls a first index makes."""
    records = make_hub(repositories, tags, seed).expected_image_records()
    return len(records), len({record["digest"] for record in records})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repositories", type=int, default=18)
    parser.add_argument("--tags", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--full-repositories", type=int, default=180)
    parser.add_argument("--full-tags", type=int, default=59913)
    args = parser.parse_args()

    hub = make_hub(args.repositories, args.tags, args.seed)
    truth = sorted(json.dumps(record, sort_keys=True) for record in hub.expected_image_records())
    concurrency = str(args.concurrency)
    with (
        HubServer(hub, latency=args.latency, anonymous_offset_cap=None) as api,
        FakeRegistry(hub, latency=args.latency) as registry,
        tempfile.TemporaryDirectory() as directory,
    ):
        workdir = Path(directory)
        common = {
            "HUB_API_URL": api.url,
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "HUB_PROGRESS_INTERVAL": "0",
            # The emulator serves every tag anonymously (as to a signed-in crawl).
            "HUB_ANONYMOUS_OFFSET_CAP": "0",
        }
        crawl("library", workdir, common, "digests.jsonl")
        settings = common | {"HUB_REGISTRY_URL": registry.url, "HUB_REGISTRY_AUTH_URL": registry.auth_url}
        wall, cpu, log = crawl("layers", workdir, settings, "layers.jsonl")
        records = exported(workdir / "layers.jsonl")
        counts = dict(registry.counts)

    images = len(records)
    requests = stat(log, "downloader/request_count")
    tag_calls = stat(log, "hubspider/layers/tag_images")
    latency_ms = args.latency * 1000
    print(f"## layers at {args.repositories} repositories, {args.tags} tags, {latency_ms:.0f} ms latency")
    print(f"images indexed        {images} (exact: {records == truth})")
    print(f"wall / CPU            {wall:.1f} s / {cpu:.1f} s ({images / wall:.0f} images/s)")
    print(f"peak RSS              {stat(log, 'memusage/max') / 2**20:.0f} MB")
    for name, value in (
        ("requests", requests),
        ("pulls (manifest GETs)", counts["manifest_get"]),
        ("index GETs", counts["index_get"]),
        ("manifest HEADs", counts["manifest_head"]),
        ("config blob GETs", counts["blob_get"]),
        ("token requests", counts["token"]),
        ("Hub API tag images calls", tag_calls),
    ):
        print(f"{name:<22}{value:>8}  {value / images if images else 0:.3f} per image")

    records, pulls = full_size_work(args.full_repositories, args.full_tags, args.seed)
    calls = round(tag_calls / images * records) if images else 0
    print(f"\n## a first full index at {args.full_repositories} repositories, {args.full_tags} tags")
    print(f"{records} image records, {pulls} pulls, about {calls} Hub API calls")
    api_floor = calls / HUB_API_PER_SECOND
    for source, rate in PULL_RATES.items():
        pull_time = pulls / rate if rate else 0.0
        print(f"{source:<58} {duration(max(pull_time, api_floor))}")


if __name__ == "__main__":
    main()

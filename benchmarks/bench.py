"""hubspider against the alternatives, on one machine, in one run.

Starts the emulator at the chosen size, latency and rate limit in its own process, then
runs one after the other: hubspider (`scrapy crawl library`), a sequential `requests`
script and an asyncio + aiohttp crawler at the same concurrency. Prints, for each, wall
time, requests made, records per second, CPU seconds (of the crawl and every process it
waited for, the store's writer included), peak RSS of the crawl process and of all its
processes together, and the ratios. `--project DIR` runs hubspider from another checkout
(an older commit, for a before/after table).

    .venv/bin/python -m benchmarks.bench --repositories 180 --tags 60000 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fakehub import make_hub

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 100


@dataclass
class Run:
    name: str
    wall: float
    cpu: float
    peak_rss_mb: float
    # The crawl's and its store writer's peaks together, where the writer reports its own.
    all_rss_mb: float
    requests: int
    records: int
    status: int
    exact: bool | None
    rate_limited: int

    @property
    def records_per_second(self) -> float:
        return self.records / self.wall if self.wall else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_fakehub/stats") as response:
        return json.load(response)


def minimal_requests(repositories: int, tags: int, seed: int) -> int:
    library = make_hub(repositories, tags, seed).namespaces["library"].values()
    listing = -(-len(library) // PAGE_SIZE)
    return listing + sum(max(1, -(-len(r.tags) // PAGE_SIZE)) for r in library)


def truth(repositories: int, tags: int, seed: int) -> list[str]:
    hub = make_hub(repositories, tags, seed)
    return sorted(json.dumps(r, sort_keys=True) for r in hub.expected_records("library"))


def exported(path: Path) -> list[str]:
    records = (json.loads(line) for line in path.read_text().splitlines())
    return sorted(json.dumps({k: v for k, v in r.items() if k != "seen_at"}, sort_keys=True) for r in records)


def measure(name: str, command: list[str], url: str, cwd: Path = ROOT) -> Run:
    before = server_stats(url)
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        log.seek(0)
        stderr = log.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    after = server_stats(url)
    peak = usage.ru_maxrss / 1024
    writer = re.search(r"'hubspider/store/writer_peak_rss_mb': ([0-9.]+)", stderr)
    if process.returncode != 0:
        print(f"{name} exited {process.returncode}:\n{stderr[-2000:]}", file=sys.stderr)
    return Run(
        name=name,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak,
        all_rss_mb=peak + (float(writer.group(1)) if writer else 0.0),
        requests=after.get("requests", 0) - before.get("requests", 0),
        records=0,
        status=process.returncode,
        exact=None,
        rate_limited=after.get("429", 0) - before.get("429", 0),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repositories", type=int, default=180)
    parser.add_argument("--tags", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight, for all crawlers")
    parser.add_argument("--rate-limit", type=int, help="requests per --rate-window the emulator allows")
    parser.add_argument("--rate-window", type=float, default=60.0)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["hubspider", "hubspider-again", "hubspider-nostore", "sequential", "aiohttp"],
    )
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout whose hubspider to run")
    args = parser.parse_args(argv)

    python = sys.executable
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_command = [
        python, "-m", "fakehub", "--port", str(port), "--repositories", str(args.repositories),
        "--tags", str(args.tags), "--seed", str(args.seed), "--latency", str(args.latency),
        "--anonymous-offset-cap", "0",
    ]  # fmt: skip
    if args.rate_limit:
        server_command += ["--rate-limit", str(args.rate_limit), "--rate-window", str(args.rate_window)]
    server = subprocess.Popen(server_command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "fakehub serving ..." once it listens
        runs = []
        with tempfile.TemporaryDirectory() as workdir:
            out = Path(workdir)
            concurrency = str(args.concurrency)
            hubspider = [
                python, "-m", "scrapy", "crawl", "library", "-s", f"HUB_API_URL={url}",
                "-s", f"CONCURRENT_REQUESTS={concurrency}",
                "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
                # INFO: the closing stats carry the store writer's peak RSS.
                "-s", "LOG_LEVEL=INFO", "-s", "HUB_PROGRESS_INTERVAL=0", "-s", "HUB_ANONYMOUS_OFFSET_CAP=0",
            ]  # fmt: skip
            crawlers = {
                # As shipped: the SQLite store on, first crawl into an empty store.
                "hubspider": [
                    *hubspider, "-O", str(out / "hubspider.jsonl"),
                    "-s", f"HUB_STORE_PATH={out / 'store.sqlite3'}",
                ],
                # The next day's crawl: the same records into the store the first one filled.
                "hubspider-again": [
                    *hubspider, "-O", str(out / "hubspider-again.jsonl"),
                    "-s", f"HUB_STORE_PATH={out / 'store.sqlite3'}",
                ],
                # Like for like with the others, which write JSON Lines only.
                "hubspider-nostore": [
                    *hubspider, "-O", str(out / "hubspider-nostore.jsonl"), "-s", "HUB_STORE_ENABLED=False",
                ],
                "sequential": [python, "-m", "benchmarks.sequential", url, str(out / "sequential.jsonl")],
                "aiohttp": [
                    python, "-m", "benchmarks.aiohttp_crawler", url, str(out / "aiohttp.jsonl"), concurrency,
                ],
            }  # fmt: skip
            for name, command in crawlers.items():
                if name in args.skip:
                    continue
                checkout = args.project if name.startswith("hubspider") else ROOT
                runs.append(measure(name, command, url, checkout))
                print(f"  {name}: {runs[-1].wall:.1f} s", file=sys.stderr, flush=True)
            # Only now: a child forked from a big parent would count the parent's pages in its peak RSS.
            expected = truth(args.repositories, args.tags, args.seed)
            for run in runs:
                output = out / f"{run.name}.jsonl"
                records = exported(output) if output.exists() else []
                run.records, run.exact = len(records), records == expected
    finally:
        server.terminate()
        server.wait()
    report(args, minimal_requests(args.repositories, args.tags, args.seed), len(expected), runs)


def report(args: argparse.Namespace, minimal: int, expected: int, runs: list[Run]) -> None:
    limit = f", rate limit {args.rate_limit} per {args.rate_window:g} s" if args.rate_limit else ""
    print(
        f"Dataset: {args.repositories} repositories, {args.tags} tags, {expected} records; "
        f"latency {args.latency * 1000:.0f} ms{limit}; concurrency {args.concurrency}; "
        f"minimal requests {minimal}"
    )
    print()
    columns = "crawler, wall s, requests, records/s, CPU s, peak RSS MB, all processes MB, 429s, exact, exit"
    print(f"| {' | '.join(columns.split(', '))} |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        exact = "yes" if run.exact else "no"
        print(
            f"| {run.name} | {run.wall:.1f} | {run.requests} | {run.records_per_second:,.0f} | "
            f"{run.cpu:.1f} | {run.peak_rss_mb:.0f} | {run.all_rss_mb:.0f} | {run.rate_limited} | "
            f"{exact} | {run.status} |"
        )
    by_name = {run.name: run for run in runs}
    print()
    for name in ("hubspider", "hubspider-again", "hubspider-nostore"):
        hub = by_name.get(name)
        if hub is None:
            continue
        if "sequential" in by_name:
            print(f"- {name} / sequential wall: {hub.wall / by_name['sequential'].wall:.3f}x (target <= 0.1)")
        if "aiohttp" in by_name:
            print(f"- {name} / aiohttp wall: {hub.wall / by_name['aiohttp'].wall:.2f}x (target <= 1.25)")
        print(f"- {name} requests / minimal: {hub.requests} / {minimal}")
        print(
            f"- {name} peak RSS: {hub.peak_rss_mb:.0f} MB (target < 160), "
            f"all processes {hub.all_rss_mb:.0f} MB (target < 300)"
        )
        if args.rate_limit:
            floor = minimal / args.rate_limit * args.rate_window
            print(f"- {name} wall / (minimal requests / limit): {hub.wall / floor:.3f} (target <= 1.10)")
            print(f"- {name} 429 share: {hub.rate_limited / max(hub.requests, 1):.2%} (target <= 1%)")


if __name__ == "__main__":
    main()

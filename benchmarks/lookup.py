"""How fast the store answers at millions of rows: `lookup` by digest and `history` by image.

Fills a store with synthetic builds (each a 5-platform index under two alias tags), written
as a crawl writes them, then times the queries the commands run, warm.

    .venv/bin/python -m benchmarks.lookup --builds 500000
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from hubspider.records import TagSeen
from hubspider.store import Store

PLATFORMS = ("linux/amd64", "linux/arm/v7", "linux/arm64/v8", "linux/ppc64le", "linux/s390x")


def digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def fill(store: Store, builds: int) -> int:
    """`builds` builds, each under two alias tags, written as a crawl writes them; returns the
    number of records."""
    seen = "2026-11-22T00:00:00Z"
    records = 0
    for start in range(0, builds, 1_000):
        page: list[dict[str, object]] = []
        tags: list[TagSeen] = []
        for number in range(start, min(start + 1_000, builds)):
            index = digest(number)
            repository = f"repo{number % 2000}"
            for alias in (f"{number}.0", f"{number}"):
                found = [
                    {"digest": digest(number, p), "namespace": "library", "repository": repository,
                     "tag": alias, "platform": p, "kind": "image", "os": "linux",
                     "architecture": p.split("/")[1], "variant": None, "os_version": None,
                     "tag_digest": index, "media_type": "application/vnd.oci.image.index.v1+json",
                     "size": 1, "last_pushed": seen}
                    for p in PLATFORMS
                ]  # fmt: skip
                found.append({**found[0], "digest": index, "platform": None, "kind": "index", "size": None})
                page += found
                tags.append(TagSeen("library", repository, alias, index, seen))
        with store.transaction():
            store.add(page, tags, seen)
        records += len(page)
    return records


def timed(call, repeat: int = 200) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--builds", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "store.sqlite3") as store:
        started = time.perf_counter()
        records = fill(store, args.builds)
        elapsed = time.perf_counter() - started
        size = (Path(folder) / "store.sqlite3").stat().st_size / 1e6
        print(
            f"{records:,} records ({args.builds:,} builds under two tags each), "
            f"filled in {elapsed:.0f} s, {size:.0f} MB"
        )
        rng = random.Random(0)
        numbers = [rng.randrange(args.builds) for _ in range(200)]
        picks = iter(numbers * 10)
        full = timed(lambda: store.find_digest(digest(next(picks), "linux/amd64")))
        short = timed(lambda: store.find_digest(digest(next(picks), "linux/arm64/v8")[:19]))
        history = timed(
            lambda: store.image_history("library", f"repo{(n := next(picks)) % 2000}", f"{n}", None)
        )
        print(f"lookup by full digest: {full:.2f} ms; by 12-hex prefix: {short:.2f} ms", end="; ")
        print(f"history: {history:.2f} ms")


if __name__ == "__main__":
    main()

"""How fast the store answers at millions of rows: `lookup` by digest and `history` by image.

Fills a store with synthetic builds (each a 5-platform index), sightings and tags, then
times the two queries the commands run, warm.

    .venv/bin/python -m benchmarks.lookup --builds 500000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from hubspider.store import Store

PLATFORMS = ("linux/amd64", "linux/arm/v7", "linux/arm64/v8", "linux/ppc64le", "linux/s390x")


def digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def fill(store: Store, builds: int) -> int:
    """`builds` builds, each under two alias tags; returns the number of records."""
    seen = "2026-11-22T00:00:00Z"
    records = 0
    with store.transaction():
        for start in range(0, builds, 10_000):
            build_rows, digest_rows, sighting_rows, tag_rows = [], [], [], []
            for number in range(start, min(start + 10_000, builds)):
                index = digest(number)
                found = [
                    {"digest": digest(number, p), "platform": p, "kind": "image", "os": "linux",
                     "architecture": p.split("/")[1], "variant": None, "os_version": None,
                     "tag_digest": index, "media_type": "application/vnd.oci.image.index.v1+json",
                     "size": 1, "last_pushed": seen}
                    for p in PLATFORMS
                ]  # fmt: skip
                found.append({**found[0], "digest": index, "platform": None, "kind": "index"})
                build_rows.append((index, json.dumps(found), len(found)))
                digest_rows += [(record["digest"], index) for record in found]
                repository = f"repo{number % 2000}"
                for alias in (f"{number}.0", f"{number}"):
                    sighting_rows.append(("library", repository, alias, index, seen, seen))
                    tag_rows.append(("library", repository, alias, index, seen, seen, seen))
                    records += len(found)
            store.db.executemany("INSERT INTO builds VALUES (?, ?, ?)", build_rows)
            store.db.executemany("INSERT INTO digests VALUES (?, ?)", digest_rows)
            store.db.executemany("INSERT INTO sightings VALUES (?, ?, ?, ?, ?, ?)", sighting_rows)
            store.db.executemany(
                "INSERT INTO tags (namespace, repository, tag, target, last_updated, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                tag_rows,
            )
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
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "store.sqlite3")
        started = time.perf_counter()
        records = fill(store, args.builds)
        elapsed = time.perf_counter() - started
        print(f"{records:,} records ({args.builds:,} builds under two tags each), filled in {elapsed:.0f} s")
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
        store.close()


if __name__ == "__main__":
    main()

"""How fast `scrapy detect` answers: `Store.bases_of` on a store the size of a full layer
index, and reading a multi-GB `docker save` tar.

Builds (once; reused when `--store` exists) a store at the real schema shaped like the real
index: a few hundred OS base images (one layer each, per platform), language images on them,
and the rest built on either, so that thousands of images share a popular base's layers; each
build an index of every platform under a version tag, a minor alias that moves from patch to
patch, and `latest`; some tags deleted; some images held by two repositories. Then times
opening the store and `bases_of` for inputs built on a popular base, official images themselves
(image ID and index digest) and unknown images. Then writes a `docker save` tar with one layer
of `--tar-gb` GB (streamed, never held in memory), times `read_archive` + `choose`, and
deletes it.

    .venv/bin/python -m benchmarks.detect --store output/bench-detect.sqlite3 --tar-gb 5
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import random
import statistics
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from hubspider.held.image import HeldImage
from hubspider.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PLATFORMS = ("linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/ppc64le", "linux/s390x")
OS_RELEASES = 60
LANGUAGE_BUILDS = 2_000
OS_REPOSITORIES = 20
REPOSITORIES = 180
# Of the other builds, this share is built on a language image, the rest on an OS image.
ON_LANGUAGE = 0.7
CRAWLS = 52
START = 1_790_000_000  # unix time of the first crawl; one a week
DELETED_SHARE = 0.03
SECOND_HOLDER_SHARE = 0.03
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BATCH = 200_000
LAYER_SIZE = 30_000_000

INSERT_LAYER = "INSERT INTO layers VALUES (?, ?, ?, ?, ?)"
INSERT_CHAIN = "INSERT INTO chains VALUES (?, ?)"
INSERT_IMAGE = "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_IMAGE_LAYER = "INSERT INTO image_layers VALUES (?, ?, ?, ?)"
INSERT_TOP = "INSERT INTO image_tops VALUES (?, ?)"
INSERT_HOLDER = "INSERT INTO image_repositories VALUES (?, 'library', ?, ?, ?)"
INSERT_BUILD = "INSERT INTO builds VALUES (?, ?, ?, ?)"
INSERT_DIGEST = "INSERT INTO digests VALUES (?, ?)"
INSERT_TAG = "INSERT INTO tags VALUES (?, 'library', ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_SIGHTING = "INSERT INTO sightings VALUES (?, ?, ?, ?)"


def crawl_time(crawl: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + crawl * 7 * 86400))


@dataclass
class Parent:
    """A build's platform images that other builds are built on: per platform, its layers."""

    layer_ids: dict[str, list[int]] = field(default_factory=dict)
    chain_ids: dict[str, list[int]] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)


class Filler:
    """Writes the synthetic index with bulk inserts, ids given here, in one transaction."""

    def __init__(self, store: Store, images: int, layers: int, seed: int) -> None:
        self.db = store.db
        self.rng = random.Random(seed)
        self.builds = images // len(PLATFORMS)
        per_image = layers / images
        # Language images average 4 layers; the others sit on one (3.1 layers on average).
        own = max(1.0, per_image - (ON_LANGUAGE * 4 + (1 - ON_LANGUAGE)))
        self.most_own = max(1, round(2 * own - 1))
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self.next_id = {"images": 1, "layers": 1, "chains": 1, "builds": 1, "tags": 1}
        self.repository_builds: dict[int, list[tuple[int, int]]] = {}

    def take(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table] - 1

    def add(self, statement: str, row: tuple[Any, ...]) -> None:
        rows = self.rows.setdefault(statement, [])
        rows.append(row)
        if len(rows) >= BATCH:
            self.flush(statement)

    def flush(self, statement: str | None = None) -> None:
        for name in [statement] if statement else list(self.rows):
            self.db.executemany(name, self.rows.pop(name, []))

    def fill(self) -> None:
        # Popularity falls with rank: a few bases carry most images, as debian and alpine do.
        os_weights = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(OS_RELEASES)))
        language_weights = list(
            itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(LANGUAGE_BUILDS))
        )
        oses = [
            self.build(None, 0, self.rng.randrange(OS_REPOSITORIES), keep=True) for _ in range(OS_RELEASES)
        ]
        languages = []
        for _ in range(LANGUAGE_BUILDS):
            parent = self.rng.choices(oses, cum_weights=os_weights)[0]
            languages.append(self.build(parent, self.rng.randint(2, 4), self.other_repository(), keep=True))
        for _ in range(self.builds - OS_RELEASES - LANGUAGE_BUILDS):
            if self.rng.random() < ON_LANGUAGE:
                parent = self.rng.choices(languages, cum_weights=language_weights)[0]
            else:
                parent = self.rng.choices(oses, cum_weights=os_weights)[0]
            self.build(parent, self.rng.randint(1, self.most_own), self.other_repository(), keep=False)
        self.flush()
        self.tags()
        self.flush()

    def other_repository(self) -> int:
        return self.rng.randrange(OS_REPOSITORIES, REPOSITORIES)

    def build(self, parent: Parent | None, own_layers: int, repository: int, *, keep: bool) -> Parent:
        """One build: an index of every platform's image, each `parent`'s layers and its own."""
        made = Parent()
        build = self.take("builds")
        index = "sha256:" + self.rng.randbytes(32).hex()
        pushed = crawl_time(build * CRAWLS // self.builds)
        records: list[list[Any]] = [
            [index, None, "index", None, None, None, None, index, OCI_INDEX, None, pushed]
        ]
        holders = {repository}
        if self.rng.random() < SECOND_HOLDER_SHARE:
            holders.add(self.other_repository())
        for platform in PLATFORMS:
            layer_ids = list(parent.layer_ids[platform]) if parent else []
            chain_ids = list(parent.chain_ids[platform]) if parent else []
            chains = list(parent.chains[platform]) if parent else []
            for _ in range(own_layers + (0 if parent else 1)):
                layer_ids.append(self.take("layers"))
                chain_ids.append(self.take("chains"))
                diff_id = self.rng.randbytes(32)
                chains.append(next_chain(chains, diff_id))
                self.add(
                    INSERT_LAYER, (layer_ids[-1], self.rng.randbytes(32), OCI_LAYER, diff_id, LAYER_SIZE)
                )
                self.add(INSERT_CHAIN, (chain_ids[-1], bytes.fromhex(chains[-1][7:])))
            digest = self.image(platform, layer_ids, chain_ids, holders, pushed)
            os, architecture, *variant = platform.split("/")
            variant_or_none = variant[0] if variant else None
            records.append(
                [
                    digest,
                    platform,
                    "image",
                    os,
                    architecture,
                    variant_or_none,
                    None,
                    index,
                    OCI_MANIFEST,
                    1,
                    pushed,
                ]
            )
            if keep:
                made.layer_ids[platform], made.chain_ids[platform], made.chains[platform] = (
                    layer_ids,
                    chain_ids,
                    chains,
                )
        self.add(
            INSERT_BUILD, (build, bytes.fromhex(index[7:]), orjson.dumps(records).decode(), len(records))
        )
        for record in records:
            self.add(INSERT_DIGEST, (bytes.fromhex(record[0][7:]), build))
        self.repository_builds.setdefault(repository, []).append((build, build * CRAWLS // self.builds))
        return made

    def image(
        self, platform: str, layer_ids: list[int], chain_ids: list[int], holders: set[int], pushed: str
    ) -> str:
        """A platform image's rows, held by `holders`: its digest."""
        digest = self.rng.randbytes(32)
        image = self.take("images")
        os, architecture, *variant = platform.split("/")
        steps = [
            [pushed, f"/bin/sh -c #(nop) ADD file:{step:064x} in / ", None, False]
            for step in range(len(layer_ids) + 2)
        ]
        self.add(
            INSERT_IMAGE,
            (image, digest, self.rng.randbytes(32), platform, os, architecture,
             variant[0] if variant else None, None, orjson.dumps(steps).decode(), None),
        )  # fmt: skip
        for position, (layer, chain_id) in enumerate(zip(layer_ids, chain_ids, strict=True)):
            self.add(INSERT_IMAGE_LAYER, (image, position, layer, chain_id))
        if chain_ids:
            self.add(INSERT_TOP, (chain_ids[-1], image))
        for holder in sorted(holders):
            self.add(INSERT_HOLDER, (image, f"repo{holder}", pushed, crawl_time(CRAWLS)))
        return "sha256:" + digest.hex()

    def tags(self) -> None:
        """Per repository, each build under its version tag; a minor alias moves patch to patch,
        `latest` moves with every build; a few version tags are deleted."""
        last = crawl_time(CRAWLS)
        for repository, builds in self.repository_builds.items():
            name = f"repo{repository}"
            movers: dict[str, list[tuple[int, int]]] = {}
            for number, (build, crawl) in enumerate(builds):
                deleted = self.rng.random() < DELETED_SHARE
                gone = crawl_time(self.rng.randint(crawl, CRAWLS)) if deleted else None
                seen = crawl_time(crawl)
                tag = self.take("tags")
                version = f"1.{number // 8}.{number % 8}"
                self.add(INSERT_TAG, (tag, name, version, build, seen, seen, gone or last, None, gone))
                self.add(INSERT_SIGHTING, (tag, build, seen, gone or last))
                movers.setdefault(f"1.{number // 8}", []).append((build, crawl))
                movers.setdefault("latest", []).append((build, crawl))
            for alias, pointed in movers.items():
                tag = self.take("tags")
                (build, crawl), first = pointed[-1], pointed[0][1]
                moved = crawl_time(crawl) if len(pointed) > 1 else None
                self.add(
                    INSERT_TAG,
                    (tag, name, alias, build, crawl_time(crawl), crawl_time(first), last, moved, None),
                )
                for (one, since), following in zip(pointed, [*pointed[1:], None], strict=True):
                    until = last if following is None else crawl_time(max(since, following[1] - 1))
                    self.add(INSERT_SIGHTING, (tag, one, crawl_time(since), until))


def next_chain(chains: list[str], diff_id: bytes) -> str:
    """The chain ID of a layer on `chains` (OCI image spec)."""
    text = "sha256:" + diff_id.hex()
    if not chains:
        return text
    return "sha256:" + hashlib.sha256(f"{chains[-1]} {text}".encode()).hexdigest()


def build_store(path: Path, images: int, layers: int, seed: int) -> float:
    """Create the store at `path`; returns the seconds it took."""
    started = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with Store(partial) as store:
        store.db.execute("PRAGMA cache_size=-2000000")
        store.db.execute("PRAGMA journal_mode=OFF")
        with store.transaction():
            Filler(store, images, layers, seed).fill()
    partial.rename(path)
    return time.perf_counter() - started


def counts(store: Store) -> dict[str, int]:
    tables = ("images", "image_layers", "layers", "chains", "builds", "tags", "sightings")
    return {table: store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def image_of(store: Store, image: int) -> tuple[str, str, tuple[str, ...], str]:
    """A stored image's platform, image ID, diff_ids and the index digest of a build holding it."""
    row = store.db.execute("SELECT digest, image_id, platform FROM images WHERE id = ?", (image,)).fetchone()
    diff_ids = tuple(
        "sha256:" + diff_id.hex()
        for (diff_id,) in store.db.execute(
            "SELECT l.diff_id FROM image_layers AS il JOIN layers AS l ON l.id = il.layer "
            "WHERE il.image = ? ORDER BY il.position",
            (image,),
        )
    )
    (target,) = store.db.execute(
        "SELECT b.target FROM digests AS d JOIN builds AS b ON b.id = d.build WHERE d.digest = ? LIMIT 1",
        (row["digest"],),
    ).fetchone()
    return row["platform"], "sha256:" + row["image_id"].hex(), diff_ids, "sha256:" + target.hex()


def inputs(store: Store, count: int, seed: int) -> dict[str, list[HeldImage]]:
    """`count` inputs of each kind, drawn from the store."""
    rng = random.Random(seed + 1)

    def mine() -> str:
        return "sha256:" + rng.randbytes(32).hex()

    # The base layer the most images share.
    (popular, sharing) = store.db.execute(
        "SELECT chain, count(*) AS n FROM image_layers WHERE position = 0 "
        "GROUP BY chain ORDER BY n DESC LIMIT 1"
    ).fetchone()
    on_popular = [
        row[0] for row in store.db.execute("SELECT image FROM image_layers WHERE chain = ?", (popular,))
    ]
    (images,) = store.db.execute("SELECT max(id) FROM images").fetchone()
    derived, exact, unknown = [], [], []
    for image in rng.sample(on_popular, count):
        platform, _, diff_ids, _ = image_of(store, image)
        derived.append(HeldImage(platform, mine(), (*diff_ids, mine(), mine())))
    for image in rng.sample(range(1, images + 1), count):
        platform, image_id, diff_ids, index = image_of(store, image)
        exact.append(HeldImage(platform, image_id, diff_ids, digests=(index,)))
    for _ in range(count):
        unknown.append(
            HeldImage(rng.choice(PLATFORMS), mine(), tuple(mine() for _ in range(rng.randint(3, 12))))
        )
    print(f"popular base layer: shared by {sharing:,} images (position 0)")
    return {
        "built on a popular base": derived,
        "official image (ID + index)": exact,
        "unknown image": unknown,
    }


def percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000, ordered[-1] * 1000


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def row(label: str, samples: Sequence[float], note: str = "") -> str:
    median, p95, most = percentiles(samples)
    return f"{label:<32} {median:>9.2f} {p95:>9.2f} {most:>9.2f}  {note}"


def bench_store(path: Path, count: int, seed: int) -> None:
    opened = timed(lambda: Store(path, read_only=True).close(), 20)
    with Store(path, read_only=True) as store:
        kinds = inputs(store, count, seed)
        lines = [row("open the store (read-only)", opened)]
        for kind, held in kinds.items():
            samples, found = [], []
            for image in held:
                started = time.perf_counter()
                bases = store.bases_of(image)
                samples.append(time.perf_counter() - started)
                found.append(len(bases))
            lines.append(row(f"bases_of: {kind}", samples, f"bases per input {min(found)}..{max(found)}"))
    print(f"{'':<32} {'median ms':>9} {'p95 ms':>9} {'max ms':>9}")
    print("\n".join(lines))


class LayerStream(io.RawIOBase):
    """A layer tar holding one file of `size` bytes, made as it is read, hashed as it goes."""

    CHUNK = 1 << 20

    def __init__(self, size: int) -> None:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        self.head = info.tobuf(format=tarfile.PAX_FORMAT)
        self.tail = b"\0" * ((-size) % 512 + 1024)
        self.body = size
        # Text-like bytes (4 bits of entropy each): a gzip'd save shrinks about as real layers do.
        self.block = bytes(random.Random(0).choices(b"0123456789abcdef", k=self.CHUNK))
        self.length = len(self.head) + size + len(self.tail)
        self.sha = hashlib.sha256()
        self.at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        head, body_end = len(self.head), len(self.head) + self.body
        if self.at < head:
            piece = self.head[self.at : self.at + len(view)]
        elif self.at < body_end:
            piece = self.block[: min(len(view), body_end - self.at, self.CHUNK)]
        else:
            start = self.at - body_end
            piece = self.tail[start : start + len(view)]
        view[: len(piece)] = piece
        self.sha.update(piece)
        self.at += len(piece)
        return len(piece)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_save(path: Path, big_bytes: int, *, gzipped: bool) -> tuple[str, tuple[str, ...]]:
    """A `docker save` (before Docker 25) of a 3-layer image whose middle layer is `big_bytes`
    long, config and manifest.json last as docker writes them, gzip'd whole (`docker save | gzip`)
    if asked: its image ID and diff_ids."""
    diff_ids = []
    layer_names = []
    # Level 1: as fast as gzip goes; reading it back costs the same whatever the level.
    compression: dict[str, Any] = {"compresslevel": 1} if gzipped else {}
    with tarfile.open(path, "w:gz" if gzipped else "w", format=tarfile.PAX_FORMAT, **compression) as tar:
        for number, size in enumerate((4096, big_bytes, 4096)):
            stream = LayerStream(size)
            name = f"{number:064x}/layer.tar"
            info = tarfile.TarInfo(name)
            info.size = stream.length
            tar.addfile(info, io.BufferedReader(stream, buffer_size=LayerStream.CHUNK))
            diff_ids.append("sha256:" + stream.sha.hexdigest())
            layer_names.append(name)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created_by": f"step {number}"} for number in range(3)],
            }
        ).encode()
        image_id = hashlib.sha256(config).hexdigest()
        add_bytes(tar, f"{image_id}.json", config)
        manifest = [{"Config": f"{image_id}.json", "RepoTags": ["bench:big"], "Layers": layer_names}]
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return "sha256:" + image_id, tuple(diff_ids)


def bench_tar(gigabytes: float, folder: str | None, *, gzipped: bool) -> None:
    try:
        from hubspider.held.archive import read_archive  # noqa: PLC0415 (written in parallel)
        from hubspider.held.choose import choose  # noqa: PLC0415
    except ImportError as error:
        print(f"read_archive/choose not available yet ({error}): tar benchmark skipped")
        return
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        path = Path(scratch) / ("big-save.tar.gz" if gzipped else "big-save.tar")
        started = time.perf_counter()
        image_id, diff_ids = write_save(path, int(gigabytes * 1e9), gzipped=gzipped)
        written = time.perf_counter() - started
        size = path.stat().st_size
        started = time.perf_counter()
        held = choose(read_archive(str(path)), None, str(path))
        read = time.perf_counter() - started
        right = held.image_id == image_id and held.diff_ids == diff_ids
    kind = "gzip'd docker save" if gzipped else "docker save tar"
    print(f"{kind} of {size / 1e9:.2f} GB (one layer of {gigabytes:g} GB), written in {written:.1f} s:")
    verdict = "right" if right else "WRONG"
    print(f"  read_archive + choose: {read * 1000:,.1f} ms; image ID and diff_ids {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=Path("output/bench-detect.sqlite3"),
                        help="the benchmark store: built when missing, reused when present")  # fmt: skip
    parser.add_argument("--images", type=int, default=300_000)
    parser.add_argument("--layers", type=int, default=2_000_000, help="image layers (rows of image_layers)")
    parser.add_argument("--inputs", type=int, default=200, help="inputs of each kind")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--tar-gb", type=float, default=5.0, help="size of the big layer; 0 skips the tar")
    parser.add_argument("--gzip", action="store_true", help="also time the same save gzip'd whole")
    parser.add_argument(
        "--tmp", default=None, help="where the tar is written (default: the system's temp dir)"
    )
    args = parser.parse_args()
    if args.store.exists():
        print(f"reusing {args.store}")
    else:
        args.store.parent.mkdir(parents=True, exist_ok=True)
        seconds = build_store(args.store, args.images, args.layers, args.seed)
        print(f"built {args.store} in {seconds:.0f} s")
    with Store(args.store, read_only=True) as store:
        shown = ", ".join(f"{count:,} {table}" for table, count in counts(store).items())
    print(f"{shown}; {args.store.stat().st_size / 1e6:,.0f} MB")
    bench_store(args.store, args.inputs, args.seed)
    if args.tar_gb > 0:
        bench_tar(args.tar_gb, args.tmp, gzipped=False)
        if args.gzip:
            bench_tar(args.tar_gb, args.tmp, gzipped=True)


if __name__ == "__main__":
    main()

"""The layer index in the store (version 3): image records written once per manifest digest,
found by image ID, layer digest, diff_id and chain ID, and what a layers crawl has left to do."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from hubspider.records import TagSeen
from hubspider.store import PendingImage, Store
from hubspider.store.pending import CurrentTag, ImageSeen, pending_images

FIRST, SECOND, THIRD = "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-15T00:00:00Z"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INDEX = "application/vnd.oci.image.index.v1+json"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The OCI image spec's rule, written out here rather than imported."""
    chains = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chains.append("sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return chains


def image_record(
    repository: str,
    name: str,
    layer_names: list[str],
    *,
    platform: str = "linux/amd64",
    media_type: str = OCI_LAYER,
    instructions: bool = True,
    seen_at: str = FIRST,
) -> dict[str, Any]:
    """An image record in the export's shape: `name` makes its digests, `layer_names` its layers."""
    diff_ids = [sha(f"tar {layer}") for layer in layer_names]
    os, architecture, *variant = platform.split("/")
    history = [{"created": FIRST, "created_by": f"/bin/sh -c #(nop) ADD {layer}", "comment": None,
                "empty_layer": False} for layer in layer_names]  # fmt: skip
    history.insert(
        1, {"created": FIRST, "created_by": 'CMD ["sh"]', "comment": "buildkit", "empty_layer": True}
    )
    return {
        "digest": sha(f"manifest {name} {platform}"),
        "image_id": sha(f"config {name} {platform}"),
        "namespace": "library",
        "repository": repository,
        "platform": platform,
        "os": os,
        "architecture": architecture,
        "variant": variant[0] if variant else None,
        "os_version": None,
        "layers": [
            {
                "digest": sha(f"gzip {layer}"),
                "diff_id": diff_id,
                "chain_id": chain_id,
                "size": 1000 + position,
                "media_type": media_type,
                "instruction": f"ADD {layer}" if instructions else None,
            }
            for position, (layer, diff_id, chain_id) in enumerate(
                zip(layer_names, diff_ids, chain_ids(diff_ids), strict=True)
            )
        ],
        "history": history,
        "seen_at": seen_at,
    }


ALPINE = image_record("alpine", "alpine 3.20", ["alpine base"])
PYTHON = image_record("python", "python 3.12-alpine", ["alpine base", "python", "pip"])
PYTHON_ARM = image_record(
    "python", "python 3.12-alpine", ["alpine arm base", "python arm"], platform="linux/arm64/v8"
)


def without_seen_at(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "seen_at"}


def parts(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("image_id", "layers", "history")}


def counts(store: Store) -> dict[str, int]:
    tables = ("images", "layers", "chains", "image_layers", "image_repositories")
    return {table: store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "store.sqlite3")
    yield store
    store.close()


@pytest.fixture
def indexed(store):
    store.add_images([ALPINE, PYTHON, PYTHON_ARM], FIRST)
    return store


def test_a_stored_image_gives_back_its_image_id_layers_and_history(indexed):
    assert indexed.known_image(PYTHON["digest"]) == parts(PYTHON)
    assert indexed.known_image(ALPINE["digest"]) == parts(ALPINE)
    assert indexed.known_image(sha("never indexed")) is None


def test_the_layers_keep_their_order_and_the_history_its_empty_steps(indexed):
    known = indexed.known_image(PYTHON["digest"])
    assert [layer["instruction"] for layer in known["layers"]] == ["ADD alpine base", "ADD python", "ADD pip"]
    assert [step["empty_layer"] for step in known["history"]] == [False, True, False, False]


def test_adding_the_same_records_again_writes_nothing_new(indexed):
    before = counts(indexed)
    indexed.add_images([ALPINE, PYTHON, PYTHON_ARM], FIRST)
    assert counts(indexed) == before
    assert indexed.known_image(PYTHON["digest"]) == parts(PYTHON)


def test_seeing_a_repository_hold_an_image_again_moves_only_last_seen(indexed):
    indexed.add_images([PYTHON], THIRD)
    indexed.add_images([PYTHON], SECOND)
    seen = indexed.db.execute(
        "SELECT first_seen, last_seen FROM image_repositories WHERE repository = 'python' AND image = "
        "(SELECT id FROM images WHERE digest = ?)",
        (bytes.fromhex(PYTHON["digest"][7:]),),
    ).fetchall()
    assert [tuple(row) for row in seen] == [(FIRST, THIRD)]


def test_the_seen_at_given_wins_over_the_records(store):
    store.add_images([{**ALPINE, "seen_at": THIRD}], SECOND)
    (row,) = store.db.execute("SELECT first_seen, last_seen FROM image_repositories").fetchall()
    assert tuple(row) == (SECOND, SECOND)


def test_a_second_repository_holding_the_same_image_costs_one_row(indexed):
    before = counts(indexed)
    indexed.add_images([{**ALPINE, "repository": "alpine-mirror"}], SECOND)
    assert counts(indexed) == {**before, "image_repositories": before["image_repositories"] + 1}


def test_images_sharing_a_base_share_its_layer_and_chain_rows(indexed):
    # alpine (1 layer), python (3, the first alpine's), python arm (2): 5 layers, 5 chains.
    assert counts(indexed) == {
        "images": 3,
        "layers": 5,
        "chains": 5,
        "image_layers": 6,
        "image_repositories": 3,
    }


def test_one_blob_named_with_two_media_types_keeps_both(store):
    docker = image_record("busybox", "busybox", ["alpine base"], media_type=DOCKER_LAYER)
    store.add_images([ALPINE, docker], FIRST)
    assert store.known_image(docker["digest"]) == parts(docker)
    assert store.known_image(ALPINE["digest"]) == parts(ALPINE)


def test_an_image_the_hub_api_did_not_list_gets_its_instructions_from_a_later_record(store):
    unlisted = image_record(
        "python", "python 3.12-alpine", ["alpine base", "python", "pip"], instructions=False
    )
    store.add_images([unlisted], FIRST)
    assert [layer["instruction"] for layer in store.known_image(PYTHON["digest"])["layers"]] == [None] * 3
    store.add_images([{**PYTHON, "repository": "pypy"}], SECOND)
    assert store.known_image(PYTHON["digest"]) == parts(PYTHON)
    store.add_images([unlisted], THIRD)
    assert store.known_image(PYTHON["digest"]) == parts(PYTHON)


def found(store: Store, prefix: str) -> set[tuple[Any, ...]]:
    return {
        (match["kind"], match["repository"], match["image_digest"], match["position"], match["layer_count"])
        for match in store.find_in_images(prefix)
    }


def test_a_shared_base_layer_is_found_in_both_images_at_the_bottom(indexed):
    base = PYTHON["layers"][0]
    assert found(indexed, base["digest"]) == {
        ("layer", "alpine", ALPINE["digest"], 0, 1),
        ("layer", "python", PYTHON["digest"], 0, 3),
    }
    # The bottom layer's chain ID is its diff_id.
    assert found(indexed, base["diff_id"]) == {
        (kind, "alpine", ALPINE["digest"], 0, 1) for kind in ("diff_id", "chain_id")
    } | {(kind, "python", PYTHON["digest"], 0, 3) for kind in ("diff_id", "chain_id")}


def test_a_chain_id_above_the_base_is_found_in_the_one_image_that_has_it(indexed):
    top = PYTHON["layers"][2]
    assert found(indexed, top["chain_id"]) == {("chain_id", "python", PYTHON["digest"], 2, 3)}
    assert found(indexed, top["diff_id"]) == {("diff_id", "python", PYTHON["digest"], 2, 3)}


def test_an_image_id_is_found_as_the_image_itself(indexed):
    (match,) = indexed.find_in_images(PYTHON_ARM["image_id"])
    assert match == {
        "kind": "image_id",
        "matched": PYTHON_ARM["image_id"],
        "position": None,
        "layer_count": 2,
        "namespace": "library",
        "repository": "python",
        "image_digest": PYTHON_ARM["digest"],
        "image_id": PYTHON_ARM["image_id"],
        "platform": "linux/arm64/v8",
    }


@pytest.mark.parametrize("hex_digits", [12, 13, 40, 64])
def test_a_prefix_finds_what_the_whole_digest_finds(indexed, hex_digits):
    for digest in (PYTHON["image_id"], PYTHON["layers"][1]["digest"], PYTHON["layers"][1]["chain_id"]):
        assert found(indexed, digest[: 7 + hex_digits]) == found(indexed, digest)


def test_a_digest_nothing_holds_finds_nothing(indexed):
    assert indexed.find_in_images(sha("nothing")) == []
    assert indexed.find_in_images(PYTHON["digest"]) == []  # a manifest digest is the digest records' answer


def test_a_lookup_of_a_layer_is_an_index_range(indexed):
    plans = [
        " ".join(row["detail"] for row in indexed.db.execute(f"EXPLAIN QUERY PLAN {query}", (b"x", b"y")))
        for query in (
            "SELECT id FROM images WHERE image_id >= ? AND image_id < ?",
            "SELECT id FROM layers WHERE digest >= ? AND digest < ?",
            "SELECT id FROM layers WHERE diff_id >= ? AND diff_id < ?",
            "SELECT id FROM chains WHERE chain_id >= ? AND chain_id < ?",
        )
    ]
    assert all("USING" in plan and "INDEX" in plan for plan in plans), plans


# What a layers crawl has left: digest records written by hand, as a library crawl stores them.


def build(
    repository: str, tag_digest: str, images: list[tuple[str, str, str]], tag: str
) -> list[dict[str, Any]]:
    """A tag's digest records: its index, and each (digest, platform, last_pushed) image."""
    common = {"namespace": "library", "repository": repository, "tag": tag, "tag_digest": tag_digest,
              "os_version": None, "size": 100}  # fmt: skip
    records = [{**common, "digest": tag_digest, "platform": None, "kind": "index", "os": None,
                "architecture": None, "variant": None, "media_type": INDEX, "last_pushed": None}]  # fmt: skip
    for digest, platform, pushed in images:
        os, architecture, *variant = platform.split("/")
        records.append(
            {**common, "digest": digest, "platform": platform, "kind": "image", "os": os,
             "architecture": architecture, "variant": variant[0] if variant else None,
             "media_type": "application/vnd.oci.image.manifest.v1+json", "last_pushed": pushed}
        )  # fmt: skip
    return records


def crawl(store: Store, seen_at: str, tags: dict[tuple[str, str], tuple[str, list, str]]) -> None:
    """A crawl that saw these (repository, tag): (tag digest, images, last_updated)."""
    records, seen = [], []
    for (repository, tag), (tag_digest, images, updated) in tags.items():
        records += build(repository, tag_digest, images, tag)
        seen.append(TagSeen("library", repository, tag, tag_digest, updated))
    store.begin()
    store.add(records, seen, seen_at)
    for repository in {repository for repository, _ in tags}:
        store.complete("library", repository, seen_at)
    store.commit()


OLD_ALPINE = (sha("old alpine"), "linux/amd64", "2026-10-01T00:00:00Z")
NEW_ALPINE = (ALPINE["digest"], "linux/amd64", "2026-10-20T00:00:00Z")
PY_AMD = (PYTHON["digest"], "linux/amd64", "2026-10-10T00:00:00Z")
PY_ARM = (PYTHON_ARM["digest"], "linux/arm64/v8", "2026-10-11T00:00:00Z")


@pytest.fixture
def crawled(store):
    """alpine:latest moved from an old build to a new one; python:3.12 and its alias 3."""
    crawl(store, FIRST, {("alpine", "latest"): (sha("old index"), [OLD_ALPINE], "2026-10-01T00:00:00Z")})
    crawl(
        store,
        SECOND,
        {
            ("alpine", "latest"): (sha("new index"), [NEW_ALPINE], "2026-10-20T00:00:00Z"),
            ("python", "3.12"): (sha("python index"), [PY_AMD, PY_ARM], "2026-10-11T00:00:00Z"),
            ("python", "3"): (sha("python index"), [PY_AMD, PY_ARM], "2026-10-11T00:00:00Z"),
        },
    )
    return store


def pending_keys(pending: list[PendingImage]) -> list[tuple[str, str, str | None, bool]]:
    return [(image.repository, image.digest, image.tag, image.known) for image in pending]


def test_every_platform_image_ever_seen_waits_newest_current_first(crawled):
    assert pending_keys(crawled.pending_images("library")) == [
        ("alpine", NEW_ALPINE[0], "latest", False),
        ("python", PY_ARM[0], "3", False),  # of 3 and 3.12, updated at once: the first by name
        ("python", PY_AMD[0], "3", False),  # same tag; pushed earlier than the arm64 one
        ("alpine", OLD_ALPINE[0], None, False),  # no current tag points to it
    ]


def test_a_pending_image_carries_the_digest_records_platform(crawled):
    (arm,) = [image for image in crawled.pending_images("library") if image.digest == PY_ARM[0]]
    assert arm == PendingImage(
        digest=PY_ARM[0], namespace="library", repository="python", platform="linux/arm64/v8", os="linux",
        architecture="arm64", variant="v8", os_version=None, tag="3", known=False,
    )  # fmt: skip


def test_an_indexed_image_no_longer_waits(crawled):
    crawled.add_images([ALPINE, PYTHON], THIRD)
    assert pending_keys(crawled.pending_images("library")) == [
        ("python", PY_ARM[0], "3", False),
        ("alpine", OLD_ALPINE[0], None, False),
    ]


def test_an_image_indexed_from_another_repository_waits_as_known(crawled):
    crawled.add_images([{**PYTHON, "repository": "pypy"}], THIRD)
    (amd,) = [image for image in crawled.pending_images("library") if image.digest == PY_AMD[0]]
    assert (amd.repository, amd.known) == ("python", True)


def test_the_repositories_filter_keeps_only_theirs(crawled):
    assert {image.repository for image in crawled.pending_images("library", ["python"])} == {"python"}
    assert len(crawled.pending_images("library", ["python", "alpine"])) == 4
    assert crawled.pending_images("library", []) == []
    assert crawled.pending_images("library", ["nginx"]) == []


def test_another_namespace_has_nothing_pending(crawled):
    assert crawled.pending_images("bitnami") == []


def test_a_deleted_tags_images_still_wait_without_a_tag(crawled):
    crawl(
        crawled, THIRD, {("python", "3.12"): (sha("python index"), [PY_AMD, PY_ARM], "2026-10-11T00:00:00Z")}
    )
    tags = {image.digest: image.tag for image in crawled.pending_images("library", ["python"])}
    assert tags == {PY_AMD[0]: "3.12", PY_ARM[0]: "3.12"}
    crawl(crawled, "2026-11-22T00:00:00Z", {("python", "other"): (sha("other"), [], None)})
    tags = {image.digest: image.tag for image in crawled.pending_images("library", ["python"])}
    assert tags == {PY_AMD[0]: None, PY_ARM[0]: None}


# The ordering on its own.


def seen(digest: str, repository: str = "r", pushed: str | None = None, build: int = 1) -> ImageSeen:
    return ImageSeen(digest, repository, "linux/amd64", "linux", "amd64", None, None, pushed, build)


def test_order_ties_of_update_break_by_push_then_repository_then_digest():
    images = [seen("d2", "b", "2026-01-01"), seen("d1", "b", "2026-01-01"), seen("d3", "a", "2026-01-01"),
              seen("d4", "a", "2026-02-01")]  # fmt: skip
    current = [CurrentTag("a", 1, "t", "2026-03-01"), CurrentTag("b", 1, "t", "2026-03-01")]
    order = [image.digest for image in pending_images("library", images, current, set(), set())]
    assert order == ["d4", "d3", "d1", "d2"]


def test_an_image_in_two_builds_takes_the_newest_tag_of_either_and_its_latest_push():
    images = [seen("d", pushed="2026-01-01", build=1), seen("d", pushed="2026-02-01", build=2),
              seen("e", pushed="2026-01-15", build=3)]  # fmt: skip
    current = [CurrentTag("r", 1, "old", "2026-01-01"), CurrentTag("r", 2, "new", "2026-03-01"),
               CurrentTag("r", 3, "e", "2026-03-01")]  # fmt: skip
    found = pending_images("library", images, current, set(), set())
    assert [(image.digest, image.tag) for image in found] == [("d", "new"), ("e", "e")]


def test_images_without_a_current_tag_come_last_newest_pushed_first_none_last():
    images = [seen("a", pushed=None, build=9), seen("b", pushed="2026-01-01", build=9), seen("c", build=1)]
    current = [CurrentTag("r", 1, "t", None)]
    order = [image.digest for image in pending_images("library", images, current, set(), set())]
    assert order == ["c", "b", "a"]


def test_held_images_are_left_out_and_known_ones_marked():
    images = [seen("a"), seen("a", repository="other"), seen("b")]
    found = pending_images("library", images, [], {("a", "r")}, {"a"})
    assert [(image.digest, image.repository, image.known) for image in found] == [
        ("a", "other", True),
        ("b", "r", False),
    ]

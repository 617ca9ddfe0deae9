"""`Store.bases_of` on a real store: the official images an image a user holds was built on,
found by the layer index and named by the digest records, with their status and what is newer.

The store holds three crawls of alpine, python and a mirror repository (see `store`), and the
layer index of their images; each test holds an image and compares the answer with the data."""

from __future__ import annotations

import pytest

from hubspider.held.image import HeldImage
from hubspider.store import Store
from hubspider.store.announced import AnnouncedImage
from hubspider.store.base_queries import ANNOUNCED_TOPS, TOP_CHAINS
from tests.test_store_images import crawl, image_record, sha

FIRST, SECOND, THIRD = "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-15T00:00:00Z"
ARM = "linux/arm64/v8"

ALPINE = image_record("alpine", "alpine 3.20.3", ["alpine 3.20.3"])
ALPINE_ARM = image_record("alpine", "alpine 3.20.3", ["alpine 3.20.3 arm"], platform=ARM)
NEW_ALPINE = image_record("alpine", "alpine 3.20.4", ["alpine 3.20.4"])
NEW_ALPINE_ARM = image_record("alpine", "alpine 3.20.4", ["alpine 3.20.4 arm"], platform=ARM)
OLD_ALPINE = image_record("alpine", "alpine 3.19.0", ["alpine 3.19.0"])
EDGE = image_record("alpine", "alpine edge 1", ["alpine edge 1"])
NEW_EDGE = image_record("alpine", "alpine edge 2", ["alpine edge 2"])
# python on alpine: its first layer is alpine's.
PYTHON = image_record("python", "python 3.12.7-alpine3.20", ["alpine 3.20.3", "python 3.12.7", "pip 24"])
PYTHON_ARM = image_record(
    "python",
    "python 3.12.7-alpine3.20",
    ["alpine 3.20.3 arm", "python 3.12.7 arm", "pip 24 arm"],
    platform=ARM,
)
# The next python release has no arm64 image.
NEW_PYTHON = image_record("python", "python 3.12.8-alpine3.20", ["alpine 3.20.4", "python 3.12.8", "pip 24"])
# In the digest records only: the layers crawl has not reached it.
UNINDEXED = image_record("python", "python 3.13-alpine", ["alpine 3.20.4", "python 3.13"])

BUILDS = ("alpine 3.20.3", "alpine 3.20.4", "alpine 3.19.0", "edge 1", "edge 2", "python 3.12.7",
          "python 3.12.8", "python 3.13")  # fmt: skip
INDEX = {name: sha(f"index {name}") for name in BUILDS}


def images(*records):
    return [(record["digest"], record["platform"], FIRST) for record in records]


A1 = (INDEX["alpine 3.20.3"], images(ALPINE, ALPINE_ARM), FIRST)
A2 = (INDEX["alpine 3.20.4"], images(NEW_ALPINE, NEW_ALPINE_ARM), SECOND)
A0 = (INDEX["alpine 3.19.0"], images(OLD_ALPINE), FIRST)
E1 = (INDEX["edge 1"], images(EDGE), FIRST)
E2 = (INDEX["edge 2"], images(NEW_EDGE), SECOND)
P1 = (INDEX["python 3.12.7"], images(PYTHON, PYTHON_ARM), FIRST)
P2 = (INDEX["python 3.12.8"], images(NEW_PYTHON), SECOND)
P3 = (INDEX["python 3.13"], images(UNINDEXED), THIRD)


@pytest.fixture
def store(tmp_path):
    """FIRST: alpine 3.19.0, 3.20.3 (3.20, 3, latest), edge; python 3.12.7-alpine3.20
    (3.12-alpine3.20, 3.12-alpine); the mirror's 3.20.3 is alpine's.
    SECOND: alpine 3.19.0 deleted; 3.20.4 released, 3.20, 3 and latest move to it; edge moves;
    python 3.12.8-alpine3.20 released (amd64 only), its aliases move to it.
    THIRD: python 3.12.7-alpine3.20 deleted; 3.13-alpine released."""
    with Store(tmp_path / "store.sqlite3") as store:
        alpine = {("alpine", tag): A1 for tag in ("3.20.3", "3.20", "3", "latest")}
        python = {("python", tag): P1 for tag in ("3.12.7-alpine3.20", "3.12-alpine3.20", "3.12-alpine")}
        crawl(store, FIRST, {**alpine, ("alpine", "3.19.0"): A0, ("alpine", "edge"): E1, **python,
                             ("mirror", "3.20.3"): A1})  # fmt: skip
        alpine = {
            ("alpine", "3.20.3"): A1,
            **{("alpine", tag): A2 for tag in ("3.20.4", "3.20", "3", "latest")},
        }
        python = {("python", tag): P2 for tag in ("3.12.8-alpine3.20", "3.12-alpine3.20", "3.12-alpine")}
        crawl(store, SECOND, {**alpine, ("alpine", "edge"): E2, ("python", "3.12.7-alpine3.20"): P1, **python,
                              ("mirror", "3.20.3"): A1})  # fmt: skip
        crawl(store, THIRD, {**python, ("python", "3.13-alpine"): P3})
        indexed = [ALPINE, ALPINE_ARM, NEW_ALPINE, NEW_ALPINE_ARM, OLD_ALPINE, EDGE, NEW_EDGE, PYTHON,
                   PYTHON_ARM, NEW_PYTHON, {**ALPINE, "repository": "mirror"}]  # fmt: skip
        store.add_images(indexed, THIRD)
        yield store


def diff_ids(record) -> tuple[str, ...]:
    return tuple(layer["diff_id"] for layer in record["layers"])


def built_on(record, *own_layers: str, platform: str | None = None) -> HeldImage:
    """A user's image: `record`'s layers and some of its own."""
    layers = diff_ids(record) + tuple(sha(f"my layer {name}") for name in own_layers)
    return HeldImage(platform or record["platform"], sha(f"my config {own_layers}"), layers)


def base(record, repository, tags, matched, status, *, newer=None, **fields):
    return {
        "namespace": "library",
        "repository": repository,
        "image": f"{repository}:{tags[0]}",
        "tags": tags,
        "digest": record["digest"],
        "image_id": record["image_id"],
        "platform": record["platform"],
        "matched_layers": matched,
        "status": status,
        "newer": newer,
        **fields,
    }


def newer(repository, tag, record, since):
    return {"tag": tag, "image": f"{repository}:{tag}", "digest": record["digest"], "since": since}


ALPINE_TAGS = ["3.20.3", "3.20", "3", "latest"]
PYTHON_TAGS = ["3.12.7-alpine3.20", "3.12-alpine3.20", "3.12-alpine"]


def alpine_bases(layers: int = 1):
    return [
        base(
            ALPINE,
            "alpine",
            ALPINE_TAGS,
            layers,
            "current",
            newer=newer("alpine", "3.20.4", NEW_ALPINE, SECOND),
        ),
        base(ALPINE, "mirror", ["3.20.3"], layers, "current"),
    ]


def test_an_image_built_on_python_on_alpine_has_both_bases_deepest_first(store):
    assert store.bases_of(built_on(PYTHON, "app", "config")) == [
        base(
            PYTHON,
            "python",
            PYTHON_TAGS,
            3,
            "moved on",
            newer=newer("python", "3.12.8-alpine3.20", NEW_PYTHON, SECOND),
        ),
        *alpine_bases(),
    ]


def test_an_image_built_on_alpine_alone_has_the_alpine_image_held_by_two_repositories(store):
    assert store.bases_of(built_on(ALPINE, "app")) == alpine_bases()


def test_the_arm64_image_finds_the_arm64_v8_bases_and_no_newer_python_for_arm64(store):
    found = store.bases_of(built_on(PYTHON_ARM, "app", platform="linux/arm64"))
    assert found == [
        base(PYTHON_ARM, "python", PYTHON_TAGS, 3, "moved on"),  # 3.12.8 has no arm64 image
        base(ALPINE_ARM, "alpine", ALPINE_TAGS, 1, "current",
             newer=newer("alpine", "3.20.4", NEW_ALPINE_ARM, SECOND)),
        # The mirror's tag points to the index that holds it; the layer index only saw its amd64 image.
        base(ALPINE_ARM, "mirror", ["3.20.3"], 1, "current"),
    ]  # fmt: skip


def test_the_same_layers_on_another_platform_are_no_base(store):
    assert store.bases_of(built_on(PYTHON, "app", platform="linux/arm64")) == []
    assert store.bases_of(built_on(PYTHON, "app", platform="linux/arm/v7")) == []


def test_a_base_whose_tags_are_all_deleted_is_gone_with_nothing_newer(store):
    assert store.bases_of(built_on(OLD_ALPINE, "app")) == [base(OLD_ALPINE, "alpine", ["3.19.0"], 1, "gone")]


def test_a_base_whose_tag_moved_names_where_the_tag_is_now_since_it_moved(store):
    assert store.bases_of(built_on(EDGE, "app")) == [
        base(EDGE, "alpine", ["edge"], 1, "moved on", newer=newer("alpine", "edge", NEW_EDGE, SECOND))
    ]


def test_the_official_image_itself_is_an_exact_match_by_image_id(store):
    me = HeldImage("linux/amd64", PYTHON["image_id"], diff_ids(PYTHON))
    assert [(entry["repository"], entry["matched_layers"]) for entry in store.bases_of(me)] == [
        ("python", 3),
        ("alpine", 1),
        ("mirror", 1),
    ]


def test_an_image_id_alone_is_an_exact_match_of_its_layers_and_3_13_is_newer_in_a_track(store):
    me = HeldImage("linux/amd64", NEW_PYTHON["image_id"], ())
    # 3.12.8-alpine3.20 is the newest of its track; 3.12-alpine is not: 3.13-alpine came.
    assert store.bases_of(me) == [
        base(NEW_PYTHON, "python", ["3.12.8-alpine3.20", "3.12-alpine3.20", "3.12-alpine"], 0, "current",
             newer=newer("python", "3.13-alpine", UNINDEXED, THIRD))
    ]  # fmt: skip


def test_a_platform_manifest_digest_is_an_exact_match(store):
    me = HeldImage("linux/amd64", None, (*diff_ids(PYTHON), sha("extra")), digests=(PYTHON["digest"],))
    (first, *_) = store.bases_of(me)
    assert (first["repository"], first["digest"], first["matched_layers"]) == ("python", PYTHON["digest"], 4)


def test_an_index_digest_is_an_exact_match_of_its_image_for_the_inputs_platform(store):
    me = HeldImage("linux/arm64", None, (sha("recompressed?"),), digests=(INDEX["python 3.12.7"],))
    assert store.bases_of(me) == [base(PYTHON_ARM, "python", PYTHON_TAGS, 1, "moved on")]
    assert store.bases_of(HeldImage("linux/s390x", None, (), digests=(INDEX["python 3.12.7"],))) == []


def test_an_image_the_layer_index_lacks_is_still_an_exact_match_by_its_digest_records(store):
    me = HeldImage("linux/amd64", None, diff_ids(UNINDEXED), digests=(INDEX["python 3.13"],))
    assert store.bases_of(me) == [
        base(UNINDEXED, "python", ["3.13-alpine"], 2, "current", image_id=None),
        base(NEW_ALPINE, "alpine", ["3.20.4", "3.20", "3", "latest"], 1, "current"),
    ]


def test_a_repository_holding_the_image_without_its_tags_names_it_by_digest(store):
    store.add_images([{**EDGE, "repository": "pypy"}], THIRD)
    found = store.bases_of(built_on(EDGE, "app"))
    assert [(entry["repository"], entry["image"], entry["tags"], entry["status"]) for entry in found] == [
        ("alpine", "alpine:edge", ["edge"], "moved on"),
        ("pypy", f"pypy@{EDGE['digest']}", [], "gone"),
    ]


def test_an_unknown_image_has_no_base(store):
    assert store.bases_of(HeldImage("linux/amd64", sha("mine"), (sha("a"), sha("b")))) == []
    assert store.bases_of(HeldImage("linux/amd64", None, ())) == []


def test_the_top_chain_query_seeks_the_tops_and_never_scans_a_table(store):
    plan = [
        row["detail"]
        for row in store.db.execute(f"EXPLAIN QUERY PLAN {TOP_CHAINS.format(marks='?')}", (b"x",))
    ]
    assert plan, plan
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert not [step for step in plan if "image_layers" in step], plan


def test_a_tag_moved_to_a_new_index_that_keeps_the_image_still_points_to_it(store):
    # The mirror's 3.20.3 moves to an index rebuilt with the same amd64 image and no arm64 one.
    rebuilt = (sha("index mirror rebuilt"), images(ALPINE), THIRD)
    crawl(store, "2026-11-22T00:00:00Z", {("mirror", "3.20.3"): rebuilt})
    (_, mirror) = store.bases_of(built_on(ALPINE, "app"))
    assert mirror == base(ALPINE, "mirror", ["3.20.3"], 1, "current")
    (*_, mirror_arm) = store.bases_of(built_on(ALPINE_ARM, "app"))
    assert mirror_arm == base(ALPINE_ARM, "mirror", ["3.20.3"], 1, "moved on")


# Images the layer index lacks, found by the compressed layers the Hub API announced.


def compressed(record) -> tuple[str, ...]:
    return tuple(layer["digest"] for layer in record["layers"])


def announced(record, platform: str | None = None) -> AnnouncedImage:
    return AnnouncedImage(record["digest"], platform or record["platform"], compressed(record))


def pulled(record, *own_layers: str, platform: str | None = None, with_digests: bool = True) -> HeldImage:
    """A user's image as a layout or a registry gives it: diff_ids and compressed digests."""
    held = built_on(record, *own_layers, platform=platform)
    own = tuple(sha(f"my gzip {name}") for name in own_layers)
    return HeldImage(
        held.platform, held.image_id, held.diff_ids, compressed(record) + own if with_digests else None
    )


def test_an_unindexed_image_is_a_base_by_its_announced_compressed_layers(store):
    store.add_announced([("library", "python", [announced(UNINDEXED)])])
    assert store.bases_of(pulled(UNINDEXED, "app")) == [
        base(UNINDEXED, "python", ["3.13-alpine"], 2, "current", image_id=None),
        base(NEW_ALPINE, "alpine", ["3.20.4", "3.20", "3", "latest"], 1, "current"),
    ]


def test_without_compressed_digests_the_announced_image_is_no_base(store):
    store.add_announced([("library", "python", [announced(UNINDEXED)])])
    expected = [base(NEW_ALPINE, "alpine", ["3.20.4", "3.20", "3", "latest"], 1, "current")]
    assert store.bases_of(pulled(UNINDEXED, "app", with_digests=False)) == expected
    # Recompressed layers (a classic store's push) carry other digests: no match either.
    recompressed = pulled(UNINDEXED, "app")
    other = HeldImage(
        recompressed.platform, None, recompressed.diff_ids, tuple(sha(f"re {n}") for n in "abc")
    )
    assert store.bases_of(other) == expected


def test_an_announced_image_of_another_platform_is_no_base(store):
    store.add_announced([("library", "python", [announced(UNINDEXED, platform=ARM)])])
    assert [entry["digest"] for entry in store.bases_of(pulled(UNINDEXED, "app"))] == [NEW_ALPINE["digest"]]


def test_announcing_an_indexed_image_changes_none_of_its_answers(store):
    held = pulled(PYTHON, "app")
    before = store.bases_of(held)
    store.add_announced([("library", name, [announced(record)]) for name, record in
                         (("python", PYTHON), ("alpine", ALPINE), ("pypy", ALPINE))])  # fmt: skip
    assert store.bases_of(held) == before
    assert [entry["repository"] for entry in before] == ["python", "alpine", "mirror"]


def test_an_announced_image_counts_every_repository_the_hub_api_listed_it_in(store):
    # Twice: writes are idempotent.
    for _ in range(2):
        store.add_announced(
            [("library", "python", [announced(UNINDEXED)]), ("library", "pypy", [announced(UNINDEXED)])]
        )
    (pypy, python, _) = store.bases_of(pulled(UNINDEXED, "app"))  # by repository name
    assert python["image"] == "python:3.13-alpine"
    assert (pypy["image"], pypy["tags"], pypy["matched_layers"], pypy["image_id"]) == (
        f"pypy@{UNINDEXED['digest']}", [], 2, None,
    )  # fmt: skip
    assert store.db.execute("SELECT count(*) FROM announced").fetchone()[0] == 1


def test_the_announced_query_seeks_rows_and_never_scans_a_table(store):
    plan = [
        row["detail"]
        for row in store.db.execute(f"EXPLAIN QUERY PLAN {ANNOUNCED_TOPS.format(marks='?,?')}", (b"x", b"y"))
    ]
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert any("announced_by_top" in step for step in plan), plan

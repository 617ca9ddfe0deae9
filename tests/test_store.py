"""The SQLite store on its own: history is kept, only `last_seen` moves, completeness closes."""

from __future__ import annotations

from collections import Counter

import pytest

from hubspider.records import TagSeen, tag_records, tag_target
from hubspider.store import Store
from tests.helpers import load_response

FIRST, SECOND, THIRD = "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-15T00:00:00Z"


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "store.sqlite3")
    yield store
    store.close()


def page(file: str = "tags_alpine.json", repository: str = "alpine", seen_at: str = FIRST, rename=None):
    """A stored page's records and tags, as the pipelines hand them to the store."""
    records, tags = [], []
    for original in load_response(file)["results"]:
        tag = rename(original) if rename else original
        found = tag_records(tag, "library", repository, seen_at, Counter())
        records += found
        target = tag_target(tag.get("digest"), (record["digest"] for record in found))
        tags.append(TagSeen("library", repository, tag["name"], target, tag["last_updated"]))
    return records, tags


def rows(store: Store, table: str = "records") -> list[dict]:
    return [dict(row) for row in store.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")]


def test_a_crawl_adds_one_row_per_record(store):
    records, tags = page()
    store.add(records, tags, FIRST)
    assert len(rows(store)) == len(records)
    assert {(row["first_seen"], row["last_seen"]) for row in rows(store)} == {(FIRST, FIRST)}


def test_seeing_the_same_again_moves_only_last_seen(store):
    store.add(*page(), FIRST)
    before = rows(store)
    store.add(*page(seen_at=SECOND), SECOND)
    after = rows(store)
    assert [{**row, "last_seen": None} for row in before] == [{**row, "last_seen": None} for row in after]
    assert {row["last_seen"] for row in after} == {SECOND}


def test_an_older_export_does_not_move_last_seen_back(store):
    store.add(*page(seen_at=SECOND), SECOND)
    store.add(*page(), FIRST)
    assert {(row["first_seen"], row["last_seen"]) for row in rows(store)} == {(FIRST, SECOND)}


def moved_latest(tag):
    if tag["name"] != "latest":
        return tag
    # latest re-pushed: it now points where 3.19 points
    other = next(t for t in load_response("tags_alpine.json")["results"] if t["name"] == "3.19")
    return {**other, "name": "latest"}


def test_a_moved_tag_gets_new_rows_and_keeps_its_old_ones(store):
    store.add(*page(), FIRST)
    store.add(*page(seen_at=SECOND, rename=moved_latest), SECOND)
    latest = store.image_history("library", "alpine", "latest", None)
    old = [row for row in latest if row["tag_digest"].startswith("sha256:beefdbd8")]
    new = [row for row in latest if not row["tag_digest"].startswith("sha256:beefdbd8")]
    assert old
    assert new
    assert not any(row["current"] for row in old)
    assert all(row["current"] for row in new)
    (moved,) = store.changes(SECOND)
    assert (moved["change"], moved["tag"]) == ("moved", "latest")


def test_a_complete_crawl_closes_tags_it_did_not_see(store):
    store.add(*page(), FIRST)
    records, tags = page(seen_at=SECOND)
    keep = [tag for tag in tags if tag.tag != "3.19"]
    store.add([r for r in records if r["tag"] != "3.19"], keep, SECOND)
    store.complete("library", "alpine", SECOND)
    assert "3.19" not in store.current_tags("library", "alpine")
    assert not any(row["current"] for row in store.image_history("library", "alpine", "3.19", None))
    assert [(row["change"], row["tag"]) for row in store.changes(SECOND)] == [("disappeared", "3.19")]


def test_an_interrupted_crawl_closes_nothing(store):
    store.add(*page(), FIRST)
    store.complete("library", "alpine", FIRST)
    records, tags = page(seen_at=SECOND)
    store.add([r for r in records if r["tag"] == "latest"], [t for t in tags if t.tag == "latest"], SECOND)
    assert sorted(store.current_tags("library", "alpine")) == ["3", "3.19", "3.20", "3.20.3", "latest"]
    assert all(row["current"] for row in store.image_history("library", "alpine", "3.19", None))


def test_carry_forward_brings_what_was_not_read_up_to_now(store):
    store.add(*page(), FIRST)
    store.complete("library", "alpine", FIRST)
    records, tags = page(seen_at=SECOND, rename=moved_latest)
    store.add([r for r in records if r["tag"] == "latest"], [t for t in tags if t.tag == "latest"], SECOND)
    store.carry_forward("library", "alpine", SECOND)
    store.complete("library", "alpine", SECOND)
    history = rows(store)
    old_latest = [
        r for r in history if r["tag"] == "latest" and r["tag_digest"].startswith("sha256:beefdbd8")
    ]
    assert {r["last_seen"] for r in old_latest} == {FIRST}
    others = [r for r in history if r["tag"] != "latest"]
    assert {r["last_seen"] for r in others} == {SECOND}
    assert not list(store.changes(SECOND))[1:]  # only the move


def test_new_tags_appear_but_not_on_the_first_crawl(store):
    store.add(*page(), FIRST)
    assert list(store.changes(FIRST)) == []
    store.add(*page(seen_at=SECOND, rename=lambda tag: {**tag, "name": tag["name"] + "-new"}), SECOND)
    appeared = {row["tag"] for row in store.changes(SECOND) if row["change"] == "appeared"}
    assert appeared == {"latest-new", "3-new", "3.20-new", "3.20.3-new", "3.19-new"}


def test_find_digest_takes_a_prefix(store):
    store.add(*page(), FIRST)
    full = store.find_digest("sha256:9cee2b382fe2412cd77d5d437d15a93da8de373813621f2e4d406e3df0cf0e7c")
    short = store.find_digest("sha256:9cee2b382fe2")
    assert [dict(r) for r in full] == [dict(r) for r in short]
    assert {row["tag"] for row in short} == {"latest", "3", "3.20", "3.20.3"}


def test_index_records_are_stored_with_an_empty_platform(store):
    store.add(*page(), FIRST)
    (index,) = {row["platform"] for row in store.find_digest("sha256:beefdbd8a1da")}
    assert index == ""


def test_baselines_name_the_last_complete_crawl_and_its_tags(store):
    store.add(*page(), FIRST)
    store.complete("library", "alpine", FIRST)
    store.add(*page("tags_rust_edge_cases.json", "rust"), FIRST)  # never complete
    baselines = store.baselines("library")
    assert set(baselines) == {"alpine"}
    assert baselines["alpine"].since == FIRST
    assert baselines["alpine"].tags == {"latest", "3", "3.20", "3.20.3", "3.19"}


def test_tags_without_records_are_kept_too(store):
    store.add(*page("tags_rust_edge_cases.json", "rust"), FIRST)
    assert "1.44.1-slim" in store.current_tags("library", "rust")
    assert store.tag_target_now("library", "rust", "1.43.0-slim-stretch").startswith("sha256:")


def test_a_build_first_seen_in_part_is_completed_later(store):
    records, tags = page()
    latest = [record for record in records if record["tag"] == "latest"]
    store.add(latest[:3], [tag for tag in tags if tag.tag == "latest"], FIRST)  # a cut-off export
    store.add(records, tags, FIRST)
    assert len(store.image_history("library", "alpine", "latest", None)) == len(latest)


def test_a_tag_seen_again_without_its_records_keeps_them(store):
    records, tags = page()
    store.add(records, tags, FIRST)
    store.add([], tags, SECOND)  # served again on a later page; its records went before
    assert len(store.image_history("library", "alpine", "latest", None)) == 9

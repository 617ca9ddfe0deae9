"""Crawls into the store while the emulator's Hub changes between them; the commands read it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections import Counter

import pytest

from fakehub import HubServer, make_hub
from fakehub.data import evolve
from hubspider.records import TagSeen, tag_records
from hubspider.store import Store
from tests.helpers import as_keys, load_response, records_of, run_command, run_crawl, without_seen_at

# Every test here runs the project's commands in a subprocess.
pytestmark = pytest.mark.e2e


def crawl(server, workdir, store, *arguments):
    result = run_crawl(server.url, workdir, "-s", f"HUB_STORE_PATH={store}", *arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# What two stores of the same history hold alike: their tables less the ids the store numbers
# rows with, which follow the order pages were written in.
TABLES = {
    "records": "SELECT * FROM records",
    "tags": """
        SELECT t.namespace, t.repository, t.tag, t.last_updated, t.first_seen, t.last_seen, t.moved_at,
               t.gone_at, b.target
          FROM tags AS t JOIN builds AS b ON b.id = t.build
    """,
    "repositories": "SELECT * FROM repositories",
}


def table(path, name: str) -> list[dict]:
    """A table with its crawl times replaced by their order (1, 2, ...), so two stores compare."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    found = [dict(row) for row in db.execute(TABLES[name])]
    for row in found:
        if isinstance(row.get("target"), bytes):
            row["target"] = row["target"].hex()
    times = sorted(
        {row[0] for row in db.execute("SELECT first_seen FROM tags UNION SELECT last_seen FROM tags")}
    )
    db.close()
    order = {moment: index for index, moment in enumerate(times, 1)}
    stamped = ("first_seen", "last_seen", "moved_at", "gone_at", "last_complete")
    return sorted(
        (json.dumps({k: order.get(v, v) if k in stamped else v for k, v in row.items()}, sort_keys=True)
         for row in found),
    )  # fmt: skip


@pytest.fixture
def hub():
    return make_hub()


@pytest.fixture
def server(hub):
    with HubServer(hub) as server:
        yield server


def test_the_store_holds_exactly_what_the_crawl_exported(server, hub, tmp_path):
    result = crawl(server, tmp_path, tmp_path / "store.sqlite3")
    expected = as_keys(hub.expected_records("library"))
    assert as_keys(without_seen_at(result.records())) == expected
    assert as_keys(records_of(tmp_path / "store.sqlite3")) == expected


def test_the_same_crawl_again_changes_nothing_but_last_seen(server, tmp_path):
    store = tmp_path / "store.sqlite3"
    crawl(server, tmp_path, store)
    first = table(store, "records")
    time.sleep(1.1)  # crawl times are to the second
    crawl(server, tmp_path, store)
    second = table(store, "records")
    assert [json.loads(row) | {"last_seen": 0} for row in first] == [
        json.loads(row) | {"last_seen": 0} for row in second
    ]
    assert {json.loads(row)["last_seen"] for row in second} == {2}


@pytest.fixture
def changed(server, hub, tmp_path):
    """A store with one crawl before and one after Hub changed; and what changed."""
    store = tmp_path / "store.sqlite3"
    crawl(server, tmp_path, store)
    time.sleep(1.1)
    evolution = evolve(hub)
    crawl(server, tmp_path, store)
    return store, evolution


def test_lookup_of_a_moved_tags_old_digest_says_it_moved_on(changed, tmp_path):
    store, evolution = changed
    (repository, tag), old_digest = next(iter(evolution.old_digests.items()))
    result = run_command(tmp_path, "lookup", "--store", str(store), "--json", old_digest[:19])
    assert result.returncode == 0, result.stderr
    (match,) = [
        m for m in json.loads(result.stdout) if m["repository"] == repository and m["platform"] is None
    ]
    entry = next(entry for entry in match["tags"] if entry["tag"] == tag)
    assert entry["current"] is False
    assert entry["moved_to"] is not None
    assert entry["moved_to"] != old_digest


def test_history_shows_both_digests_of_a_moved_tag(changed, tmp_path):
    store, evolution = changed
    (repository, tag), old_digest = next(iter(evolution.old_digests.items()))
    result = run_command(tmp_path, "history", "--store", str(store), "--json", f"{repository}:{tag}")
    assert result.returncode == 0, result.stderr
    index = [entry for entry in json.loads(result.stdout) if entry["platform"] is None]
    assert [entry["digest"] == old_digest for entry in index] == [True, False]
    assert [entry["current"] for entry in index] == [False, True]


def test_changes_lists_what_moved_appeared_and_disappeared(changed, tmp_path):
    store, evolution = changed
    result = run_command(tmp_path, "changes", "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    found = {(c["change"], c["repository"], c["tag"]) for c in json.loads(result.stdout)}
    expected = {("moved", *t) for t in evolution.moved}
    expected |= {("appeared", *t) for t in evolution.added}
    expected |= {("disappeared", *t) for t in evolution.deleted}
    assert found == expected


def test_changes_since_a_date_before_every_crawl_shows_all_changes(changed, tmp_path):
    store, evolution = changed
    result = run_command(tmp_path, "changes", "--store", str(store), "--since", "2020-01-01")
    assert result.returncode == 0, result.stderr
    moved = sum(line.startswith("moved") for line in result.stdout.splitlines())
    assert moved == len(evolution.moved)


def full_and_incremental(server, hub, tmp_path, *arguments, **changes):
    """The same second crawl, after Hub changed, full into one copy of the store and
    incremental into another; the requests each made."""
    full, incremental = tmp_path / "full.sqlite3", tmp_path / "incremental.sqlite3"
    crawl(server, tmp_path, full, *arguments)
    shutil.copy(full, incremental)
    time.sleep(1.1)
    evolution = evolve(hub, **changes)
    asked = sum(server.requests.values())
    crawl(server, tmp_path, full, *arguments)
    full_requests = sum(server.requests.values()) - asked
    asked = sum(server.requests.values())
    crawl(server, tmp_path, incremental, *arguments, "-a", "since=auto")
    incremental_requests = sum(server.requests.values()) - asked
    for name in ("records", "tags", "repositories"):
        assert table(incremental, name) == table(full, name), name
    return evolution, full_requests, incremental_requests


def test_incremental_refresh_equals_a_full_crawl_in_about_one_request_a_repository(tmp_path):
    hub = make_hub(12, 5_000)
    no_cap = ("-s", "HUB_ANONYMOUS_OFFSET_CAP=0")
    with HubServer(hub, anonymous_offset_cap=None) as server:
        _, full, incremental = full_and_incremental(
            server, hub, tmp_path, *no_cap, moved=3, added=2, deleted=0
        )
    assert incremental == 1 + len(hub.namespaces["library"])  # the listing, and one page each
    assert incremental * 3 < full


def test_a_deletion_makes_the_incremental_refresh_read_that_repository_whole(server, hub, tmp_path):
    evolution, _, incremental = full_and_incremental(server, hub, tmp_path, moved=1, added=0, deleted=1)
    ((repository, _),) = evolution.deleted
    pages = -(-len(hub.namespaces["library"][repository].tags) // 100)
    assert incremental == 1 + len(hub.namespaces["library"]) + pages - 1


def test_an_export_imported_equals_the_crawls_own_store(server, tmp_path):
    crawled = tmp_path / "crawled.sqlite3"
    crawl(server, tmp_path, crawled)
    imported = tmp_path / "imported.sqlite3"
    result = run_command(tmp_path, "import", "--store", str(imported), "digests.jsonl")
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
    assert table(imported, "records") == table(crawled, "records")


def test_import_names_lines_that_are_not_records(tmp_path):
    export = tmp_path / "broken.jsonl"
    export.write_text('{"digest": "sha256:nothex"}\nnot json\n')
    result = run_command(tmp_path, "import", "--store", str(tmp_path / "s.sqlite3"), str(export))
    assert result.returncode == 1
    assert "broken.jsonl:1: not a digest record" in result.stderr
    assert "broken.jsonl:2: not a digest record" in result.stderr


@pytest.fixture
def versioned_store(tmp_path):
    """alpine's tags at one time, and later a 3.20.4 pushed beside 3.20.3."""
    path = tmp_path / "versions.sqlite3"
    store = Store(path)
    tags = load_response("tags_alpine.json")["results"]
    for seen_at, names in (("2026-11-01T00:00:00Z", {"latest", "3", "3.20", "3.20.3"}),):
        records, seen = [], []
        for tag in tags:
            if tag["name"] in names:
                records += tag_records(tag, "library", "alpine", seen_at, Counter())
                seen.append(TagSeen("library", "alpine", tag["name"], tag["digest"], tag["last_updated"]))
        store.add(records, seen, seen_at)
    newer = next(tag for tag in tags if tag["name"] == "3.19") | {"name": "3.20.4"}
    store.add(
        tag_records(newer, "library", "alpine", "2026-11-08T00:00:00Z", Counter()),
        [TagSeen("library", "alpine", "3.20.4", newer["digest"], newer["last_updated"])],
        "2026-11-08T00:00:00Z",
    )
    store.close()
    return path


def test_lookup_ranks_aliases_most_specific_first(versioned_store, tmp_path):
    result = run_command(tmp_path, "lookup", "--store", str(versioned_store), "sha256:beefdbd8a1da")
    assert result.returncode == 0, result.stderr
    assert "alpine:3.20.3, alpine:3.20, alpine:3, alpine:latest" in result.stdout


def test_lookup_names_the_newest_tag_in_the_same_track(versioned_store, tmp_path):
    result = run_command(tmp_path, "lookup", "--json", "--store", str(versioned_store), "sha256:beefdbd8a1da")
    (match,) = json.loads(result.stdout)
    newer = {entry["tag"]: entry["newer_in_track"] for entry in match["tags"]}
    assert newer == {"3.20.3": "3.20.4", "3.20": None, "3": None, "latest": None}


def test_lookup_of_an_unknown_digest_exits_1(versioned_store, tmp_path):
    result = run_command(tmp_path, "lookup", "--store", str(versioned_store), "sha256:000000000000")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: unknown digest")


@pytest.mark.parametrize("digest", ["sha256:beef", "beefdbd8a1dz", "", "sha512:beefdbd8a1da6d29"])
def test_lookup_of_a_malformed_digest_is_a_one_line_error(versioned_store, tmp_path, digest):
    result = run_command(tmp_path, "lookup", "--store", str(versioned_store), digest)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_history_filters_by_platform(versioned_store, tmp_path):
    result = run_command(
        tmp_path,
        "history",
        "--store",
        str(versioned_store),
        "--json",
        "--platform",
        "linux/arm64/v8",
        "alpine:3",
    )
    (entry,) = json.loads(result.stdout)
    assert entry["platform"] == "linux/arm64/v8"


def test_history_of_an_unknown_image_exits_1(versioned_store, tmp_path):
    result = run_command(tmp_path, "history", "--store", str(versioned_store), "alpine:9.9")
    assert result.returncode == 1

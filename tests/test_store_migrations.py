"""A store written before schema versions (version 1), or by version 2, opened by today's code:
migrated once, in place, and answering every question exactly as the code that wrote it did."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from hubspider.store import VERSION, Store, StoreError
from hubspider.store.announced import AnnouncedImage
from hubspider.store.schema import (
    SCHEMA_1,
    migrate_1_to_2,
    migrate_2_to_3,
    run_script,
    stored_version,
    upgrade,
)
from tests.helpers import records_of, run_command
from tests.test_store_images import ALPINE, PYTHON, PYTHON_ARM

V1_STORE = Path(__file__).parent / "data" / "store-v1.sqlite3.gz"

# What the version 1 code asked of its tables, word for word.
V1_WITH_CURRENT = """
SELECT r.*, (t.gone_at IS NULL AND r.last_seen = t.last_seen) AS current
  FROM records AS r
  JOIN tags AS t USING (namespace, repository, tag)
 WHERE {condition}
"""
V1_FIND_DIGEST = (
    "r.target IN (SELECT target FROM digests WHERE digest >= :low AND digest < :high) "
    "AND r.digest >= :low AND r.digest < :high"
)
V1_HISTORY = "r.namespace = :namespace AND r.repository = :repository AND r.tag = :tag"
V1_CHANGES = """
WITH first_crawl AS (
    SELECT namespace, repository, min(first_seen) AS at FROM tags GROUP BY namespace, repository
)
SELECT 'moved' AS change, namespace, repository, tag, moved_at AS at FROM tags
 WHERE moved_at >= :since
UNION ALL
SELECT 'appeared', namespace, repository, tag, first_seen
  FROM tags JOIN first_crawl USING (namespace, repository)
 WHERE first_seen >= :since AND first_seen > first_crawl.at
UNION ALL
SELECT 'disappeared', namespace, repository, tag, gone_at FROM tags WHERE gone_at >= :since
ORDER BY namespace, repository, tag
"""
V1_BASELINES = """
SELECT r.repository, r.last_complete, t.tag FROM repositories AS r
  LEFT JOIN tags AS t ON t.namespace = r.namespace AND t.repository = r.repository AND t.gone_at IS NULL
 WHERE r.namespace = ?
"""

EARLY = "2000-01-01T00:00:00Z"


def as_set(rows: list[Any]) -> list[str]:
    """Rows as sorted canonical strings: SQL leaves the order of ties open."""
    return sorted(json.dumps(dict(row), sort_keys=True) for row in rows)


def v1_answers(path: Path) -> dict[str, Any]:
    """Everything the commands can answer from a version 1 store, asked as version 1 asked it."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:

        def with_current(condition: str, parameters: dict[str, str]) -> list[sqlite3.Row]:
            return db.execute(V1_WITH_CURRENT.format(condition=condition), parameters).fetchall()

        tags = [dict(row) for row in db.execute("SELECT * FROM tags")]
        digests = sorted({row[0] for row in db.execute("SELECT digest FROM records")})
        answers: dict[str, Any] = {
            "records": as_set(db.execute("SELECT * FROM records").fetchall()),
            "tags": as_set(tags),
            "repositories": as_set(db.execute("SELECT * FROM repositories").fetchall()),
            "records_of": as_set(records_of(path)),
            "last_crawl": db.execute("SELECT max(last_seen) FROM tags").fetchone()[0],
        }
        for digest in digests:
            for prefix in (digest, digest[:19], digest[:20]):  # whole, 12 and 13 hex characters
                high = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                found = with_current(V1_FIND_DIGEST, {"low": prefix, "high": high})
                answers[f"find_digest {prefix}"] = as_set(found)
        for tag in tags:
            image = {key: tag[key] for key in ("namespace", "repository", "tag")}
            name = "/".join(image.values())
            history = with_current(V1_HISTORY, image)
            answers[f"image_history {name}"] = as_set(history)
            for platform in {row["platform"] for row in history}:
                condition = f"{V1_HISTORY} AND r.platform = :platform"
                answers[f"image_history {name} {platform}"] = as_set(
                    with_current(condition, image | {"platform": platform})
                )
            now = "SELECT target FROM tags WHERE namespace = ? AND repository = ? AND tag = ? "
            row = db.execute(now + "AND gone_at IS NULL", tuple(image.values())).fetchone()
            answers[f"tag_target_now {name}"] = row[0] if row else None
            current = "SELECT tag FROM tags WHERE namespace = ? AND repository = ? AND gone_at IS NULL"
            answers[f"current_tags {tag['repository']}"] = sorted(
                row[0] for row in db.execute(current, (tag["namespace"], tag["repository"]))
            )
        for since in times(tags):
            answers[f"changes {since}"] = [dict(row) for row in db.execute(V1_CHANGES, {"since": since})]
        baselines: dict[str, tuple[str, set[str]]] = {}
        for row in db.execute(V1_BASELINES, ("library",)):
            names = baselines.setdefault(row["repository"], (row["last_complete"], set()))[1]
            if row["tag"] is not None:
                names.add(row["tag"])
        answers["baselines"] = {name: (since, sorted(names)) for name, (since, names) in baselines.items()}
        return answers
    finally:
        db.close()


def v2_answers(store: Store, tags: list[dict[str, Any]]) -> dict[str, Any]:
    """The same questions, asked of today's store through its methods."""
    target = "CASE typeof(b.target) WHEN 'blob' THEN 'sha256:' || lower(hex(b.target)) ELSE b.target END"
    tag_rows = store.db.execute(
        f"SELECT t.namespace, t.repository, t.tag, {target} AS target, t.last_updated, t.first_seen, "
        "t.last_seen, t.moved_at, t.gone_at FROM tags AS t JOIN builds AS b ON b.id = t.build"
    ).fetchall()
    answers: dict[str, Any] = {
        "records": as_set(store.db.execute("SELECT * FROM records").fetchall()),
        "tags": as_set(tag_rows),
        "repositories": as_set(store.db.execute("SELECT * FROM repositories").fetchall()),
        "records_of": as_set(records_of(store.path)),
        "last_crawl": store.last_crawl(),
    }
    digests = sorted({row[0] for row in store.db.execute("SELECT digest FROM records")})
    for digest in digests:
        for prefix in (digest, digest[:19], digest[:20]):
            answers[f"find_digest {prefix}"] = as_set(store.find_digest(prefix))
    for tag in tags:
        image = (tag["namespace"], tag["repository"], tag["tag"])
        name = "/".join(image)
        history = store.image_history(*image, None)
        answers[f"image_history {name}"] = as_set(history)
        assert [(row["first_seen"], row["platform"]) for row in history] == sorted(
            (row["first_seen"], row["platform"]) for row in history
        )
        for platform in {row["platform"] for row in history}:
            answers[f"image_history {name} {platform}"] = as_set(store.image_history(*image, platform))
        answers[f"tag_target_now {name}"] = store.tag_target_now(*image)
        answers[f"current_tags {tag['repository']}"] = sorted(store.current_tags(*image[:2]))
    for since in times(tags):
        answers[f"changes {since}"] = [dict(row) for row in store.changes(since)]
    answers["baselines"] = {
        name: (baseline.since, sorted(baseline.tags)) for name, baseline in store.baselines("library").items()
    }
    return answers


def times(tags: list[dict[str, Any]]) -> list[str]:
    """Every moment a store of these tags knows, and one before them all."""
    stamps = ("first_seen", "last_seen", "moved_at", "gone_at")
    return sorted({EARLY} | {tag[key] for tag in tags for key in stamps if tag[key]})


def v1_tags(path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("SELECT * FROM tags")]
    finally:
        db.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    """The store the code before versions wrote in two crawls of the emulator."""
    path = tmp_path / "store.sqlite3"
    path.write_bytes(gzip.decompress(V1_STORE.read_bytes()))
    return path


def test_the_version_1_store_is_what_the_test_says_it_is(v1_store):
    assert user_version(v1_store) == 0
    answers = v1_answers(v1_store)
    assert len(answers["records"]) == 579
    assert len(answers["tags"]) == 120
    assert len(answers["baselines"]) == 4


def test_a_version_1_store_answers_exactly_as_before_once_migrated(v1_store):
    before = v1_answers(v1_store)
    tags = v1_tags(v1_store)
    with Store(v1_store) as store:
        after = v2_answers(store, tags)
    assert user_version(v1_store) == VERSION
    assert after.keys() == before.keys()
    for question, answer in before.items():
        assert after[question] == answer, question


def test_a_second_open_of_a_migrated_store_changes_nothing(v1_store):
    with Store(v1_store):
        pass
    migrated = v1_store.read_bytes()
    with Store(v1_store) as store:
        statements: list[str] = []
        store.db.set_trace_callback(statements.append)
        store.last_crawl()
    assert v1_store.read_bytes() == migrated
    assert statements == ["SELECT max(last_seen) AS at FROM tags"]


def test_the_migration_gives_the_space_of_the_old_tables_back(v1_store):
    size = v1_store.stat().st_size
    with Store(v1_store):
        pass
    assert v1_store.stat().st_size < size


def test_a_read_only_open_upgrades_a_writable_store_in_place(v1_store):
    before = v1_answers(v1_store)
    tags = v1_tags(v1_store)
    with Store(v1_store, read_only=True) as store:
        assert v2_answers(store, tags) == before
    assert user_version(v1_store) == VERSION


def test_a_read_only_open_of_a_store_it_cannot_upgrade_says_what_will(v1_store, monkeypatch):
    monkeypatch.setattr("hubspider.store.opening.os.access", lambda path, mode: False)
    before = v1_store.read_bytes()
    with pytest.raises(StoreError) as raised:
        Store(v1_store, read_only=True)
    assert str(raised.value) == (
        f"store {v1_store} has schema version 1, older than this hubspider's ({VERSION}), "
        "and cannot be upgraded here (read-only): a crawl or an import upgrades it"
    )
    assert v1_store.read_bytes() == before


def newer(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    return path


@pytest.mark.parametrize("read_only", [False, True])
def test_a_store_of_a_newer_version_is_refused_in_one_line(v1_store, read_only):
    path = newer(v1_store)
    before = path.read_bytes()
    with pytest.raises(StoreError) as raised:
        Store(path, read_only=read_only)
    assert str(raised.value) == (
        f"store {path} has schema version {VERSION + 1}, newer than this hubspider's ({VERSION}): "
        "use the hubspider that wrote it, or a later one"
    )
    assert path.read_bytes() == before


@pytest.mark.e2e
def test_lookup_works_on_an_upgraded_store(v1_store, tmp_path):
    answers = v1_answers(v1_store)
    # The 12-hex prefix of the digest with the most rows: alias tags, and more than one crawl.
    prefixes = [question.split()[1] for question in answers if question.startswith("find_digest sha256:")]
    prefix = max(
        (prefix for prefix in prefixes if len(prefix) == 19), key=lambda p: len(answers[f"find_digest {p}"])
    )
    rows = [json.loads(row) for row in answers[f"find_digest {prefix}"]]
    result = run_command(tmp_path, "lookup", "--json", "--store", str(v1_store), prefix)
    assert result.returncode == 0, result.stderr
    shown = {
        (match["digest"], match["repository"], match["platform"] or "", tag["tag"], tag["current"])
        for match in json.loads(result.stdout)
        for tag in match["tags"]
    }
    assert shown == {
        (row["digest"], row["repository"], row["platform"], row["tag"], bool(row["current"])) for row in rows
    }
    assert len(shown) > 1
    assert user_version(v1_store) == VERSION


@pytest.mark.e2e
def test_lookup_of_a_newer_store_is_one_line_and_exit_2(v1_store, tmp_path):
    result = run_command(tmp_path, "lookup", "--store", str(newer(v1_store)), "sha256:0170c443cae6")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: store {v1_store} has schema version {VERSION + 1}, newer than this hubspider's ({VERSION}): "
        "use the hubspider that wrote it, or a later one"
    ]


# Version 1 stores with what the emulator's two crawls did not make: moved and deleted tags, a
# tag without a tag digest (its target the image digests, joined), a build without records.

T1, T2 = "2026-11-01T06:00:00Z", "2026-11-08T06:00:00Z"


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def build_records(target: str, *platforms: str | None) -> str:
    """A version 1 build's records column: JSON objects, as json.dumps wrote them."""
    return json.dumps(
        [
            {"digest": digest(f"{target}{platform}") if platform else target, "platform": platform,
             "kind": "image" if platform else "index", "os": platform and "linux",
             "architecture": platform and platform.split("/")[1], "variant": None, "os_version": None,
             "tag_digest": None if "," in target else target,
             "media_type": "application/vnd.oci.image.index.v1+json", "size": 7 if platform else None,
             "last_pushed": T1}
            for platform in platforms
        ],
        separators=(",", ":"),
    )  # fmt: skip


def hand_made_v1_store(path: Path) -> Path:
    old, new, joined = digest("old"), digest("new"), f"{digest('a')},{digest('b')}"
    empty = digest("empty")
    builds = {
        old: build_records(old, "linux/amd64", None),
        new: build_records(new, "linux/amd64", "linux/arm64", None),
        joined: build_records(joined, "linux/amd64", "linux/arm64"),
        empty: "[]",
    }
    db = sqlite3.connect(path, isolation_level=None)
    run_script(db, SCHEMA_1)
    for target, records in builds.items():
        db.execute("INSERT INTO builds VALUES (?, ?, ?)", (target, records, len(json.loads(records))))
        for record in json.loads(records):
            db.execute("INSERT INTO digests VALUES (?, ?)", (record["digest"], target))
    tags = [
        ("latest", new, T1, T2, T2, None),  # moved from old to new at T2
        ("1", old, T1, T1, None, T2),  # deleted at T2
        ("joined", joined, T1, T2, None, None),
        ("bare", empty, T2, T2, None, None),  # appeared at T2, no records
    ]
    for tag, target, first, last, moved, gone in tags:
        db.execute(
            "INSERT INTO tags VALUES ('library', 'alpine', ?, ?, ?, ?, ?, ?, ?)",
            (tag, target, T1, first, last, moved, gone),
        )
    sightings = [("latest", old, T1, T1), ("latest", new, T2, T2), ("1", old, T1, T1)]
    sightings += [("joined", joined, T1, T2), ("bare", empty, T2, T2)]
    for sighting in sightings:
        db.execute("INSERT INTO sightings VALUES ('library', 'alpine', ?, ?, ?, ?)", sighting)
    db.execute("INSERT INTO repositories VALUES ('library', 'alpine', ?)", (T2,))
    db.close()
    return path


def test_moved_and_deleted_tags_and_joined_targets_survive_the_migration(tmp_path):
    path = hand_made_v1_store(tmp_path / "store.sqlite3")
    before = v1_answers(path)
    tags = v1_tags(path)
    with Store(path) as store:
        after = v2_answers(store, tags)
        joined = store.tag_target_now("library", "alpine", "joined")
    assert after == before
    assert joined == f"{digest('a')},{digest('b')}"
    assert [change["change"] for change in after[f"changes {T2}"]] == ["disappeared", "appeared", "moved"]


def test_a_version_1_store_lacking_a_table_gets_it(tmp_path):
    path = hand_made_v1_store(tmp_path / "store.sqlite3")
    db = sqlite3.connect(path)
    db.execute("DROP TABLE repositories")
    db.close()
    with Store(path) as store:
        assert store.baselines("library") == {}
        assert store.current_tags("library", "alpine")


def test_version_2_keeps_digests_as_32_bytes_and_records_as_arrays(tmp_path):
    path = hand_made_v1_store(tmp_path / "store.sqlite3")
    with Store(path) as store:
        keys = {type(row[0]) for row in store.db.execute("SELECT digest FROM digests")}
        targets = {row[0] for row in store.db.execute("SELECT typeof(target) FROM builds")}
        (records,) = store.db.execute("SELECT records FROM builds WHERE record_count = 3").fetchone()
    assert keys == {bytes}
    assert targets == {"blob", "text"}  # the joined target stays text
    assert orjson.loads(records)[0][:3] == [digest(f"{digest('new')}linux/amd64"), "linux/amd64", "image"]


@pytest.mark.parametrize(
    ("user_version_", "tables", "version"),
    [
        (0, set(), 0),
        (0, {"builds", "tags"}, 1),
        (0, {"builds", "digests", "sightings", "tags", "repositories", "records"}, 1),
        (2, {"builds", "digests", "sightings", "tags", "repositories", "records"}, 2),
        (7, set(), 7),
    ],
)
def test_stored_version_takes_a_store_without_one_for_version_1(user_version_, tables, version):
    assert stored_version(user_version_, tables) == version


def test_upgrading_a_store_another_process_upgraded_first_does_nothing(v1_store):
    with Store(v1_store):
        pass
    db = sqlite3.connect(v1_store, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    assert upgrade(db) == VERSION
    db.set_trace_callback(None)
    db.execute("ROLLBACK")
    db.close()
    assert not [statement for statement in statements if not statement.startswith(("SELECT", "PRAGMA"))]


# Version 2 to 3: the layer index's tables are added, and nothing of version 2 changes.

V2_TABLES = ("builds", "digests", "tags", "sightings", "repositories")


def version_2_store(v1_store: Path) -> Path:
    """The version 1 store as the version 2 code left it."""
    db = sqlite3.connect(v1_store, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    migrate_1_to_2(db)
    db.execute("PRAGMA user_version = 2")
    db.execute("COMMIT")
    db.execute("VACUUM")
    db.close()
    return v1_store


def contents(path: Path) -> dict[str, Any]:
    """Every row of version 2's tables, and their schema."""
    db = sqlite3.connect(path)
    try:
        found = {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in V2_TABLES}
        tables = ", ".join(f"'{table}'" for table in (*V2_TABLES, "records"))
        return found | {"schema": schema_of(db, f"tbl_name IN ({tables})")}
    finally:
        db.close()


def schema_of(db: sqlite3.Connection, condition: str = "1") -> list[tuple[str, str, str | None]]:
    return db.execute(f"SELECT type, name, sql FROM sqlite_master WHERE {condition} ORDER BY name").fetchall()


@pytest.fixture
def v2_store(v1_store: Path) -> Path:
    return version_2_store(v1_store)


def test_a_version_2_store_keeps_every_row_once_migrated(v2_store):
    before = contents(v2_store)
    with Store(v2_store) as store:
        assert user_version(v2_store) == VERSION == 4
        assert store.pending_images("library")
        assert store.find_in_images("sha256:0170c443cae6") == []
    assert contents(v2_store) == before
    assert len(before["builds"]) > 10


def test_the_answers_of_a_migrated_version_2_store_are_the_version_1_answers(v1_store, tmp_path):
    before = v1_answers(v1_store)
    tags = v1_tags(v1_store)
    path = version_2_store(v1_store)
    with Store(path) as store:
        assert v2_answers(store, tags) == before


def test_a_version_2_to_3_migration_adds_tables_without_rewriting_the_file(v2_store):
    pages_before = v2_store.stat().st_size // 4096
    with Store(v2_store) as store:
        roots = [
            row[0] for row in store.db.execute("SELECT rootpage FROM sqlite_master WHERE name LIKE 'image%'")
        ]
    # A VACUUM would have rewritten every table, the new ones first after the schema.
    assert roots
    assert min(roots) > pages_before


def test_a_new_store_is_what_a_migrated_one_is(v1_store, tmp_path):
    with Store(v1_store), Store(tmp_path / "new.sqlite3"):
        pass
    migrated, new = sqlite3.connect(v1_store), sqlite3.connect(tmp_path / "new.sqlite3")
    try:
        assert schema_of(migrated) == schema_of(new)
        new_tables = {"images", "layers", "chains", "image_layers", "image_repositories"}
        new_tables |= {"announced", "announced_by_top", "announced_repositories"}
        assert {name for _, name, _ in schema_of(new)} >= new_tables
    finally:
        migrated.close()
        new.close()


# Version 3 to 4: the announced images' tables are added, and nothing of version 3 changes.

V3_TABLES = (*V2_TABLES, "images", "layers", "chains", "image_layers", "image_repositories")


def version_3_store(v1_store: Path) -> Path:
    """The version 1 store as the version 3 code left it, with one image in its layer index."""
    db = sqlite3.connect(v1_store, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    migrate_1_to_2(db)
    migrate_2_to_3(db)
    db.execute("INSERT INTO images (digest, image_id, platform, history) VALUES (?, ?, 'linux/amd64', '[]')",
               (bytes(32), bytes.fromhex("11" * 32)))  # fmt: skip
    db.execute("INSERT INTO image_repositories VALUES (1, 'library', 'alpine', ?, ?)", (T1, T1))
    db.execute("PRAGMA user_version = 3")
    db.execute("COMMIT")
    db.execute("VACUUM")
    db.close()
    return v1_store


def contents_3(path: Path) -> dict[str, Any]:
    """Every row of version 3's tables, and their schema."""
    db = sqlite3.connect(path)
    try:
        found = {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in V3_TABLES}
        tables = ", ".join(f"'{table}'" for table in (*V3_TABLES, "records"))
        return found | {"schema": schema_of(db, f"tbl_name IN ({tables})")}
    finally:
        db.close()


@pytest.fixture
def v3_store(v1_store: Path) -> Path:
    return version_3_store(v1_store)


def test_a_version_3_store_keeps_every_row_once_migrated(v3_store):
    before = contents_3(v3_store)
    with Store(v3_store) as store:
        assert user_version(v3_store) == VERSION == 4
        assert store.announced_among([digest("anything")]) == set()
        assert store.pending_images("library")
    assert contents_3(v3_store) == before
    assert len(before["images"]) == 1
    assert len(before["builds"]) > 10


def test_a_migrated_version_3_store_takes_announced_images(v3_store):
    image = AnnouncedImage(digest("manifest"), "linux/amd64", (digest("gzip a"), digest("gzip b")))
    with Store(v3_store) as store:
        store.add_announced([("library", "alpine", [image])])
        assert store.announced_among([image.digest, digest("other")]) == {image.digest}


def test_a_version_3_to_4_migration_adds_tables_without_rewriting_the_file(v3_store):
    pages_before = v3_store.stat().st_size // 4096
    with Store(v3_store) as store:
        roots = [
            row[0]
            for row in store.db.execute("SELECT rootpage FROM sqlite_master WHERE name LIKE 'announced%'")
        ]
    assert len(roots) == 3
    assert min(roots) > pages_before


def test_a_new_store_is_what_a_migrated_version_3_store_is(v3_store, tmp_path):
    with Store(v3_store), Store(tmp_path / "new.sqlite3"):
        pass
    migrated, new = sqlite3.connect(v3_store), sqlite3.connect(tmp_path / "new.sqlite3")
    try:
        assert schema_of(migrated) == schema_of(new)
    finally:
        migrated.close()
        new.close()


def test_a_version_3_layer_index_gets_the_top_chains_a_version_4_store_writes(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        store.add_images([ALPINE, PYTHON, PYTHON_ARM], T1)
        written = store.db.execute("SELECT chain, image FROM image_tops ORDER BY 1, 2").fetchall()
    assert len(written) == 3
    # As version 3 left it: no version 4 tables.
    db = sqlite3.connect(path, isolation_level=None)
    for table in ("image_tops", "announced_repositories", "announced"):
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version = 3")
    db.close()
    with Store(path) as store:
        migrated = store.db.execute("SELECT chain, image FROM image_tops ORDER BY 1, 2").fetchall()
    assert [tuple(row) for row in migrated] == [tuple(row) for row in written]

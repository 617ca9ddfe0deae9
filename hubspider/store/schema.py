"""The store's tables, one version after another, and the migrations between them.

`PRAGMA user_version` holds the version; the first stores had none (0) and are version 1.
A new store is created at `VERSION`; an older one is migrated in the caller's IMMEDIATE
transaction, so that two processes opening it at once migrate it once. Each version's DDL is
kept as it was written: a migration must build exactly what a new store of its version is.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import orjson

from hubspider.store.keys import digest_key

if TYPE_CHECKING:
    from collections.abc import Callable

VERSION = 4

TABLES = frozenset({"builds", "digests", "sightings", "tags", "repositories"})

# A build's records as version 2 stores them: one JSON array per record, in this order.
BUILD_FIELDS = (
    "digest", "platform", "kind", "os", "architecture", "variant", "os_version", "tag_digest", "media_type",
    "size", "last_pushed",
)  # fmt: skip

# Version 1: text keys everywhere, and builds as a WITHOUT ROWID table, whose rows of about
# 2 KB (records as JSON objects) spilled into overflow pages: 45% of its pages were unused.
SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS builds (
    target TEXT PRIMARY KEY,
    records TEXT NOT NULL,  -- JSON: the records less namespace, repository, tag, image, seen_at
    record_count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS digests (
    digest TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (digest, target)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sightings (
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    target TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (namespace, repository, tag, target)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sightings_by_target ON sightings (target);
CREATE VIEW IF NOT EXISTS records AS
SELECT json_extract(record.value, '$.digest') AS digest,
       s.namespace, s.repository, s.tag,
       coalesce(json_extract(record.value, '$.platform'), '') AS platform,
       json_extract(record.value, '$.kind') AS kind,
       json_extract(record.value, '$.os') AS os,
       json_extract(record.value, '$.architecture') AS architecture,
       json_extract(record.value, '$.variant') AS variant,
       json_extract(record.value, '$.os_version') AS os_version,
       json_extract(record.value, '$.tag_digest') AS tag_digest,
       json_extract(record.value, '$.media_type') AS media_type,
       json_extract(record.value, '$.size') AS size,
       json_extract(record.value, '$.last_pushed') AS last_pushed,
       s.first_seen, s.last_seen, s.target
  FROM sightings AS s JOIN builds AS b ON b.target = s.target, json_each(b.records) AS record;
CREATE TABLE IF NOT EXISTS tags (
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    target TEXT NOT NULL,
    last_updated TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    moved_at TEXT,
    gone_at TEXT,
    PRIMARY KEY (namespace, repository, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_change ON tags (moved_at);
CREATE INDEX IF NOT EXISTS tags_by_gone ON tags (gone_at);
CREATE INDEX IF NOT EXISTS tags_by_first_seen ON tags (first_seen);
CREATE TABLE IF NOT EXISTS repositories (
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    last_complete TEXT NOT NULL,
    PRIMARY KEY (namespace, repository)
) WITHOUT ROWID;
"""

# Version 2's `records` view: a row per record and sighting, with version 1's columns ('' as
# the platform of a tag's own digest). The queries select the same, and whether it is current.
RECORD_COLUMNS_2 = """json_extract(record.value, '$[0]') AS digest,
       t.namespace, t.repository, t.tag,
       coalesce(json_extract(record.value, '$[1]'), '') AS platform,
       json_extract(record.value, '$[2]') AS kind,
       json_extract(record.value, '$[3]') AS os,
       json_extract(record.value, '$[4]') AS architecture,
       json_extract(record.value, '$[5]') AS variant,
       json_extract(record.value, '$[6]') AS os_version,
       json_extract(record.value, '$[7]') AS tag_digest,
       json_extract(record.value, '$[8]') AS media_type,
       json_extract(record.value, '$[9]') AS size,
       json_extract(record.value, '$[10]') AS last_pushed,
       s.first_seen, s.last_seen,
       CASE typeof(b.target) WHEN 'blob' THEN 'sha256:' || lower(hex(b.target)) ELSE b.target END AS target"""
RECORD_SOURCES_2 = """FROM sightings AS s
  JOIN tags AS t ON t.id = s.tag
  JOIN builds AS b ON b.id = s.build, json_each(b.records) AS record"""

SCHEMA_2 = f"""
-- What a tag can point to: a build (an index or a single manifest, keyed by the tag digest,
-- or by its image digests when Hub gives none) and its records. Alias tags share a build,
-- and a build's records never change, so each is written once. A rowid table: a row of a
-- few KB stays on its page, where a WITHOUT ROWID table spills all past 1 KB into overflow.
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY,
    target BLOB NOT NULL UNIQUE,  -- keys.digest_key of the target: 32 bytes, or text
    records TEXT NOT NULL,  -- JSON: one array per record, in schema.BUILD_FIELDS order
    record_count INTEGER NOT NULL
);

-- Which builds hold a digest: a lookup by a digest or a prefix of it is a range of keys.
-- WITHOUT ROWID: the key is the whole row, which a rowid table would store twice.
CREATE TABLE IF NOT EXISTS digests (
    digest BLOB NOT NULL,  -- keys.digest_key
    build INTEGER NOT NULL REFERENCES builds (id),
    PRIMARY KEY (digest, build)
) WITHOUT ROWID;

-- Every tag, records or not: what it points to, and when that changed or it went away.
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    build INTEGER NOT NULL REFERENCES builds (id),
    last_updated TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    moved_at TEXT,
    gone_at TEXT,
    UNIQUE (namespace, repository, tag)
);
-- Partial: most tags never move or go, and `changes` asks only for those that did.
CREATE INDEX IF NOT EXISTS tags_by_change ON tags (moved_at) WHERE moved_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tags_by_gone ON tags (gone_at) WHERE gone_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tags_by_first_seen ON tags (first_seen);

-- A tag seen pointing to a build: the unit of history. Small integer keys, WITHOUT ROWID.
CREATE TABLE IF NOT EXISTS sightings (
    tag INTEGER NOT NULL REFERENCES tags (id),
    build INTEGER NOT NULL REFERENCES builds (id),
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (tag, build)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sightings_by_build ON sightings (build);

-- The last crawl that read each repository completely (as in version 1).
CREATE TABLE IF NOT EXISTS repositories (
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    last_complete TEXT NOT NULL,
    PRIMARY KEY (namespace, repository)
) WITHOUT ROWID;

-- One row per record and sighting, keyed by (digest, namespace, repository, tag, platform),
-- with version 1's columns.
CREATE VIEW IF NOT EXISTS records AS
SELECT {RECORD_COLUMNS_2}
{RECORD_SOURCES_2};
"""

# Version 3 adds the layer index: what the registry says of each platform image, stored once
# per manifest digest (it is fixed by the digest) however many repositories hold it, and the
# layers and chains once however many images share them. Digests are keys.digest_key blobs.
IMAGES_3 = """
-- A platform image's manifest and config data. history: JSON, one array per config history
-- step [created, created_by, comment, empty_layer]; instructions: JSON, the Hub API's
-- instruction of each layer in order, NULL when the Hub API did not list the image. Rowid:
-- a history of a few KB stays on the row's page.
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,  -- the platform manifest's digest
    image_id BLOB NOT NULL,  -- the config's digest
    platform TEXT NOT NULL,
    os TEXT,
    architecture TEXT,
    variant TEXT,
    os_version TEXT,
    history TEXT NOT NULL,
    instructions TEXT
);
CREATE INDEX IF NOT EXISTS images_by_image_id ON images (image_id);

-- A compressed layer as manifests name it; one blob may be named with two media types.
CREATE TABLE IF NOT EXISTS layers (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL,
    media_type TEXT NOT NULL,
    diff_id BLOB NOT NULL,
    size INTEGER NOT NULL,
    UNIQUE (digest, media_type)
);
CREATE INDEX IF NOT EXISTS layers_by_diff_id ON layers (diff_id);

-- A chain ID (a layer and all below it): images built on the same base share theirs.
CREATE TABLE IF NOT EXISTS chains (
    id INTEGER PRIMARY KEY,
    chain_id BLOB NOT NULL UNIQUE
);

-- An image's layers in order (position 0 the base): small integer keys, WITHOUT ROWID.
CREATE TABLE IF NOT EXISTS image_layers (
    image INTEGER NOT NULL REFERENCES images (id),
    position INTEGER NOT NULL,
    layer INTEGER NOT NULL REFERENCES layers (id),
    chain INTEGER NOT NULL REFERENCES chains (id),
    PRIMARY KEY (image, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS image_layers_by_layer ON image_layers (layer);
CREATE INDEX IF NOT EXISTS image_layers_by_chain ON image_layers (chain);

-- Which repositories hold an image, and when a layers crawl saw them do so: a second
-- repository holding the same digest costs this row only.
CREATE TABLE IF NOT EXISTS image_repositories (
    image INTEGER NOT NULL REFERENCES images (id),
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (image, namespace, repository)
) WITHOUT ROWID;
"""

SCHEMA_3 = SCHEMA_2 + IMAGES_3

MIGRATE_2_TO_3 = IMAGES_3

# Version 4 adds what the Hub API announces of platform images before the registry is asked:
# their compressed layer digests. A used-up pull window leaves images unindexed for days; their
# announced layers still let `detect` match an input that carries compressed digests.
ANNOUNCED_4 = """
-- A platform image as the Hub API's tags/{tag}/images answer lists it, once per manifest
-- digest (fixed by it). top: keys.digest_key of the chain rule applied to its compressed
-- layer digests, base first (registry.content.chain_ids), the last one: two images start
-- with the same compressed layers exactly when one's top is the other's chain at some depth.
CREATE TABLE IF NOT EXISTS announced (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,  -- the platform manifest's digest
    platform TEXT NOT NULL,
    os_version TEXT,
    layer_count INTEGER NOT NULL,
    top BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS announced_by_top ON announced (top);

-- Which repositories the Hub API listed each announced image in.
CREATE TABLE IF NOT EXISTS announced_repositories (
    announced INTEGER NOT NULL REFERENCES announced (id),
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (announced, namespace, repository)
) WITHOUT ROWID;
"""

# Version 4 also keeps each indexed image's top chain (its last layer's): detect's bases are
# the images whose top is one of the input's chains, and the chain of a base layer is the bottom
# of tens of thousands of images, which image_layers_by_chain would walk one by one.
TOPS_4 = """
CREATE TABLE IF NOT EXISTS image_tops (
    chain INTEGER NOT NULL REFERENCES chains (id),
    image INTEGER NOT NULL REFERENCES images (id),
    PRIMARY KEY (chain, image)
) WITHOUT ROWID;
"""

SCHEMA_4 = SCHEMA_3 + ANNOUNCED_4 + TOPS_4

MIGRATE_3_TO_4 = (
    ANNOUNCED_4
    + TOPS_4
    + """
INSERT OR IGNORE INTO image_tops (chain, image)
SELECT il.chain, il.image FROM image_layers AS il
 WHERE NOT EXISTS (SELECT 1 FROM image_layers AS above
                    WHERE above.image = il.image AND above.position = il.position + 1);
"""
)

MIGRATE_1_TO_2 = """
DROP VIEW records;
DROP INDEX sightings_by_target;
DROP INDEX tags_by_change;
DROP INDEX tags_by_gone;
DROP INDEX tags_by_first_seen;
ALTER TABLE builds RENAME TO builds_1;
ALTER TABLE digests RENAME TO digests_1;
ALTER TABLE sightings RENAME TO sightings_1;
ALTER TABLE tags RENAME TO tags_1;
{SCHEMA_2}
INSERT INTO builds (target, records, record_count)
SELECT digest_key(target), records_as_arrays(records), record_count FROM builds_1 ORDER BY target;
-- Version 1 wrote a build for every target a tag had; make sure of it.
INSERT OR IGNORE INTO builds (target, records, record_count)
SELECT digest_key(target), '[]', 0 FROM (SELECT target FROM tags_1 UNION SELECT target FROM sightings_1);
INSERT INTO digests (digest, build)
SELECT digest_key(d.digest), b.id FROM digests_1 AS d JOIN builds AS b ON b.target = digest_key(d.target);
INSERT INTO tags (namespace, repository, tag, build, last_updated, first_seen, last_seen, moved_at, gone_at)
SELECT t.namespace, t.repository, t.tag, b.id, t.last_updated,
       t.first_seen, t.last_seen, t.moved_at, t.gone_at
  FROM tags_1 AS t JOIN builds AS b ON b.target = digest_key(t.target)
 ORDER BY t.namespace, t.repository, t.tag;
INSERT INTO sightings (tag, build, first_seen, last_seen)
SELECT t.id, b.id, s.first_seen, s.last_seen
  FROM sightings_1 AS s
  JOIN tags AS t USING (namespace, repository, tag)
  JOIN builds AS b ON b.target = digest_key(s.target);
DROP TABLE builds_1;
DROP TABLE digests_1;
DROP TABLE sightings_1;
DROP TABLE tags_1;
""".replace("{SCHEMA_2}", SCHEMA_2)


def stored_version(user_version: int, tables: set[str]) -> int:
    """The version of a store: 0 for a database without one yet, 1 for one written before versions."""
    if user_version:
        return user_version
    return 1 if tables & TABLES else 0


def table_names(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def version_of(db: sqlite3.Connection) -> int:
    (user_version,) = db.execute("PRAGMA user_version").fetchone()
    return stored_version(user_version, table_names(db))


def upgrade(db: sqlite3.Connection) -> int:
    """Create the store, or migrate it, to `VERSION`, inside the caller's IMMEDIATE transaction.
    Returns the version it had: another process may have upgraded it since the caller looked."""
    found = version_of(db)
    if found == 0:
        run_script(db, SCHEMA_4)
    else:
        for version in range(found, VERSION):
            MIGRATIONS[version](db)
    if found < VERSION:
        db.execute(f"PRAGMA user_version = {VERSION}")
    return found


def migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Integer build ids, digests as 32 bytes, records as orjson arrays."""
    # A version 1 store lacking a table (never written by hubspider, but opened as one) gets it first.
    run_script(db, SCHEMA_1)
    db.create_function("digest_key", 1, digest_key, deterministic=True)
    db.create_function("records_as_arrays", 1, records_as_arrays, deterministic=True)
    run_script(db, MIGRATE_1_TO_2)


def records_as_arrays(records: str) -> str:
    """Version 1's records (JSON objects) as version 2 stores them."""
    return orjson.dumps(
        [[record.get(field) for field in BUILD_FIELDS] for record in orjson.loads(records)]
    ).decode()


def migrate_2_to_3(db: sqlite3.Connection) -> None:
    """The layer index's tables; version 2's stay as they are."""
    run_script(db, MIGRATE_2_TO_3)


def migrate_3_to_4(db: sqlite3.Connection) -> None:
    """The announced images' tables, and the top chains of the images indexed so far; version
    3's tables stay as they are."""
    run_script(db, MIGRATE_3_TO_4)


# From each version to the next.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: migrate_1_to_2,
    2: migrate_2_to_3,
    3: migrate_3_to_4,
}


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Each statement of `script` in the open transaction (`executescript` would commit it first)."""
    for statement in statements(script):
        db.execute(statement)


def statements(script: str) -> list[str]:
    """The SQL statements of a script, each whole."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        found.append(pending.strip())
    return found

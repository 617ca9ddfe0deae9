"""The digest store: every record any crawl saw, with when it was first and last seen.

SQLite, one file, no server. The `records` view has a row per (digest, namespace,
repository, tag, platform) with `first_seen` and `last_seen`; underneath, a build's records
are written once and a tag's history is its sightings of builds, so that a crawl that sees
the same again moves only `last_seen`, and a tag that moves to a new digest gets new rows
while its old ones stay. Whether a row is current is decided by the last crawl that read
its repository completely: an interrupted crawl moves `last_seen` of what it saw and
closes nothing.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import fastjsonschema
import orjson

from hubspider.planning import Baseline
from hubspider.records import TagSeen, tag_target
from hubspider.schemas import load_schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType
    from typing import BinaryIO, Self

SCHEMA = """
-- What a tag can point to: a build (an index or a single manifest, keyed by the tag digest,
-- or by its image digests when Hub gives none) and its records. Alias tags share a build,
-- and a build's records never change, so each is written once.
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

-- A tag seen pointing to a build: the unit of history.
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

-- One row per record and sighting, keyed by (digest, namespace, repository, tag, platform).
CREATE VIEW IF NOT EXISTS records AS
SELECT json_extract(record.value, '$.digest') AS digest,
       s.namespace, s.repository, s.tag,
       coalesce(json_extract(record.value, '$.platform'), '') AS platform,  -- '' for a tag's own digest
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

-- Every tag, records or not: what it points to, and when that changed or it went away.
CREATE TABLE IF NOT EXISTS tags (
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    target TEXT NOT NULL,  -- the tag digest, or its image digests when Hub gives none
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

-- The last crawl that read each repository completely.
CREATE TABLE IF NOT EXISTS repositories (
    namespace TEXT NOT NULL,
    repository TEXT NOT NULL,
    last_complete TEXT NOT NULL,
    PRIMARY KEY (namespace, repository)
) WITHOUT ROWID;
"""

IMPORT_BATCH = 5_000

# The README promises that another crawl or import writing the same store is waited for.
LOCK_TIMEOUT = 60.0

# Far above any real record (about 700 bytes): a longer line is refused without being parsed.
MAX_LINE_BYTES = 64 * 1024

TABLES = frozenset({"builds", "digests", "sightings", "tags", "repositories"})

BUILD_FIELDS = (
    "digest", "platform", "kind", "os", "architecture", "variant", "os_version", "tag_digest", "media_type",
    "size", "last_pushed",
)  # fmt: skip

UPSERT_SIGHTING = """
INSERT INTO sightings (namespace, repository, tag, target, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen)
"""

UPSERT_TAG = """
INSERT INTO tags (namespace, repository, tag, target, last_updated, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET
    moved_at = CASE WHEN excluded.last_seen >= last_seen AND excluded.target != target
                    THEN excluded.last_seen ELSE moved_at END,
    target = CASE WHEN excluded.last_seen >= last_seen THEN excluded.target ELSE target END,
    last_updated = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_updated ELSE last_updated END,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen),
    gone_at = CASE WHEN excluded.last_seen >= last_seen THEN NULL ELSE gone_at END
"""


class StoreError(Exception):
    """A store that cannot be used, said in one line that names its file: callers print it and stop."""


def store_problem(path: Path, error: sqlite3.Error, timeout: float = LOCK_TIMEOUT) -> str:
    """What SQLite's error means for the store file, in one line."""
    code = getattr(error, "sqlite_errorname", "")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(error):
        return f"store {path} is locked by another process (waited {timeout:g} s): try again when it is done"
    if code == "SQLITE_NOTADB":
        return f"store {path} is not a SQLite database"
    if code.startswith("SQLITE_CORRUPT"):
        return f"store {path} is damaged (truncated or overwritten): {error}"
    if code.startswith("SQLITE_CANTOPEN"):
        return f"cannot open store {path}: {error}"
    return f"store {path}: {error}"


def schema_problem(path: Path, tables: set[str], *, read_only: bool) -> str | None:
    """Why a file with these tables is not a store to use, or None. An empty database becomes a
    store when written to; one with tables of something else is never taken over."""
    if tables >= TABLES:
        return None
    if read_only:
        if not tables:
            return f"{path} holds no store: run a crawl or an import first"
        return f"{path} is not a hubspider store (it lacks the tables {', '.join(sorted(TABLES - tables))})"
    if tables and not tables & TABLES:
        return f"{path} is not a hubspider store (it has other tables: {', '.join(sorted(tables)[:5])})"
    return None


P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """SQLite's errors as `StoreError`s naming the file: a locked, damaged or vanished store is
    one line for the user, not a traceback."""

    @functools.wraps(method)
    def translated(store: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(store, *args, **kwargs)
        except sqlite3.Error as error:
            raise StoreError(store_problem(store.path, error, store.timeout)) from error

    return translated


class Store:
    """The store file, opened for writing (a crawl, an import) or read-only (the queries).

    Raises `StoreError` with a one-line message when the file cannot be used: locked by
    another writer for longer than `timeout` seconds, not a SQLite database, damaged, not a
    store, or (read-only) missing. Use it as a context manager so that it is closed."""

    def __init__(
        self,
        path: str | Path,
        *,
        check_same_thread: bool = True,
        read_only: bool = False,
        timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.timeout = timeout
        if read_only and not self.path.is_file():
            raise StoreError(f"no store at {self.path}: run a crawl or an import first")
        try:
            self.db = self._connect(check_same_thread)
        except OSError as error:
            raise StoreError(f"cannot create store {self.path}: {error.strerror or error}") from error
        except sqlite3.Error as error:
            raise StoreError(store_problem(self.path, error, timeout)) from error
        try:
            self._prepare()
        except BaseException as error:
            self.db.close()
            if isinstance(error, sqlite3.Error):
                raise StoreError(store_problem(self.path, error, timeout)) from error
            raise

    def _connect(self, check_same_thread: bool) -> sqlite3.Connection:
        if self.read_only:
            # mode=ro: a query never creates or changes the file it is pointed at.
            target, uri = f"{self.path.resolve().as_uri()}?mode=ro", True
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target, uri = str(self.path), False
        # timeout: SQLite's busy handler waits this long for another writer of the same store.
        db = sqlite3.connect(
            target, timeout=self.timeout, isolation_level=None, check_same_thread=check_same_thread, uri=uri
        )
        db.row_factory = sqlite3.Row
        return db

    def _prepare(self) -> None:
        listed = self.db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        tables = {row[0] for row in listed}
        problem = schema_problem(self.path, tables, read_only=self.read_only)
        if problem is not None:
            raise StoreError(problem)
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: random inserts touch many B-tree pages
        if self.read_only:
            return
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if not tables >= TABLES | {"records"}:
            # IMMEDIATE: two first crawls creating the tables at once wait for each other.
            self.db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @_store_errors
    def add(self, records: list[dict[str, Any]], tags: list[TagSeen], seen_at: str) -> None:
        """One page's records and tags. Callers group pages in transactions: SQLite rewrites the
        B-tree pages a transaction touched at each commit, so one per page costs twice as much."""
        by_tag: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for record in records:
            by_tag.setdefault((record["namespace"], record["repository"], record["tag"]), []).append(record)
        found_by_target: dict[str, list[dict[str, Any]]] = {}
        for tag in tags:
            if tag.target not in found_by_target:
                found_by_target[tag.target] = by_tag.get((tag.namespace, tag.repository, tag.tag), [])
        known = self._known_builds(list(found_by_target))
        # A build's records are fixed by its digest: write it when new, or when more of it
        # came than was stored (an export cut off by a kill). A tag served again without
        # its records (offset paging) is no change.
        changed = {
            target: [{field: record[field] for field in BUILD_FIELDS} for record in found]
            for target, found in found_by_target.items()
            if target not in known or len(found) > known[target]
        }
        self.db.executemany(
            "INSERT INTO builds VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
            "records = excluded.records, record_count = excluded.record_count",
            [
                (target, json.dumps(found, separators=(",", ":")), len(found))
                for target, found in changed.items()
            ],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO digests VALUES (?, ?)",
            [(record["digest"], target) for target, found in changed.items() for record in found],
        )
        self.db.executemany(
            UPSERT_SIGHTING,
            [(tag.namespace, tag.repository, tag.tag, tag.target, seen_at, seen_at) for tag in tags],
        )
        self.db.executemany(
            UPSERT_TAG,
            [(t.namespace, t.repository, t.tag, t.target, t.last_updated, seen_at, seen_at) for t in tags],
        )

    def _known_builds(self, targets: list[str]) -> dict[str, int]:
        """How many records each of these builds has in the store."""
        known: dict[str, int] = {}
        for start in range(0, len(targets), 500):
            chunk = targets[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT target, record_count FROM builds WHERE target IN ({marks})"
            known.update(self.db.execute(query, chunk).fetchall())
        return known

    @_store_errors
    def import_jsonl(self, path: Path, report: Callable[[Path, int, str], None]) -> tuple[int, int]:
        """Store the records of a JSON Lines export with the `seen_at` each carries; lines
        that are not digest records are reported and counted, not stored."""
        validate = fastjsonschema.compile(load_schema("digest_record.json"))
        imported = rejected = 0
        batch: list[dict[str, Any]] = []
        with path.open("rb") as file:
            for number, line in numbered_lines(file):
                try:
                    record = parse_record(line, validate)
                except ValueError as error:
                    rejected += 1
                    report(path, number, str(error))
                    continue
                # A tag's records are written together; a batch never splits them.
                if len(batch) >= IMPORT_BATCH and _image(record) != _image(batch[-1]):
                    imported += self._import_batch(batch)
                    batch = []
                batch.append(record)
        return imported + self._import_batch(batch), rejected

    def _import_batch(self, records: list[dict[str, Any]]) -> int:
        by_time: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_time.setdefault(record["seen_at"], []).append(record)
        with self.transaction():
            for seen_at, group in by_time.items():
                targets: dict[tuple[str, str, str], tuple[str | None, list[str]]] = {}
                for record in group:
                    targets.setdefault(_image(record), (record["tag_digest"], []))[1].append(record["digest"])
                tags = [TagSeen(*image, tag_target(*target), None) for image, target in targets.items()]
                self.add(group, tags, seen_at)
        return len(records)

    @_store_errors
    def complete(self, namespace: str, repository: str, seen_at: str) -> None:
        """The crawl started at `seen_at` read this repository whole: what it did not see is gone."""
        self.db.execute(
            "INSERT INTO repositories VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
            "last_complete = max(last_complete, excluded.last_complete)",
            (namespace, repository, seen_at),
        )
        self.db.execute(
            "UPDATE tags SET gone_at = ? WHERE namespace = ? AND repository = ? AND last_seen < ? "
            "AND gone_at IS NULL",
            (seen_at, namespace, repository, seen_at),
        )

    @_store_errors
    def carry_forward(self, namespace: str, repository: str, seen_at: str) -> None:
        """An incremental crawl stopped early: what it did not read is as before, and seen now."""
        self.db.execute(
            """
            UPDATE sightings SET last_seen = :seen_at
             WHERE namespace = :namespace AND repository = :repository AND last_seen < :seen_at
               AND EXISTS (
                   SELECT 1 FROM tags AS t
                    WHERE t.namespace = sightings.namespace AND t.repository = sightings.repository
                      AND t.tag = sightings.tag AND t.gone_at IS NULL
                      AND t.last_seen = sightings.last_seen)
            """,
            {"namespace": namespace, "repository": repository, "seen_at": seen_at},
        )
        self.db.execute(
            "UPDATE tags SET last_seen = ? WHERE namespace = ? AND repository = ? AND gone_at IS NULL "
            "AND last_seen < ?",
            (seen_at, namespace, repository, seen_at),
        )

    @_store_errors
    def baselines(self, namespace: str) -> dict[str, Baseline]:
        """Each completely read repository's last complete crawl and the tags it had then."""
        tags: dict[str, set[str]] = {}
        since: dict[str, str] = {}
        rows = self.db.execute(
            """
            SELECT r.repository, r.last_complete, t.tag FROM repositories AS r
              LEFT JOIN tags AS t ON t.namespace = r.namespace AND t.repository = r.repository
                                 AND t.gone_at IS NULL
             WHERE r.namespace = ?
            """,
            (namespace,),
        )
        for row in rows:
            since[row["repository"]] = row["last_complete"]
            names = tags.setdefault(row["repository"], set())
            if row["tag"] is not None:
                names.add(row["tag"])
        return {name: Baseline(since[name], frozenset(tags[name])) for name in since}

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. IMMEDIATE takes the write lock at once, waiting for another
        writer up to the timeout: a deferred one that reads first would fail at its first write,
        without waiting, whenever another writer committed after its read."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError(store_problem(self.path, error, self.timeout)) from error
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as error:
            # SQLite ends the transaction itself after some errors (a full disk).
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise StoreError(store_problem(self.path, error, self.timeout)) from error
            raise

    # Queries

    @_store_errors
    def find_digest(self, prefix: str) -> list[sqlite3.Row]:
        """Rows whose digest is `prefix` or starts with it, current ones marked."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        condition = (
            "r.target IN (SELECT target FROM digests WHERE digest >= :low AND digest < :high) "
            "AND r.digest >= :low AND r.digest < :high"
        )
        return self._with_current(condition, {"low": prefix, "high": upper})

    @_store_errors
    def image_history(
        self, namespace: str, repository: str, tag: str, platform: str | None
    ) -> list[sqlite3.Row]:
        condition = "r.namespace = :namespace AND r.repository = :repository AND r.tag = :tag"
        parameters = {"namespace": namespace, "repository": repository, "tag": tag}
        if platform is not None:
            condition += " AND r.platform = :platform"
            parameters["platform"] = platform
        return self._with_current(condition, parameters, order="r.first_seen, r.platform")

    @_store_errors
    def current_tags(self, namespace: str, repository: str) -> list[str]:
        """Tags the repository has now, by the last crawl that saw it."""
        rows = self.db.execute(
            "SELECT tag FROM tags WHERE namespace = ? AND repository = ? AND gone_at IS NULL",
            (namespace, repository),
        )
        return [row["tag"] for row in rows]

    @_store_errors
    def tag_target_now(self, namespace: str, repository: str, tag: str) -> str | None:
        row = self.db.execute(
            "SELECT target FROM tags WHERE namespace = ? AND repository = ? AND tag = ? AND gone_at IS NULL",
            (namespace, repository, tag),
        ).fetchone()
        return row["target"] if row else None

    @_store_errors
    def changes(self, since: str) -> list[sqlite3.Row]:
        return self.db.execute(
            """
            WITH first_crawl AS (
                SELECT namespace, repository, min(first_seen) AS at FROM tags GROUP BY namespace, repository
            )
            SELECT 'moved' AS change, namespace, repository, tag, moved_at AS at FROM tags
             WHERE moved_at >= :since
            UNION ALL
            -- a repository's first crawl finds every tag; that is not news
            SELECT 'appeared', namespace, repository, tag, first_seen
              FROM tags JOIN first_crawl USING (namespace, repository)
             WHERE first_seen >= :since AND first_seen > first_crawl.at
            UNION ALL
            SELECT 'disappeared', namespace, repository, tag, gone_at FROM tags WHERE gone_at >= :since
            ORDER BY namespace, repository, tag
            """,
            {"since": since},
        ).fetchall()

    @_store_errors
    def last_crawl(self) -> str | None:
        row = self.db.execute("SELECT max(last_seen) AS at FROM tags").fetchone()
        return row["at"]

    def _with_current(
        self, condition: str, parameters: tuple[str, ...], order: str = "r.repository"
    ) -> list[Any]:
        # A row is current when it is what its tag showed at the tag's last sighting and the
        # tag has not gone since.
        return self.db.execute(
            f"""
            SELECT r.*, (t.gone_at IS NULL AND r.last_seen = t.last_seen) AS current
              FROM records AS r
              JOIN tags AS t USING (namespace, repository, tag)
             WHERE {condition}
             ORDER BY {order}
            """,
            parameters,
        ).fetchall()


def numbered_lines(file: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """Each line of a file with its number from 1; None for a line longer than `limit` bytes,
    which is skipped in pieces, never held in memory whole."""
    number = 0
    while line := file.readline(limit + 1):
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := file.readline(limit)) and not rest.endswith(b"\n"):
            pass
        yield number, None


def parse_record(line: bytes | None, validate: Callable[[Any], Any]) -> dict[str, Any]:
    """One line of an export (None: too long) as a digest record; ValueError saying why it is not one."""
    if line is None:
        raise ValueError(f"line longer than {MAX_LINE_BYTES // 1024} KiB")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1})") from None
    try:
        # orjson: its nesting limit (1024) answers a line of "[[[[" without a RecursionError.
        return validate(orjson.loads(text))
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    except fastjsonschema.JsonSchemaException as error:
        raise ValueError(error.message) from None


def _image(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record["namespace"], record["repository"], record["tag"])

"""What a crawl or an import writes: a page's records and tags, and what a repository read whole
(or left unread by an incremental crawl) means for the tags it did not show.

Every write is idempotent: seeing the same again moves only `last_seen`, and an older export
imported after a newer crawl moves nothing back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hubspider.store.keys import IN_CHUNK, digest_key
from hubspider.store.opening import StoreFile, store_errors
from hubspider.store.schema import BUILD_FIELDS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from hubspider.records import TagSeen

UPSERT_BUILD = """
INSERT INTO builds (target, records, record_count) VALUES (?, ?, ?)
ON CONFLICT (target) DO UPDATE SET records = excluded.records, record_count = excluded.record_count
RETURNING id
"""

UPSERT_TAG = """
INSERT INTO tags (namespace, repository, tag, build, last_updated, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, repository, tag) DO UPDATE SET
    moved_at = CASE WHEN excluded.last_seen >= last_seen AND excluded.build != build
                    THEN excluded.last_seen ELSE moved_at END,
    build = CASE WHEN excluded.last_seen >= last_seen THEN excluded.build ELSE build END,
    last_updated = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_updated ELSE last_updated END,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen),
    gone_at = CASE WHEN excluded.last_seen >= last_seen THEN NULL ELSE gone_at END
RETURNING id
"""

UPSERT_SIGHTING = """
INSERT INTO sightings (tag, build, first_seen, last_seen) VALUES (?, ?, ?, ?)
ON CONFLICT (tag, build) DO UPDATE SET
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen)
"""


class StoreWrites(StoreFile):
    @store_errors
    def add(self, records: Sequence[Mapping[str, Any]], tags: Sequence[TagSeen], seen_at: str) -> None:
        """One page's records and tags. Callers group pages in transactions: SQLite rewrites the
        B-tree pages a transaction touched at each commit, so one per page costs twice as much."""
        by_tag: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
        for record in records:
            by_tag.setdefault((record["namespace"], record["repository"], record["tag"]), []).append(record)
        found_by_target: dict[str, list[Mapping[str, Any]]] = {}
        for tag in tags:
            if tag.target not in found_by_target:
                found_by_target[tag.target] = by_tag.get((tag.namespace, tag.repository, tag.tag), [])
        builds = self._write_builds(found_by_target)
        sightings = []
        for tag in tags:
            build = builds[tag.target]
            row = (tag.namespace, tag.repository, tag.tag, build, tag.last_updated, seen_at, seen_at)
            (tag_id,) = self.db.execute(UPSERT_TAG, row).fetchone()
            sightings.append((tag_id, build, seen_at, seen_at))
        self.db.executemany(UPSERT_SIGHTING, sightings)

    def _write_builds(self, found_by_target: dict[str, list[Mapping[str, Any]]]) -> dict[str, int]:
        """The id of each target's build, written when new, or when more of it came than was
        stored (an export cut off by a kill). A build's records are fixed by its digest, and a
        tag served again without its records (offset paging) is no change."""
        known = self._known_builds(list(found_by_target))
        ids = {target: build for target, (build, _) in known.items()}
        digests = []
        for target, found in found_by_target.items():
            if target in known and len(found) <= known[target][1]:
                continue
            arrays = orjson.dumps([[record[field] for field in BUILD_FIELDS] for record in found])
            row = (digest_key(target), arrays.decode(), len(found))
            (ids[target],) = self.db.execute(UPSERT_BUILD, row).fetchone()
            digests += [(digest_key(record["digest"]), ids[target]) for record in found]
        self.db.executemany("INSERT OR IGNORE INTO digests VALUES (?, ?)", digests)
        return ids

    def _known_builds(self, targets: list[str]) -> dict[str, tuple[int, int]]:
        """The id and record count of each of these targets' builds that the store has."""
        known: dict[str, tuple[int, int]] = {}
        for start in range(0, len(targets), IN_CHUNK):
            by_key = {digest_key(target): target for target in targets[start : start + IN_CHUNK]}
            marks = ",".join("?" * len(by_key))
            query = f"SELECT target, id, record_count FROM builds WHERE target IN ({marks})"
            for key, build, count in self.db.execute(query, list(by_key)):
                known[by_key[key]] = (build, count)
        return known

    @store_errors
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

    @store_errors
    def carry_forward(self, namespace: str, repository: str, seen_at: str) -> None:
        """An incremental crawl stopped early: what it did not read is as before, and seen now."""
        self.db.execute(
            """
            UPDATE sightings SET last_seen = :seen_at
             WHERE tag IN (SELECT id FROM tags
                            WHERE namespace = :namespace AND repository = :repository AND gone_at IS NULL)
               AND last_seen < :seen_at
               AND last_seen = (SELECT t.last_seen FROM tags AS t WHERE t.id = sightings.tag)
            """,
            {"namespace": namespace, "repository": repository, "seen_at": seen_at},
        )
        self.db.execute(
            "UPDATE tags SET last_seen = ? WHERE namespace = ? AND repository = ? AND gone_at IS NULL "
            "AND last_seen < ?",
            (seen_at, namespace, repository, seen_at),
        )

"""What the commands ask the store: a digest's records, a tag's history, the changes since a
date, and the baselines of an incremental crawl. Rows carry the `records` view's columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubspider.planning import Baseline
from hubspider.store.keys import digest_text, key_range, text_successor
from hubspider.store.opening import StoreFile, store_errors
from hubspider.store.schema import RECORD_COLUMNS_2, RECORD_SOURCES_2

if TYPE_CHECKING:
    import sqlite3

# The `records` view's columns (see schema.SCHEMA_2), and whether the row is current: what
# its tag showed at the tag's last sighting, the tag not gone since.
RECORD_ROWS = f"""
SELECT {RECORD_COLUMNS_2},
       (t.gone_at IS NULL AND s.last_seen = t.last_seen) AS current
{RECORD_SOURCES_2}
"""


class StoreQueries(StoreFile):
    @store_errors
    def find_digest(self, prefix: str) -> list[sqlite3.Row]:
        """Rows whose digest is `prefix` or starts with it, current ones marked."""
        low, high = key_range(prefix)
        return self.db.execute(
            f"""
            {RECORD_ROWS}
             WHERE s.build IN (SELECT build FROM digests WHERE digest >= :low AND digest < :high)
               AND json_extract(record.value, '$[0]') >= :prefix
               AND json_extract(record.value, '$[0]') < :above
             ORDER BY t.repository
            """,
            {"low": low, "high": high, "prefix": prefix, "above": text_successor(prefix)},
        ).fetchall()

    @store_errors
    def image_history(
        self, namespace: str, repository: str, tag: str, platform: str | None
    ) -> list[sqlite3.Row]:
        condition = "t.namespace = :namespace AND t.repository = :repository AND t.tag = :tag"
        parameters: dict[str, Any] = {"namespace": namespace, "repository": repository, "tag": tag}
        if platform is not None:
            condition += " AND coalesce(json_extract(record.value, '$[1]'), '') = :platform"
            parameters["platform"] = platform
        return self.db.execute(
            f"{RECORD_ROWS} WHERE {condition} ORDER BY s.first_seen, platform", parameters
        ).fetchall()

    @store_errors
    def current_tags(self, namespace: str, repository: str) -> list[str]:
        """Tags the repository has now, by the last crawl that saw it."""
        rows = self.db.execute(
            "SELECT tag FROM tags WHERE namespace = ? AND repository = ? AND gone_at IS NULL",
            (namespace, repository),
        )
        return [row["tag"] for row in rows]

    @store_errors
    def tag_target_now(self, namespace: str, repository: str, tag: str) -> str | None:
        row = self.db.execute(
            "SELECT b.target FROM tags AS t JOIN builds AS b ON b.id = t.build "
            "WHERE t.namespace = ? AND t.repository = ? AND t.tag = ? AND t.gone_at IS NULL",
            (namespace, repository, tag),
        ).fetchone()
        return digest_text(row["target"]) if row else None

    @store_errors
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

    @store_errors
    def last_crawl(self) -> str | None:
        row = self.db.execute("SELECT max(last_seen) AS at FROM tags").fetchone()
        return row["at"]

    @store_errors
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

"""What the layers crawl and `lookup` ask of the layer index: what is left to index, a stored
image's data, and which images are, or contain, a digest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hubspider.store.images import HISTORY_FIELDS
from hubspider.store.keys import chunks, digest_key, digest_text, key_range
from hubspider.store.opening import StoreFile, store_errors
from hubspider.store.pending import CurrentTag, ImageSeen, PendingImage, pending_images

if TYPE_CHECKING:
    from collections.abc import Sequence

# The platform image records of every build a tag of the namespace was ever seen pointing to,
# once per repository and build (alias tags share a build).
IMAGES_SEEN = """
WITH seen AS (
    SELECT DISTINCT t.repository, s.build FROM tags AS t JOIN sightings AS s ON s.tag = t.id
     WHERE t.namespace = :namespace AND (:repositories IS NULL OR t.repository IN
                                         (SELECT value FROM json_each(:repositories)))
)
SELECT seen.repository, seen.build,
       json_extract(record.value, '$[0]') AS digest,
       json_extract(record.value, '$[1]') AS platform,
       json_extract(record.value, '$[3]') AS os,
       json_extract(record.value, '$[4]') AS architecture,
       json_extract(record.value, '$[5]') AS variant,
       json_extract(record.value, '$[6]') AS os_version,
       json_extract(record.value, '$[10]') AS last_pushed
  FROM seen JOIN builds AS b ON b.id = seen.build, json_each(b.records) AS record
 WHERE json_extract(record.value, '$[2]') = 'image' AND json_extract(record.value, '$[1]') IS NOT NULL
"""

CURRENT_TAGS = """
SELECT repository, build, tag, last_updated FROM tags
 WHERE namespace = :namespace AND gone_at IS NULL
   AND (:repositories IS NULL OR repository IN (SELECT value FROM json_each(:repositories)))
"""

HELD = """
SELECT i.digest, r.repository FROM image_repositories AS r JOIN images AS i ON i.id = r.image
 WHERE r.namespace = ?
"""

# Images whose image ID is in the key range, and images with a layer whose compressed
# digest, diff_id or chain ID is: each an index range, then the image's rows.
IMAGE_PARTS = """
WITH hits (kind, matched, image, position) AS (
    SELECT 'image_id', image_id, id, NULL FROM images WHERE image_id >= :low AND image_id < :high
    UNION ALL
    SELECT 'layer', l.digest, il.image, il.position
      FROM layers AS l JOIN image_layers AS il ON il.layer = l.id
     WHERE l.digest >= :low AND l.digest < :high
    UNION ALL
    SELECT 'diff_id', l.diff_id, il.image, il.position
      FROM layers AS l JOIN image_layers AS il ON il.layer = l.id
     WHERE l.diff_id >= :low AND l.diff_id < :high
    UNION ALL
    SELECT 'chain_id', c.chain_id, il.image, il.position
      FROM chains AS c JOIN image_layers AS il ON il.chain = c.id
     WHERE c.chain_id >= :low AND c.chain_id < :high
)
SELECT DISTINCT h.kind, h.matched, h.position, i.digest, i.image_id, i.platform, r.namespace, r.repository,
       (SELECT count(*) FROM image_layers AS il WHERE il.image = i.id) AS layer_count
  FROM hits AS h JOIN images AS i ON i.id = h.image JOIN image_repositories AS r ON r.image = i.id
"""

# The tags a digest's builds have now: the tag's last sighting is of that build, and it is not gone.
CURRENT_TAGS_OF_DIGESTS = """
SELECT d.digest, t.namespace, t.repository, t.tag
  FROM digests AS d JOIN sightings AS s ON s.build = d.build JOIN tags AS t ON t.id = s.tag
 WHERE d.digest IN ({marks}) AND t.gone_at IS NULL AND s.last_seen = t.last_seen
"""

# What lookup shows first: the image itself, then what it contains from the bottom.
KIND_ORDER = {"image_id": 0, "layer": 1, "diff_id": 2, "chain_id": 3}


class StoreImageQueries(StoreFile):
    @store_errors
    def pending_images(self, namespace: str, repositories: Sequence[str] | None = None) -> list[PendingImage]:
        """The platform images of the namespace's digest records (any tag, current or past) that
        have no image record for their repository, in the order to fetch them (see
        `pending.pending_images`)."""
        parameters = {
            "namespace": namespace,
            "repositories": None if repositories is None else orjson.dumps(list(repositories)).decode(),
        }
        seen = [
            ImageSeen(
                digest=row["digest"], repository=row["repository"], platform=row["platform"], os=row["os"],
                architecture=row["architecture"], variant=row["variant"], os_version=row["os_version"],
                last_pushed=row["last_pushed"], build=row["build"],
            )
            for row in self.db.execute(IMAGES_SEEN, parameters)
        ]  # fmt: skip
        current = [
            CurrentTag(row["repository"], row["build"], row["tag"], row["last_updated"])
            for row in self.db.execute(CURRENT_TAGS, parameters)
        ]
        held = {(digest_text(row[0]), row[1]) for row in self.db.execute(HELD, (namespace,))}
        known = {digest_text(row[0]) for row in self.db.execute("SELECT digest FROM images")}
        return pending_images(namespace, seen, current, held, known)

    @store_errors
    def indexed_image_count(self) -> int:
        """How many platform images the layer index holds."""
        (count,) = self.db.execute("SELECT count(*) FROM images").fetchone()
        return int(count)

    @store_errors
    def known_image(self, digest: str) -> dict[str, Any] | None:
        """The stored image ID, layers and history of a platform image: the parts of its image
        record that do not depend on the repository."""
        image = self.db.execute(
            "SELECT id, image_id, history, instructions FROM images WHERE digest = ?", (digest_key(digest),)
        ).fetchone()
        if image is None:
            return None
        rows = self.db.execute(
            """
            SELECT l.digest, l.diff_id, c.chain_id, l.size, l.media_type
              FROM image_layers AS il JOIN layers AS l ON l.id = il.layer JOIN chains AS c ON c.id = il.chain
             WHERE il.image = ? ORDER BY il.position
            """,
            (image["id"],),
        ).fetchall()
        instructions = orjson.loads(image["instructions"]) if image["instructions"] else [None] * len(rows)
        layers = [
            {
                "digest": digest_text(row["digest"]),
                "diff_id": digest_text(row["diff_id"]),
                "chain_id": digest_text(row["chain_id"]),
                "size": row["size"],
                "media_type": row["media_type"],
                "instruction": instruction,
            }
            for row, instruction in zip(rows, instructions, strict=True)
        ]
        history = [dict(zip(HISTORY_FIELDS, step, strict=True)) for step in orjson.loads(image["history"])]
        return {"image_id": digest_text(image["image_id"]), "layers": layers, "history": history}

    @store_errors
    def find_in_images(self, prefix: str) -> list[dict[str, Any]]:
        """The indexed images whose image ID is `prefix` (or starts with it), and those with a
        layer whose compressed digest, diff_id or chain ID is: one dict per match, image and
        repository, with `position` (from 0) for a layer, and `layer_count`."""
        low, high = key_range(prefix)
        found = [
            {
                "kind": row["kind"],
                "matched": digest_text(row["matched"]),
                "position": row["position"],
                "layer_count": row["layer_count"],
                "namespace": row["namespace"],
                "repository": row["repository"],
                "image_digest": digest_text(row["digest"]),
                "image_id": digest_text(row["image_id"]),
                "platform": row["platform"],
            }
            for row in self.db.execute(IMAGE_PARTS, {"low": low, "high": high})
        ]
        found.sort(
            key=lambda match: (
                KIND_ORDER[match["kind"]], match["matched"], match["namespace"], match["repository"],
                match["platform"], match["image_digest"], match["position"] or 0,
            )
        )  # fmt: skip
        return found

    @store_errors
    def current_tags_of(self, digests: Sequence[str]) -> dict[tuple[str, str, str], list[str]]:
        """The tags that point now to a build holding each digest, by (digest, namespace, repository)."""
        tags: dict[tuple[str, str, str], list[str]] = {}
        for marks, keys in chunks([digest_key(digest) for digest in sorted(set(digests))]):
            for row in self.db.execute(CURRENT_TAGS_OF_DIGESTS.format(marks=marks), keys):
                key = (digest_text(row["digest"]), row["namespace"], row["repository"])
                tags.setdefault(key, []).append(row["tag"])
        return tags

"""What a layers crawl writes: image records, their layer data once per manifest digest, and
which repositories hold each image.

Idempotent like the digest records' writes: an image already stored is not written again
(its data is fixed by its digest), and seeing a repository hold it again moves `last_seen`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hubspider.store.keys import digest_key
from hubspider.store.opening import StoreFile, store_errors

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# How history steps are stored: one array per step, in this order.
HISTORY_FIELDS = ("created", "created_by", "comment", "empty_layer")

INSERT_IMAGE = """
INSERT INTO images (digest, image_id, platform, os, architecture, variant, os_version, history, instructions)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""

# An image first indexed when the Hub API did not list it gets the instructions another
# repository's record brings; nothing else of a stored image ever changes.
FILL_INSTRUCTIONS = "UPDATE images SET instructions = ? WHERE id = ? AND instructions IS NULL"

UPSERT_HOLDER = """
INSERT INTO image_repositories (image, namespace, repository, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (image, namespace, repository) DO UPDATE SET
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen)
"""


class StoreImages(StoreFile):
    @store_errors
    def add_images(self, records: Sequence[Mapping[str, Any]], seen_at: str) -> None:
        """Image records (the export's shape; `seen_at` is the crawl's, whatever the records say),
        in one transaction of their own: a caller batches records into calls, one commit each."""
        with self.transaction():
            ids: dict[bytes | str, int] = {}
            for record in records:
                key = digest_key(record["digest"])
                if key not in ids:
                    ids[key] = self._write_image(key, record)
                holder = (ids[key], record["namespace"], record["repository"], seen_at, seen_at)
                self.db.execute(UPSERT_HOLDER, holder)

    def _write_image(self, key: bytes | str, record: Mapping[str, Any]) -> int:
        """The image's id: its data written when new."""
        instructions = stored_instructions(record["layers"])
        row = self.db.execute("SELECT id FROM images WHERE digest = ?", (key,)).fetchone()
        if row is not None:
            if instructions is not None:
                self.db.execute(FILL_INSTRUCTIONS, (instructions, row["id"]))
            return int(row["id"])
        history = orjson.dumps([[step.get(field) for field in HISTORY_FIELDS] for step in record["history"]])
        (image,) = self.db.execute(
            INSERT_IMAGE,
            (
                key, digest_key(record["image_id"]), record["platform"], record["os"], record["architecture"],
                record["variant"], record["os_version"], history.decode(), instructions,
            ),
        ).fetchone()  # fmt: skip
        rows = [
            (image, position, self._layer_id(layer), self._chain_id(layer["chain_id"]))
            for position, layer in enumerate(record["layers"])
        ]
        self.db.executemany("INSERT INTO image_layers VALUES (?, ?, ?, ?)", rows)
        if rows:
            self.db.execute("INSERT INTO image_tops (chain, image) VALUES (?, ?)", (rows[-1][3], image))
        return int(image)

    def _layer_id(self, layer: Mapping[str, Any]) -> int:
        key = (digest_key(layer["digest"]), layer["media_type"])
        row = self.db.execute("SELECT id FROM layers WHERE digest = ? AND media_type = ?", key).fetchone()
        if row is not None:
            return int(row["id"])
        (layer_id,) = self.db.execute(
            "INSERT INTO layers (digest, media_type, diff_id, size) VALUES (?, ?, ?, ?) RETURNING id",
            (*key, digest_key(layer["diff_id"]), layer["size"]),
        ).fetchone()
        return int(layer_id)

    def _chain_id(self, chain_id: str) -> int:
        key = digest_key(chain_id)
        row = self.db.execute("SELECT id FROM chains WHERE chain_id = ?", (key,)).fetchone()
        if row is not None:
            return int(row["id"])
        (chain,) = self.db.execute("INSERT INTO chains (chain_id) VALUES (?) RETURNING id", (key,)).fetchone()
        return int(chain)


def stored_instructions(layers: Sequence[Mapping[str, Any]]) -> str | None:
    """The layers' instructions as stored: a JSON array, or NULL when the Hub API named none."""
    instructions = [layer["instruction"] for layer in layers]
    if all(instruction is None for instruction in instructions):
        return None
    return orjson.dumps(instructions).decode()

"""What the Hub API announces of platform images the registry has not been asked for yet: their
compressed layer digests, stored as the top of their chain (version 4's `announced` tables).

A used-up pull window leaves most images unindexed for days, while the Hub API's answer that
names their build steps lists their compressed layers already. Stored, they let `detect` match
an input that carries compressed digests (an OCI layout, a registry reference) before the
layers crawl reaches its base. Idempotent: an image is written once (its manifest digest fixes
its layers), and a repository holding it is noted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubspider.registry.content import chain_ids
from hubspider.store.keys import chunks, digest_key, digest_text
from hubspider.store.opening import StoreFile, store_errors

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class AnnouncedImage:
    """A platform image as the Hub API lists it: its manifest digest, platform, compressed layers."""

    digest: str
    platform: str
    layer_digests: tuple[str, ...]
    os_version: str | None = None


INSERT_ANNOUNCED = """
INSERT INTO announced (digest, platform, os_version, layer_count, top) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (digest) DO NOTHING
"""

INSERT_HOLDER = """
INSERT OR IGNORE INTO announced_repositories (announced, namespace, repository)
SELECT id, ?, ? FROM announced WHERE digest = ?
"""

ANNOUNCED_AMONG = "SELECT digest FROM announced WHERE digest IN ({marks})"


def top_chain(layer_digests: Sequence[str]) -> str:
    """The chain of all the layers: the same rule as chain IDs, applied to compressed digests."""
    return chain_ids(layer_digests)[-1]


class StoreAnnounced(StoreFile):
    @store_errors
    def add_announced(self, batch: Sequence[tuple[str, str, Sequence[AnnouncedImage]]]) -> None:
        """(namespace, repository, images) groups, in one transaction: a caller batches answers."""
        with self.transaction():
            for namespace, repository, images in batch:
                for image in images:
                    if not image.layer_digests:
                        continue  # no layer, no chain: nothing it could be a base of
                    key = digest_key(image.digest)
                    top = digest_key(top_chain(image.layer_digests))
                    row = (key, image.platform, image.os_version, len(image.layer_digests), top)
                    self.db.execute(INSERT_ANNOUNCED, row)
                    self.db.execute(INSERT_HOLDER, (namespace, repository, key))

    @store_errors
    def announced_among(self, digests: Sequence[str]) -> set[str]:
        """Which of these platform manifest digests the store has announced layers of."""
        found: set[str] = set()
        for marks, part in chunks([digest_key(digest) for digest in sorted(set(digests))]):
            found.update(
                digest_text(row[0]) for row in self.db.execute(ANNOUNCED_AMONG.format(marks=marks), part)
            )
        return found

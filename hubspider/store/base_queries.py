"""What `detect` asks the store: the official images an image a user holds was built on.

The rules are `hubspider.matching`'s; this gathers their inputs. Candidates come from the
layer index (images whose top chain is one of the input's chain IDs, or whose image ID is the
input's), from the digest records (a digest of the input that is an official platform
manifest, or the index of a build holding one), and, for images the layer index does not hold
yet, from what the Hub API announced of their compressed layers (`announced`, when the input
carries compressed digests); the tags come from the digest records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hubspider.held.image import platform_key
from hubspider.matching import (
    Candidate,
    CurrentTags,
    PlatformImage,
    RepositoryTag,
    TagState,
    base_entry,
    base_order,
    chain_depths,
    compressed_depths,
    matched_layers,
    merged,
    newer_entry,
    newer_pointer,
    platform_image,
)
from hubspider.store.keys import chunks, digest_key, digest_text
from hubspider.store.opening import StoreFile, store_errors

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Iterator, Sequence

    from hubspider.held.image import HeldImage

# Images whose last layer has one of these chains (schema.TOPS_4).
TOP_CHAINS = """
SELECT c.chain_id, i.digest, i.image_id, i.platform, i.os_version
  FROM chains AS c
  JOIN image_tops AS top ON top.chain = c.id
  JOIN images AS i ON i.id = top.image
 WHERE c.chain_id IN ({marks})
"""

# Announced images (schema.ANNOUNCED_4) whose compressed top is one of these chains, and that the
# layer index does not hold: once it does, its diff_ids decide.
ANNOUNCED_TOPS = """
SELECT a.digest, a.platform, a.os_version, a.top
  FROM announced AS a
 WHERE a.top IN ({marks}) AND NOT EXISTS (SELECT 1 FROM images AS i WHERE i.digest = a.digest)
"""

ANNOUNCED_HOLDERS = """
SELECT a.digest, r.namespace, r.repository
  FROM announced AS a JOIN announced_repositories AS r ON r.announced = a.id
 WHERE a.digest IN ({marks})
"""

IMAGES_BY_IMAGE_ID = "SELECT digest, image_id, platform, os_version FROM images WHERE image_id = ?"

IMAGES_BY_DIGEST = "SELECT digest, image_id, platform, os_version FROM images WHERE digest IN ({marks})"

# The records of every build that holds one of these digests, to tell an index from an image.
BUILDS_OF_DIGESTS = """
SELECT d.digest, b.records FROM digests AS d JOIN builds AS b ON b.id = d.build WHERE d.digest IN ({marks})
"""

# Every tag that ever pointed to a build holding one of these digests, once per digest: whether
# it points to one now, and what it points to now (and since when).
TAG_STATES = """
SELECT d.digest, t.namespace, t.repository, t.tag, t.build, t.first_seen, t.moved_at,
       t.gone_at IS NOT NULL AS gone,
       max(t.gone_at IS NULL AND s.last_seen = t.last_seen) AS current,
       (SELECT now.first_seen FROM sightings AS now WHERE now.tag = t.id AND now.build = t.build)
           AS pointed_since
  FROM digests AS d JOIN sightings AS s ON s.build = d.build JOIN tags AS t ON t.id = s.tag
 WHERE d.digest IN ({marks})
 GROUP BY d.digest, t.id
"""

HOLDERS = """
SELECT i.digest, r.namespace, r.repository
  FROM images AS i JOIN image_repositories AS r ON r.image = i.id
 WHERE i.digest IN ({marks})
"""

REPOSITORY_TAGS = """
SELECT tag, build, first_seen FROM tags WHERE namespace = ? AND repository = ? AND gone_at IS NULL
"""

# Fields of a build's record arrays (schema.BUILD_FIELDS).
DIGEST, PLATFORM, KIND, OS_VERSION = 0, 1, 2, 6


def record_arrays(records: str) -> list[list[Any]]:
    arrays: list[list[Any]] = orjson.loads(records)
    return arrays


def platform_images(arrays: Iterable[Sequence[Any]]) -> list[PlatformImage]:
    """A build's platform images, from its record arrays."""
    return [
        PlatformImage(array[DIGEST], array[PLATFORM], array[OS_VERSION])
        for array in arrays
        if array[KIND] == "image" and array[PLATFORM]
    ]


class StoreBaseQueries(StoreFile):
    @store_errors
    def bases_of(self, held: HeldImage) -> list[dict[str, Any]]:
        """The official images `held` was built on (or is), deepest first: the `bases` of the
        detect contract, one per (image digest, namespace, repository)."""
        depths = chain_depths(held.diff_ids)
        compressed = compressed_depths(held)
        found: dict[str, Candidate] = {}
        for candidate in self._candidates(held, depths, compressed):
            known = found.get(candidate.digest)
            found[candidate.digest] = candidate if known is None else merged(known, candidate)
        matched = {
            digest: layers
            for digest, candidate in found.items()
            if (layers := matched_layers(candidate, held, depths, compressed)) is not None
        }
        if not matched:
            return []
        tags = self._tag_states(list(matched))
        holders = self._holders(list(matched))
        # The layer index's holders of an indexed image stay the only ones, as before.
        unindexed = [digest for digest in matched if found[digest].image_id is None]
        for digest, repositories in self._holders(unindexed, ANNOUNCED_HOLDERS).items():
            holders.setdefault(digest, set()).update(repositories)
        # Asked once per repository, however many of its images are bases.
        current: dict[tuple[str, str], CurrentTags] = {}
        bases = []
        for digest, layers in matched.items():
            by_repository = tags.get(digest, {})
            for repository in sorted(set(by_repository) | holders.get(digest, set())):
                states = by_repository.get(repository, [])
                if repository not in current:
                    current[repository] = self._repository_tags(*repository)
                newer = self._newer(found[digest], repository, states, current[repository])
                bases.append(base_entry(found[digest], *repository, tags=states, matched=layers, newer=newer))
        bases.sort(key=base_order)
        return bases

    def _newer(
        self,
        base: Candidate,
        repository: tuple[str, str],
        states: list[TagState],
        current: CurrentTags,
    ) -> dict[str, Any] | None:
        """The contract's `newer` of `base` in `repository`: the pointed build's image of its platform."""
        pointer = newer_pointer(states, current)
        if pointer is None:
            return None
        digest_now = platform_image(self._build_images(pointer.build), base.platform, base.os_version)
        return newer_entry(pointer, digest_now, base.digest, *repository)

    def _candidates(
        self, held: HeldImage, depths: dict[str, int], compressed: dict[str, int]
    ) -> Iterator[Candidate]:
        """Every image that may be a base of `held`, each way it was found (platform unchecked)."""
        chains = [digest_key(chain) for chain in depths]
        for marks, part in chunks(chains):
            for row in self.db.execute(TOP_CHAINS.format(marks=marks), part):
                yield self._indexed(row, top_chain=digest_text(row["chain_id"]))
        if held.image_id is not None:
            for row in self.db.execute(IMAGES_BY_IMAGE_ID, (digest_key(held.image_id),)):
                yield self._indexed(row)
        named = self._named_by_digests(held)
        keys = [digest_key(digest) for digest in sorted(set(held.digests) | set(named))]
        for marks, part in chunks(keys):
            for row in self.db.execute(IMAGES_BY_DIGEST.format(marks=marks), part):
                known = named.pop(digest_text(row["digest"]), None)
                yield self._indexed(row, indexes=frozenset() if known is None else known.indexes)
        # Named by the digest records only: the layers crawl has not reached them yet.
        yield from named.values()
        tops = [digest_key(chain) for chain in compressed]
        for marks, part in chunks(tops):
            for row in self.db.execute(ANNOUNCED_TOPS.format(marks=marks), part):
                yield Candidate(
                    digest=digest_text(row["digest"]), image_id=None, platform=row["platform"],
                    os_version=row["os_version"], compressed_top=digest_text(row["top"]),
                )  # fmt: skip

    @staticmethod
    def _indexed(
        row: sqlite3.Row, top_chain: str | None = None, indexes: frozenset[str] = frozenset()
    ) -> Candidate:
        return Candidate(
            digest=digest_text(row["digest"]), image_id=digest_text(row["image_id"]),
            platform=row["platform"], os_version=row["os_version"], top_chain=top_chain, indexes=indexes,
        )  # fmt: skip

    def _named_by_digests(self, held: HeldImage) -> dict[str, Candidate]:
        """The official platform images of `held`'s platform that its digests name: a platform
        manifest digest itself, or an index digest's image for that platform."""
        wanted = platform_key(held.platform)
        named: dict[str, Candidate] = {}
        keys = [digest_key(digest) for digest in sorted(set(held.digests))]
        for marks, part in chunks(keys):
            for row in self.db.execute(BUILDS_OF_DIGESTS.format(marks=marks), part):
                given = digest_text(row["digest"])
                arrays = record_arrays(row["records"])
                kinds = {array[KIND] for array in arrays if array[DIGEST] == given}
                for image in platform_images(arrays):
                    if platform_key(image.platform) != wanted:
                        continue
                    if image.digest == given or "index" in kinds:
                        indexes = frozenset({given}) if image.digest != given else frozenset()
                        candidate = Candidate(
                            image.digest, None, image.platform, image.os_version, None, indexes
                        )
                        known = named.get(image.digest)
                        named[image.digest] = candidate if known is None else merged(known, candidate)
        return named

    def _tag_states(self, digests: list[str]) -> dict[str, dict[tuple[str, str], list[TagState]]]:
        """By digest and (namespace, repository): every tag that ever pointed to a build holding it."""
        states: dict[str, dict[tuple[str, str], list[TagState]]] = {}
        for marks, part in chunks([digest_key(digest) for digest in digests]):
            for row in self.db.execute(TAG_STATES.format(marks=marks), part):
                state = TagState(
                    tag=row["tag"], current=bool(row["current"]), gone=bool(row["gone"]),
                    moved_at=row["moved_at"], first_seen=row["first_seen"], build=row["build"],
                    pointed_since=row["pointed_since"],
                )  # fmt: skip
                by_repository = states.setdefault(digest_text(row["digest"]), {})
                by_repository.setdefault((row["namespace"], row["repository"]), []).append(state)
        return states

    def _holders(self, digests: list[str], query: str = HOLDERS) -> dict[str, set[tuple[str, str]]]:
        """The repositories the layer index (or the announced images) say hold each image."""
        holders: dict[str, set[tuple[str, str]]] = {}
        for marks, part in chunks([digest_key(digest) for digest in digests]):
            for row in self.db.execute(query.format(marks=marks), part):
                holders.setdefault(digest_text(row["digest"]), set()).add(
                    (row["namespace"], row["repository"])
                )
        return holders

    def _repository_tags(self, namespace: str, repository: str) -> CurrentTags:
        rows = self.db.execute(REPOSITORY_TAGS, (namespace, repository))
        return CurrentTags(RepositoryTag(row["tag"], row["build"], row["first_seen"]) for row in rows)

    def _build_images(self, build: int) -> list[PlatformImage]:
        row = self.db.execute("SELECT records FROM builds WHERE id = ?", (build,)).fetchone()
        return [] if row is None else platform_images(record_arrays(row["records"]))

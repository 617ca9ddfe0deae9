"""The rules that turn one Hub tag into digest records."""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Iterable


class DigestRecord(TypedDict):
    """One exported record, field by field in export order: the contract that
    `schemas/digest_record.json` states for validators (a unit test keeps the two equal)."""

    digest: str
    namespace: str
    repository: str
    tag: str
    image: str
    platform: str | None
    kind: str
    os: str | None
    architecture: str | None
    variant: str | None
    os_version: str | None
    tag_digest: str | None
    media_type: str | None
    size: int | None
    last_pushed: str | None
    seen_at: str


RECORD_FIELDS: tuple[str, ...] = tuple(DigestRecord.__annotations__)

INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)


def image_name(namespace: str, repository: str) -> str:
    """The name the docker CLI takes: `alpine`, `bitnami/redis`, `mcr.microsoft.com/dotnet/runtime`
    (a registry crawl's namespace is the registry host)."""
    return repository if namespace == "library" else f"{namespace}/{repository}"


def image_reference(namespace: str, repository: str, tag: str) -> str:
    """The reference the docker CLI takes: `alpine:3.20`, `mcr.microsoft.com/dotnet/runtime:8.0`."""
    return f"{image_name(namespace, repository)}:{tag}"


def tag_records(
    tag: dict[str, Any], namespace: str, repository: str, seen_at: str, skipped: Counter[str]
) -> list[DigestRecord]:
    """One record per platform image with a digest, plus the tag's own digest if it is an index.

    Images that are not platform images (attestations, whose os or architecture is `unknown`)
    and images without a digest give no record; `skipped` counts them by reason.
    """
    name = tag["name"]
    tag_digest = tag.get("digest")
    media_type = tag.get("media_type")
    image = image_reference(namespace, repository, name)
    records: list[DigestRecord] = []
    tag_digest_is_an_image = False
    for entry in tag["images"]:
        digest = entry.get("digest")
        if digest == tag_digest:
            tag_digest_is_an_image = True
        os = entry.get("os")
        architecture = entry.get("architecture")
        if os == "unknown" or architecture == "unknown" or not os or not architecture:
            skipped["not_a_platform"] += 1
            continue
        if digest is None:
            skipped["image_without_digest"] += 1
            continue
        variant = entry.get("variant") or None
        records.append(
            {
                "digest": digest,
                "namespace": namespace,
                "repository": repository,
                "tag": name,
                "image": image,
                "platform": f"{os}/{architecture}/{variant}" if variant else f"{os}/{architecture}",
                "kind": "image",
                "os": os,
                "architecture": architecture,
                "variant": variant,
                "os_version": entry.get("os_version") or None,
                "tag_digest": tag_digest,
                "media_type": media_type,
                "size": entry.get("size"),
                "last_pushed": entry.get("last_pushed"),
                "seen_at": seen_at,
            }
        )
    if tag_digest is None:
        skipped["tag_without_digest"] += 1
    elif not tag_digest_is_an_image:
        records.append(
            {
                "digest": tag_digest,
                "namespace": namespace,
                "repository": repository,
                "tag": name,
                "image": image,
                "platform": None,
                "kind": "index" if media_type in INDEX_MEDIA_TYPES else "image",
                "os": None,
                "architecture": None,
                "variant": None,
                "os_version": None,
                "tag_digest": tag_digest,
                "media_type": media_type,
                "size": None,
                "last_pushed": tag.get("tag_last_pushed"),
                "seen_at": seen_at,
            }
        )
    return records


def record_key(record: DigestRecord | dict[str, Any]) -> bytes:
    """A record's identity in 16 bytes, so that a million seen records take tens of MB."""
    identity = "\0".join(
        (
            record["namespace"],
            record["repository"],
            record["tag"],
            record["digest"],
            record["platform"] or "",
        )
    )
    return blake2b(identity.encode(), digest_size=16).digest()


def tag_key(namespace: str, repository: str, tag: str, target: str) -> bytes:
    """A tag pointing at one target, in 16 bytes: its records are exported together, so one
    key a tag stands for all of them (a fifth of the hashing of one key a record)."""
    identity = "\0".join((namespace, repository, tag, target))
    return blake2b(identity.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class TagSeen:
    """A tag as one page showed it, for the `tags` table."""

    namespace: str
    repository: str
    tag: str
    target: str
    last_updated: str | None


def tag_target(tag_digest: str | None, image_digests: Iterable[str]) -> str:
    return tag_digest or ",".join(sorted(image_digests))

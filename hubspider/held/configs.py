"""The parts of an archive's JSON that detection needs: an image config's platform and diff_ids,
and the digests that file names carry. Each problem names the file it is in."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hubspider.held.members import problem
from hubspider.registry.content import DIGEST, platform_name, sha256_digest

# `blobs/sha256/<hex>` (OCI layouts, Docker 25 saves) and `<hex>.tar.gz` (kaniko, crane)
# name a layer by its compressed digest; `<v1 id>/layer.tar` and skopeo's `<diff_id>.tar` do not.
DIGEST_NAMED = re.compile(r"^(?:blobs/sha256/([0-9a-f]{64})|(?:sha256:)?([0-9a-f]{64})\.tar\.gz)$")
# Attestations (buildx provenance, SBOM) are stored as manifests of platform unknown/unknown.
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HeldConfig:
    image_id: str
    platform: str
    diff_ids: tuple[str, ...]

    @property
    def is_attestation(self) -> bool:
        return self.platform.split("/")[0] == UNKNOWN


def json_document(body: bytes, where: str) -> Any:
    """`body` parsed, or one line saying why `where` is not JSON."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise problem(f"{where} is not UTF-8 text: not JSON") from None
    except json.JSONDecodeError as error:
        raise problem(
            f"{where} is not JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (ValueError, RecursionError):
        raise problem(f"{where} is not JSON") from None


def json_object(body: bytes, where: str) -> dict[str, Any]:
    document = json_document(body, where)
    if not isinstance(document, dict):
        raise problem(f"{where} is a JSON {type(document).__name__}, not an object")
    return document


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def read_config(body: bytes, where: str) -> HeldConfig:
    """The image config in `body`. Its ID is the sha256 of these bytes, whatever the file is called:
    ggcr's edited test config keeps the name of the config it was made from.

    `hubspider.registry.content.parse_config` is not used: it refuses a config for an odd history,
    which detection never looks at."""
    config = json_object(body, where)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise problem(f"{where} is not an image config (no rootfs.diff_ids)")
    for index, diff_id in enumerate(diff_ids):
        if not isinstance(diff_id, str) or not DIGEST.match(diff_id):
            raise problem(f"{where}: diff_id {index} is not a sha256 digest: {str(diff_id)[:80]!r}")
    os, architecture = _text(config.get("os")), _text(config.get("architecture"))
    if os is None or architecture is None:
        raise problem(f"{where} is an image config without os and architecture")
    return HeldConfig(
        image_id=sha256_digest(body),
        platform=platform_name(os, architecture, _text(config.get("variant"))),
        diff_ids=tuple(diff_ids),
    )


def digest_in_name(name: str) -> str | None:
    """The sha256 digest a layer file's name carries, if its tool names layers by digest."""
    match = DIGEST_NAMED.match(name)
    if match is None:
        return None
    return "sha256:" + (match.group(1) or match.group(2))


def compressed_digests(layer_digests: list[str | None], diff_ids: tuple[str, ...]) -> tuple[str, ...] | None:
    """The compressed digests, when every layer has one, they pair with the diff_ids, and they are
    not the diff_ids themselves (Docker's classic store saves uncompressed layers)."""
    if len(layer_digests) != len(diff_ids) or any(digest is None for digest in layer_digests):
        return None
    digests = tuple(digest for digest in layer_digests if digest is not None)
    return None if digests == diff_ids else digests


def digests_in_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Digests that references like `busybox@sha256:…` pin."""
    found = []
    for name in names:
        _, at, digest = name.rpartition("@")
        if at and DIGEST.match(digest):
            found.append(digest)
    return tuple(found)


def unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))

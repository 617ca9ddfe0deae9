"""What a registry serves, checked before it is used: manifests, configs, and the image record
built from them. Content is addressed by digest, so a copy on any mirror is as good as the
original once its sha256 matches; one that does not match is refused."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
#: What a manifest GET accepts: platform manifests only, since the Hub API already names them.
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
#: What a GET of a tag accepts: an index too, whose platform manifest is then asked for.
ANY_MANIFEST_ACCEPT = f"{OCI_INDEX}, {DOCKER_MANIFEST_LIST}, {MANIFEST_ACCEPT}"

# The distribution spec lets registries refuse manifests over 4 MiB; a config that big is
# not a config either (real ones are a few KB, long histories a few hundred).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024

#: The annotation BuildKit marks an attestation manifest with (`attestation-manifest`).
REFERENCE_TYPE = "vnd.docker.reference.type"

HISTORY_KEYS = ("created", "created_by", "comment", "empty_layer")


# The names are the contract of issue 10 (spider, store and tests use them).
class DigestMismatch(Exception):  # noqa: N818
    """A body whose sha256 is not the digest it was asked by."""


class ManifestProblem(ValueError):  # noqa: N818
    """A manifest or config that cannot give an image record; the message is one line."""


@dataclass(frozen=True, slots=True)
class LayerRef:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    config_digest: str
    layers: tuple[LayerRef, ...]


@dataclass(frozen=True, slots=True)
class ImageConfig:
    diff_ids: tuple[str, ...]
    #: Every build step, each with exactly HISTORY_KEYS.
    history: tuple[dict[str, Any], ...]
    #: The platform the config names (None where a field is absent or not a string).
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformFields:
    """A platform as an index entry or an image config states it, field by field (None where a
    field is absent or not a string); an attestation's is `unknown/unknown`."""

    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A manifest an index lists. `platform` is None for an attestation manifest or one
    without a platform: neither is an image to run."""

    digest: str
    media_type: str
    platform: str | None
    #: The manifest's size in bytes, as the descriptor gives it.
    size: int | None = None
    stated: PlatformFields = PlatformFields()


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def verify_digest(body: bytes, digest: str) -> None:
    """Raise DigestMismatch unless `body` is what `digest` names."""
    if not DIGEST.match(digest):
        raise DigestMismatch(f"cannot check {digest!r}: only sha256:<64 hex> digests are supported")
    actual = sha256_digest(body)
    if actual != digest:
        raise DigestMismatch(f"content of {digest} has digest {actual} ({len(body)} bytes): refused")


def _json_object(body: bytes, what: str, limit: int) -> dict[str, Any]:
    if len(body) > limit:
        raise ManifestProblem(f"{what} of {len(body)} bytes is larger than {limit}: refused")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ManifestProblem(f"{what} is not JSON ({len(body)} bytes): refused") from None
    if not isinstance(parsed, dict):
        raise ManifestProblem(f"{what} is a JSON {type(parsed).__name__}, not an object: refused")
    return parsed


def _digest_field(value: object, where: str) -> str:
    if not isinstance(value, str) or not DIGEST.match(value):
        raise ManifestProblem(f"{where} is not a sha256 digest: {str(value)[:80]!r}")
    return value


def _layer(entry: object, index: int) -> LayerRef:
    if not isinstance(entry, dict):
        raise ManifestProblem(f"manifest layer {index} is not an object")
    size = entry.get("size")
    media_type = entry.get("mediaType")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestProblem(f"manifest layer {index} has no valid size: {str(size)[:40]!r}")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestProblem(f"manifest layer {index} has no mediaType")
    return LayerRef(_digest_field(entry.get("digest"), f"manifest layer {index} digest"), size, media_type)


def parse_manifest(body: bytes) -> Manifest:
    """A platform manifest (Docker v2 schema 2 or OCI). An index, a schema-1 manifest or
    anything else raises ManifestProblem."""
    manifest = _json_object(body, "manifest", MAX_MANIFEST_BYTES)
    media_type = manifest.get("mediaType")
    if manifest.get("schemaVersion") == 1 or media_type in DOCKER_SCHEMA1:
        raise ManifestProblem("schema 1 manifest (no config, no diff_ids): refused")
    if media_type in (DOCKER_MANIFEST_LIST, OCI_INDEX) or "manifests" in manifest:
        raise ManifestProblem(
            f"an index ({media_type or 'manifests without a mediaType'}), not a platform manifest: refused"
        )
    if manifest.get("schemaVersion") != 2:
        raise ManifestProblem(f"manifest schemaVersion {str(manifest.get('schemaVersion'))[:20]!r}: refused")
    # OCI made mediaType optional; a manifest without one is an OCI manifest.
    media_type = OCI_MANIFEST if media_type is None else media_type
    if media_type not in (DOCKER_MANIFEST, OCI_MANIFEST):
        raise ManifestProblem(f"manifest mediaType {str(media_type)[:80]!r}: refused")
    config = manifest.get("config")
    layers = manifest.get("layers")
    if not isinstance(config, dict):
        raise ManifestProblem("manifest without a config: refused")
    if not isinstance(layers, list):
        raise ManifestProblem("manifest without a layers list: refused")
    return Manifest(
        media_type=media_type,
        config_digest=_digest_field(config.get("digest"), "manifest config digest"),
        layers=tuple(_layer(entry, index) for index, entry in enumerate(layers)),
    )


def _step(entry: object, index: int) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ManifestProblem(f"config history entry {index} is not an object")
    step: dict[str, Any] = {
        key: entry.get(key) if isinstance(entry.get(key), str) else None for key in HISTORY_KEYS[:3]
    }
    step["empty_layer"] = entry.get("empty_layer") is True
    return step


def parse_config(body: bytes) -> ImageConfig:
    """An image config's diff_ids and build history (absent history: none)."""
    config = _json_object(body, "config", MAX_CONFIG_BYTES)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise ManifestProblem("config without rootfs.diff_ids: refused")
    history = config.get("history")
    if history is None:
        history = []
    if not isinstance(history, list):
        raise ManifestProblem("config history is not a list: refused")
    return ImageConfig(
        diff_ids=tuple(
            _digest_field(value, f"config diff_id {index}") for index, value in enumerate(diff_ids)
        ),
        history=tuple(_step(entry, index) for index, entry in enumerate(history)),
        os=_text(config.get("os")),
        architecture=_text(config.get("architecture")),
        variant=_text(config.get("variant")),
    )


def platform_name(os: str, architecture: str, variant: str | None = None) -> str:
    """`os/architecture[/variant]`, as the digest records spell a platform."""
    return "/".join(part for part in (os, architecture, variant) if part)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_attestation(descriptor: dict[str, Any]) -> bool:
    """An attestation manifest (BuildKit's provenance or SBOM) beside an index's images: not an
    image to run, though it is a manifest."""
    annotations = _object(descriptor.get("annotations"))
    platform = _object(descriptor.get("platform"))
    return annotations.get(REFERENCE_TYPE) == "attestation-manifest" or "unknown" in (
        platform.get("os"),
        platform.get("architecture"),
    )


def is_index(body: bytes) -> bool:
    """Whether a manifest answer is an index (OCI) or a manifest list (Docker)."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(parsed, dict):
        return False
    return parsed.get("mediaType") in INDEX_TYPES or isinstance(parsed.get("manifests"), list)


def parse_index(body: bytes) -> tuple[IndexEntry, ...]:
    """The manifests an index lists, attestations marked by a None platform."""
    index = _json_object(body, "index", MAX_MANIFEST_BYTES)
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise ManifestProblem("index without a manifests list: refused")
    return tuple(_index_entry(entry, position) for position, entry in enumerate(entries))


def _index_entry(entry: object, position: int) -> IndexEntry:
    if not isinstance(entry, dict):
        raise ManifestProblem(f"index entry {position} is not an object")
    digest = _digest_field(entry.get("digest"), f"index entry {position} digest")
    media_type = _text(entry.get("mediaType")) or ""
    size = entry.get("size")
    size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
    stated = platform_fields(_object(entry.get("platform")))
    os, architecture = stated.os, stated.architecture
    if is_attestation(entry) or os is None or architecture is None:
        return IndexEntry(digest, media_type, None, size, stated)
    return IndexEntry(digest, media_type, platform_name(os, architecture, stated.variant), size, stated)


def platform_fields(document: dict[str, Any]) -> PlatformFields:
    """The platform an index entry's `platform` object or an image config names."""
    return PlatformFields(
        os=_text(document.get("os")),
        architecture=_text(document.get("architecture")),
        variant=_text(document.get("variant")),
        os_version=_text(document.get("os.version")),
    )


def config_platform(body: bytes) -> PlatformFields:
    """The platform an image config names, whatever else it holds."""
    return platform_fields(_json_object(body, "config", MAX_CONFIG_BYTES))


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of each layer with every one below it (OCI image spec, config.md)."""
    chain: list[str] = []
    for diff_id in diff_ids:
        chain.append(sha256_digest(f"{chain[-1]} {diff_id}".encode()) if chain else diff_id)
    return chain


def layer_instructions(images_answer: list[dict[str, Any]], digest: str) -> list[str] | None:
    """The instructions of the steps that made the layers of platform image `digest`, in order,
    from the Hub API's tags/{tag}/images answer; None if the answer does not list the image.
    Steps without a digest (CMD, ENV, LABEL) made no layer."""
    for image in images_answer:
        if not isinstance(image, dict) or image.get("digest") != digest:
            continue
        steps = image.get("layers")
        if not isinstance(steps, list):
            return None
        return [
            step["instruction"] if isinstance(step.get("instruction"), str) else ""
            for step in steps
            if isinstance(step, dict) and step.get("digest")
        ]
    return None


def image_record(
    *,
    digest: str,
    namespace: str,
    repository: str,
    platform: str,
    os: str,
    architecture: str,
    variant: str | None,
    os_version: str | None,
    image_id: str,
    manifest: Manifest,
    config: ImageConfig,
    instructions: Sequence[str] | None,
    seen_at: str,
) -> dict[str, Any]:
    """The image record (schemas/image_record.json) of one platform image of one repository."""
    if len(manifest.layers) != len(config.diff_ids):
        raise ManifestProblem(
            f"manifest has {len(manifest.layers)} layers, its config {len(config.diff_ids)} diff_ids: refused"
        )
    # Instructions that do not pair one to one with the layers would name the wrong steps.
    if instructions is None or len(instructions) != len(manifest.layers):
        paired: Sequence[str | None] = [None] * len(manifest.layers)
    else:
        paired = instructions
    layers = [
        {
            "digest": layer.digest,
            "diff_id": diff_id,
            "chain_id": chain_id,
            "size": layer.size,
            "media_type": layer.media_type,
            "instruction": instruction,
        }
        for layer, diff_id, chain_id, instruction in zip(
            manifest.layers, config.diff_ids, chain_ids(config.diff_ids), paired, strict=True
        )
    ]
    return {
        "digest": digest,
        "image_id": image_id,
        "namespace": namespace,
        "repository": repository,
        "platform": platform,
        "os": os,
        "architecture": architecture,
        "variant": variant,
        "os_version": os_version,
        "layers": layers,
        "history": [dict(step) for step in config.history],
        "seen_at": seen_at,
    }

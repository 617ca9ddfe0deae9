"""The images of an OCI image layout (`index.json` + `blobs/sha256/`), whoever wrote it: skopeo,
crane, buildx, containerd, Docker 25+. Indexes nest; descriptors may lack a mediaType; a
multi-platform index usually lists platforms whose blobs were never saved; attestation
manifests sit beside the images. Blobs that are read must hash to their names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubspider.held.configs import (
    compressed_digests,
    digests_in_names,
    json_object,
    read_config,
    unique,
)
from hubspider.held.image import HeldImage
from hubspider.held.members import problem, short
from hubspider.registry.content import (
    DIGEST,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    is_attestation,
    sha256_digest,
)

if TYPE_CHECKING:
    from hubspider.held.members import Members

INDEXES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
IMAGE_CONFIGS = (OCI_CONFIG, DOCKER_CONFIG)
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
# Real layouts nest one index in another, once; a deeper chain is no image anyone saved.
MAX_DEPTH = 8


@dataclass
class Walk:
    """What a walk of the index found: images, and what it passed by, to say why there is none."""

    images: list[HeldImage] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def why_none(self, source: str) -> str:
        if self.artifacts:
            return (
                f"{source} holds an OCI artifact ({', '.join(unique(tuple(self.artifacts)))}), not an image"
            )
        if self.missing:
            shown = ", ".join(
                f"blobs/sha256/{short(digest)[7:]}" for digest in unique(tuple(self.missing))[:3]
            )
            return f"{source} holds no image: the blobs its index names are missing ({shown})"
        if self.unknown:
            unknown = ", ".join(unique(tuple(self.unknown)))
            return f"{source} holds no image: only unknown media types ({unknown})"
        return f"{source} holds no image: its index.json lists no manifests"


def blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def read_blob(members: Members, digest: str, limit: int, what: str) -> bytes | None:
    """The blob `digest` names, checked against it; None if the layout does not hold it."""
    name = blob_name(digest)
    body = members.read(name, limit, what)
    if body is not None and sha256_digest(body) != digest:
        shown = short(digest).removeprefix("sha256:")
        raise problem(
            f"{members.source}: blobs/sha256/{shown} does not match its digest: the file is damaged"
        )
    return body


def _names(annotations: object) -> tuple[str, ...]:
    """The names a descriptor gives its image. containerd's full name, if any, says what a bare
    ref.name tag (`latest`) would only hint at."""
    if not isinstance(annotations, dict):
        return ()
    full = annotations.get(CONTAINERD_NAME)
    if isinstance(full, str) and full:
        return (full,)
    ref = annotations.get(REF_NAME)
    return (ref,) if isinstance(ref, str) and ref else ()


def _kind(media_type: object, document: dict[str, Any]) -> str | None:
    """'index' or 'manifest'; the descriptor's media type first, then the document's own, then
    its shape (OCI made mediaType optional)."""
    for candidate in (media_type, document.get("mediaType")):
        if candidate in INDEXES:
            return "index"
        if candidate in MANIFESTS:
            return "manifest"
    if "manifests" in document:
        return "index"
    if "config" in document and "layers" in document:
        return "manifest"
    return None


def _layer_digest(layer: object) -> str | None:
    digest = layer.get("digest") if isinstance(layer, dict) else None
    return digest if isinstance(digest, str) and DIGEST.match(digest) else None


def walk_layout(members: Members) -> Walk:
    """Every image the layout holds (config present), from its index.json down."""
    body = members.read("index.json", MAX_MANIFEST_BYTES, "index")
    if body is None:
        raise problem(f"{members.source} has no index.json")
    walk = Walk()
    _Walker(members, walk).index(json_object(body, f"{members.source}: index.json"), "index.json", Path())
    return walk


@dataclass(frozen=True, slots=True)
class Path:
    """How the walk reached a blob: the indexes above it, nearest first, and the names given."""

    parents: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


class _Walker:
    def __init__(self, members: Members, walk: Walk) -> None:
        self.members = members
        self.source = members.source
        self.walk = walk

    def index(self, index: dict[str, Any], where: str, path: Path) -> None:
        if len(path.parents) > MAX_DEPTH:
            raise problem(f"{self.source}: {where} nests indexes more than {MAX_DEPTH} deep")
        descriptors = index.get("manifests")
        # Docker 25 saves an image by ID with `"manifests": null`; manifest.json names it.
        if descriptors is None:
            return
        if not isinstance(descriptors, list):
            raise problem(f"{self.source}: {where} has a manifests field that is not a list")
        for position, descriptor in enumerate(descriptors):
            if not isinstance(descriptor, dict):
                raise problem(f"{self.source}: {where} manifests[{position}] is not an object")
            if not is_attestation(descriptor):
                self.descriptor(descriptor, f"{where} manifests[{position}]", path)

    def descriptor(self, descriptor: dict[str, Any], where: str, path: Path) -> None:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not DIGEST.match(digest):
            raise problem(f"{self.source}: {where} has no sha256 digest")
        media_type = descriptor.get("mediaType")
        if media_type in DOCKER_SCHEMA1:
            self.walk.unknown.append(f"{media_type}: schema 1, no image config")
            return
        if media_type is not None and media_type not in INDEXES + MANIFESTS:
            self.walk.unknown.append(str(media_type)[:80])
            return
        blob = read_blob(self.members, digest, MAX_MANIFEST_BYTES, "manifest")
        if blob is None:
            self.walk.missing.append(digest)
            return
        document = json_object(blob, f"{self.source}: {blob_name(digest)}")
        here = Path(path.parents, path.names + _names(descriptor.get("annotations")))
        kind = _kind(media_type, document)
        if kind == "index":
            self.index(document, blob_name(digest), Path((digest, *here.parents), here.names))
        elif kind == "manifest":
            self.manifest(document, digest, here)
        else:
            self.walk.unknown.append(str(document.get("mediaType") or "a blob that is no manifest")[:80])

    def manifest(self, manifest: dict[str, Any], digest: str, path: Path) -> None:
        where = f"{self.source}: {blob_name(digest)}"
        config = manifest.get("config")
        layers = manifest.get("layers")
        if not isinstance(config, dict) or not isinstance(layers, list):
            raise problem(f"{where} is a manifest without a config and a layers list")
        config_type = config.get("mediaType")
        if config_type is not None and config_type not in IMAGE_CONFIGS:
            self.walk.artifacts.append(str(config_type)[:80])
            return
        config_digest = config.get("digest")
        if not isinstance(config_digest, str) or not DIGEST.match(config_digest):
            raise problem(f"{where}: its config has no sha256 digest")
        body = read_blob(self.members, config_digest, MAX_CONFIG_BYTES, "config")
        if body is None:
            self.walk.missing.append(config_digest)
            return
        held = read_config(body, f"{self.source}: {blob_name(config_digest)}")
        if held.is_attestation:
            return
        self.walk.images.append(
            HeldImage(
                platform=held.platform,
                image_id=held.image_id,
                diff_ids=held.diff_ids,
                layer_digests=compressed_digests([_layer_digest(layer) for layer in layers], held.diff_ids),
                digests=unique((digest, *path.parents, *digests_in_names(path.names))),
                names=unique(path.names),
            )
        )

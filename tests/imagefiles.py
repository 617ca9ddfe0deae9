"""Image files written the way docker save, skopeo, kaniko, containerd and buildx write them, with
the stdlib only, for the tests of `hubspider.held` and `scrapy detect`. The writers' own values
(image IDs, diff_ids, digests) are the truth a reader is checked against.

An archive is first a `Tree` (member name -> bytes, `Link` or `Sparse`), so that a test can damage
it (drop a blob, change bytes, add macOS junk) before `write_tree` writes it as a tar, a gzip'd tar
or a directory."""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hubspider.registry.content import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    platform_name,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
GZIP_TYPES = (OCI_LAYER, DOCKER_LAYER)
CREATED = "2024-05-01T12:00:00Z"
MTIME = 1_714_564_800
TAR_BLOCK = 512
Media = Literal["oci", "docker"]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hexpart(digest: str) -> str:
    return digest.removeprefix("sha256:")


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# Layers and images ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """A layer as a registry serves it (`compressed`) and as a classic docker save holds it."""

    compressed: bytes
    uncompressed: bytes
    media_type: str = OCI_LAYER

    @property
    def digest(self) -> str:
        return sha256_digest(self.compressed)

    @property
    def diff_id(self) -> str:
        return sha256_digest(self.uncompressed)


def tar_of(files: Mapping[str, bytes]) -> bytes:
    """A deterministic tar of `files`: the same bytes, so the same diff_id, every run."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(body), MTIME, 0o644
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def make_layer(seed: str, *, size: int = 64, media_type: str = OCI_LAYER) -> Layer:
    """A layer of one file whose content is made from `seed`: different seeds, different layers."""
    body = (seed.encode() + b"\n") * max(1, size // (len(seed) + 1))
    tar = tar_of({f"files/{seed}": body})
    compressed = gzip_module.compress(tar, mtime=0) if media_type in GZIP_TYPES else tar
    return Layer(compressed, tar, media_type)


@dataclass(frozen=True)
class Image:
    """One platform image: its config and manifest bytes and its layers, as a registry serves them."""

    config: bytes
    manifest: bytes
    layers: tuple[Layer, ...]

    @property
    def image_id(self) -> str:
        return sha256_digest(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(json.loads(self.config)["rootfs"]["diff_ids"])

    @property
    def layer_digests(self) -> tuple[str, ...]:
        return tuple(layer["digest"] for layer in json.loads(self.manifest)["layers"])

    @property
    def platform(self) -> str:
        config = json.loads(self.config)
        return platform_name(config["os"], config["architecture"], config.get("variant"))

    @property
    def media_type(self) -> str:
        return str(json.loads(self.manifest).get("mediaType", OCI_MANIFEST))

    def platform_field(self) -> dict[str, str]:
        """The `platform` of an index descriptor pointing at this image."""
        config = json.loads(self.config)
        platform = {"architecture": config["architecture"], "os": config["os"]}
        if config.get("variant"):
            platform["variant"] = config["variant"]
        return platform

    def blobs(self) -> dict[str, bytes]:
        found = {self.manifest_digest: self.manifest, self.image_id: self.config}
        found.update((layer.digest, layer.compressed) for layer in self.layers)
        return found


def _split(platform: str) -> tuple[str, str, str | None]:
    os_name, architecture, *rest = platform.split("/")
    return os_name, architecture, rest[0] if rest else None


def config_bytes(
    layers: Sequence[Layer], platform: str, *, history: Sequence[str] | None = None, label: str = ""
) -> bytes:
    """An image config: rootfs.diff_ids, a history step per layer plus an empty CMD, a platform."""
    os_name, architecture, variant = _split(platform)
    steps = (
        list(history) if history is not None else [f"COPY {label or 'files'} {n}" for n in range(len(layers))]
    )
    config: dict[str, Any] = {"architecture": architecture, "os": os_name}
    if variant:
        config["variant"] = variant
    config.update(
        config={"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"], "Labels": {"made-by": label or "tests"}},
        created=CREATED,
        history=[{"created": CREATED, "created_by": step} for step in steps]
        + [{"created": CREATED, "created_by": 'CMD ["sh"]', "empty_layer": True}],
        rootfs={"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    )
    return compact(config)


def manifest_bytes(config: bytes, layers: Sequence[Layer], *, media: Media = "oci") -> bytes:
    manifest_type, config_type = (
        (OCI_MANIFEST, OCI_CONFIG) if media == "oci" else (DOCKER_MANIFEST, DOCKER_CONFIG)
    )
    return compact(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": sha256_digest(config), "size": len(config)},
            "layers": [
                {"mediaType": layer.media_type, "digest": layer.digest, "size": len(layer.compressed)}
                for layer in layers
            ],
        }
    )


def image(
    layers: Sequence[Layer] | int = 2,
    *,
    platform: str = "linux/amd64",
    media: Media = "oci",
    seed: str = "base",
) -> Image:
    """An image of `layers` (or that many new layers made from `seed`) for `platform`."""
    if isinstance(layers, int):
        layer_type = OCI_LAYER if media == "oci" else DOCKER_LAYER
        layers = [make_layer(f"{seed}-{platform}-{n}", media_type=layer_type) for n in range(layers)]
    config = config_bytes(layers, platform, label=seed)
    return Image(config, manifest_bytes(config, layers, media=media), tuple(layers))


def derived(base: Image, extra_layers: Sequence[Layer] | int = 1, *, seed: str = "app") -> Image:
    """An image built FROM `base`: its layers and new ones on top, a new config, the same platform."""
    media: Media = "docker" if base.media_type == DOCKER_MANIFEST else "oci"
    if isinstance(extra_layers, int):
        layer_type = base.layers[-1].media_type if base.layers else OCI_LAYER
        extra_layers = [
            make_layer(f"{seed}-{base.platform}-{n}", media_type=layer_type) for n in range(extra_layers)
        ]
    layers = (*base.layers, *extra_layers)
    config = config_bytes(layers, base.platform, label=seed)
    return Image(config, manifest_bytes(config, layers, media=media), layers)


def from_registry(config: bytes, manifest: bytes, blobs: Mapping[str, bytes]) -> Image:
    """The image a registry serves as `manifest` + `config`, its layers from `blobs` by digest
    (gunzipped for the saves that hold them uncompressed)."""
    layers = []
    for entry in json.loads(manifest)["layers"]:
        compressed = blobs[entry["digest"]]
        gzipped = compressed[:2] == b"\x1f\x8b"
        layers.append(
            Layer(
                compressed, gzip_module.decompress(compressed) if gzipped else compressed, entry["mediaType"]
            )
        )
    return Image(config, manifest, tuple(layers))


# Multi-platform builds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attestation:
    """A BuildKit provenance manifest (platform unknown/unknown) for one platform manifest."""

    subject: str
    statement: bytes = field(init=False)
    config: bytes = field(init=False)
    manifest: bytes = field(init=False)

    def __post_init__(self) -> None:
        statement = compact(
            {"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"digest": self.subject}]}
        )
        config = compact(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [sha256_digest(statement)]},
            }
        )
        manifest = compact(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
                "layers": [
                    {"mediaType": IN_TOTO, "digest": sha256_digest(statement), "size": len(statement)}
                ],
            }
        )
        object.__setattr__(self, "statement", statement)
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "manifest", manifest)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    def blobs(self) -> dict[str, bytes]:
        return {
            self.digest: self.manifest,
            sha256_digest(self.config): self.config,
            sha256_digest(self.statement): self.statement,
        }

    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": OCI_MANIFEST,
            "digest": self.digest,
            "size": len(self.manifest),
            "annotations": {
                "vnd.docker.reference.digest": self.subject,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        }


@dataclass(frozen=True)
class Build:
    """A multi-platform image: an index (OCI, or a Docker manifest list) of platform images, with a
    BuildKit attestation manifest after each when `attestations`."""

    images: tuple[Image, ...]
    attestations: bool = True
    media: Media = "oci"
    #: The index bytes a registry served, used as they are (see `from_registry_index`).
    served_index: bytes | None = None

    @property
    def attestation_manifests(self) -> tuple[Attestation, ...]:
        if not self.attestations:
            return ()
        return tuple(Attestation(image.manifest_digest) for image in self.images)

    @property
    def index(self) -> bytes:
        if self.served_index is not None:
            return self.served_index
        descriptors: list[dict[str, Any]] = []
        attestations = self.attestation_manifests
        for position, held in enumerate(self.images):
            descriptors.append(
                {
                    "mediaType": held.media_type,
                    "digest": held.manifest_digest,
                    "size": len(held.manifest),
                    "platform": held.platform_field(),
                }
            )
            if attestations:
                descriptors.append(attestations[position].descriptor())
        return compact(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX if self.media == "oci" else DOCKER_MANIFEST_LIST,
                "manifests": descriptors,
            }
        )

    @property
    def digest(self) -> str:
        return sha256_digest(self.index)

    def present(self, platforms: Iterable[str] | None) -> tuple[Image, ...]:
        if platforms is None:
            return self.images
        wanted = set(platforms)
        return tuple(held for held in self.images if held.platform in wanted)

    def blobs(self, platforms: Iterable[str] | None = None) -> dict[str, bytes]:
        """The index, and the blobs of the platforms present (with their attestations)."""
        present = self.present(platforms)
        found = {self.digest: self.index}
        for position, held in enumerate(self.images):
            if held in present:
                found.update(held.blobs())
                if self.attestations:
                    found.update(self.attestation_manifests[position].blobs())
        return found


def build(*images: Image, attestations: bool = True, media: Media = "oci") -> Build:
    return Build(tuple(images), attestations, media)


def from_registry_index(index: bytes, images: Sequence[Image]) -> Build:
    """A build as a registry serves it: its own index bytes (so its own index digest) and the
    platform images made with `from_registry`. The blobs of the index's attestations are not
    held, as in containerd saves that pulled one platform."""
    media: Media = "docker" if json.loads(index).get("mediaType") == DOCKER_MANIFEST_LIST else "oci"
    return Build(tuple(images), attestations=False, media=media, served_index=index)


# Trees and how they are written -----------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A symbolic link (relative to the member's folder), or a hard link (an archive path)."""

    target: str
    hard: bool = False


@dataclass(frozen=True)
class Sparse:
    """A member of `size` zero bytes that takes no disk: a huge layer the reader must never read."""

    size: int


Tree = dict[str, bytes | Link | Sparse]
Form = Literal["tar", "tar.gz", "dir"]


def _tar_header(name: str, value: bytes | Link | Sparse) -> bytes:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = MTIME, 0o644
    if isinstance(value, Link):
        info.type = tarfile.LNKTYPE if value.hard else tarfile.SYMTYPE
        info.linkname = value.target
    else:
        info.size = value.size if isinstance(value, Sparse) else len(value)
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def _write_tar(out: io.BufferedIOBase | io.BytesIO, tree: Tree) -> None:
    """By hand, so that a Sparse member is a hole the file system does not store."""
    for name, value in tree.items():
        out.write(_tar_header(name, value))
        if isinstance(value, bytes):
            out.write(value + b"\0" * (-len(value) % TAR_BLOCK))
        elif isinstance(value, Sparse):
            out.seek(value.size + -value.size % TAR_BLOCK, io.SEEK_CUR)
    out.write(b"\0" * (2 * TAR_BLOCK))


def write_tree(path: str | Path, tree: Tree, form: Form = "tar") -> Path:
    """`tree` as a tar, a gzip'd tar (in memory: no Sparse members), or a directory."""
    path = Path(path)
    if form == "dir":
        for name, value in tree.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, Link):
                if value.hard:
                    os.link(path / value.target, target)
                else:
                    target.symlink_to(value.target)
            elif isinstance(value, Sparse):
                with target.open("wb") as file:
                    file.truncate(value.size)
            else:
                target.write_bytes(value)
        return path
    if form == "tar.gz":
        memory = io.BytesIO()
        _write_tar(memory, tree)
        path.write_bytes(gzip_module.compress(memory.getvalue(), mtime=0))
        return path
    with path.open("wb") as file:
        _write_tar(file, tree)
    return path


def truncate(path: str | Path, size: int) -> Path:
    """The file cut to its first `size` bytes, as an interrupted copy leaves it."""
    path = Path(path)
    with path.open("r+b") as file:
        file.truncate(size)
    return path


# docker save before Docker 25, skopeo docker-archive:, kaniko --tarPath -------------------------

Tagged = tuple[Image, "Sequence[str]"]
SaveStyle = Literal["docker", "skopeo", "kaniko"]


def _v1_ids(held: Image) -> list[str]:
    """The v1 layer IDs docker makes up for its `<id>/layer.tar` folders (any stable hex will do)."""
    chain = ""
    ids = []
    for diff_id in held.diff_ids:
        chain = hashlib.sha256(f"{chain} {diff_id} {held.image_id}".encode()).hexdigest()
        ids.append(chain)
    return ids


def _repository_tag(tag: str) -> tuple[str, str]:
    repository, _, name = tag.rpartition(":")
    return (repository, name) if repository and "/" not in name else (tag, "latest")


def docker_save_tree(images_with_tags: Sequence[Tagged], *, style: SaveStyle = "docker") -> Tree:
    """What `docker save` (Docker < 25), skopeo or kaniko write: manifest.json, configs, layer files."""
    tree: Tree = {}
    entries = []
    repositories: dict[str, dict[str, str]] = {}
    for held, tags in images_with_tags:
        if style == "kaniko":
            config_name = held.image_id
            layer_names = [f"{hexpart(layer.digest)}.tar.gz" for layer in held.layers]
            for layer, name in zip(held.layers, layer_names, strict=True):
                tree[name] = layer.compressed
        else:
            config_name = f"{hexpart(held.image_id)}.json"
            layer_names = []
            for layer, v1 in zip(held.layers, _v1_ids(held), strict=True):
                tree[f"{v1}/VERSION"] = b"1.0"
                tree[f"{v1}/json"] = compact({"id": v1, "created": CREATED})
                if style == "skopeo":
                    tree[f"{hexpart(layer.diff_id)}.tar"] = layer.uncompressed
                    tree[f"{v1}/layer.tar"] = Link(f"../{hexpart(layer.diff_id)}.tar")
                else:
                    tree[f"{v1}/layer.tar"] = layer.uncompressed
                layer_names.append(f"{v1}/layer.tar")
            for tag in tags:
                repository, name = _repository_tag(tag)
                repositories.setdefault(repository, {})[name] = _v1_ids(held)[-1]
        tree[config_name] = held.config
        entries.append({"Config": config_name, "RepoTags": list(tags) or None, "Layers": layer_names})
    tree["manifest.json"] = compact(entries)
    if style != "kaniko":
        tree["repositories"] = compact(repositories)
    return tree


def write_docker_save(
    path: str | Path, images_with_tags: Sequence[Tagged], *, gzip: bool = False, style: SaveStyle = "docker"
) -> Path:
    return write_tree(path, docker_save_tree(images_with_tags, style=style), "tar.gz" if gzip else "tar")


# OCI layouts, and docker save since Docker 25 ------------------------------------------------------

Entry = tuple["Image | Build", "Sequence[str]"]


def containerd_name(tag: str) -> str:
    """`python:3.12` as containerd names it: `docker.io/library/python:3.12`."""
    first = tag.split("/", 1)[0]
    if "/" in tag and ("." in first or ":" in first or first == "localhost"):
        return tag
    return f"docker.io/{tag}" if "/" in tag else f"docker.io/library/{tag}"


def _descriptor(item: Image | Build, annotations: dict[str, str] | None) -> dict[str, Any]:
    if isinstance(item, Build):
        media_type = OCI_INDEX if item.media == "oci" else DOCKER_MANIFEST_LIST
        descriptor: dict[str, Any] = {"mediaType": media_type, "digest": item.digest, "size": len(item.index)}
    else:
        descriptor = {
            "mediaType": item.media_type,
            "digest": item.manifest_digest,
            "size": len(item.manifest),
            "platform": item.platform_field(),
        }
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def _descriptors(item: Image | Build, tags: Sequence[str], *, containerd: bool) -> list[dict[str, Any]]:
    """One descriptor per tag (ref.name the tag, as docker and containerd write it), or one bare."""
    if not tags:
        return [_descriptor(item, None)]
    return [
        _descriptor(
            item,
            {
                "io.containerd.image.name": containerd_name(tag),
                "org.opencontainers.image.ref.name": _repository_tag(tag)[1],
            }
            if containerd
            else {"org.opencontainers.image.ref.name": tag},
        )
        for tag in tags
    ]


def _blob_tree(blobs: Mapping[str, bytes]) -> Tree:
    return {f"blobs/sha256/{hexpart(digest)}": body for digest, body in blobs.items()}


def _index_json(descriptors: list[dict[str, Any]] | None, *, media_type: bool = True) -> bytes:
    index: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        index["mediaType"] = OCI_INDEX
    index["manifests"] = descriptors
    return compact(index)


def _images_of(item: Image | Build, platforms_present: Iterable[str] | None) -> tuple[Image, ...]:
    return item.present(platforms_present) if isinstance(item, Build) else (item,)


def oci_layout_tree(
    entries: Sequence[Entry],
    *,
    platforms_present: Iterable[str] | None = None,
    index_media_type: bool = True,
    containerd_names: bool = False,
) -> Tree:
    """An OCI image layout (skopeo `oci:`, crane, buildx `type=oci`): index.json, oci-layout, blobs."""
    present = None if platforms_present is None else list(platforms_present)
    tree: Tree = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    descriptors = []
    blobs: dict[str, bytes] = {}
    for item, tags in entries:
        descriptors += _descriptors(item, tags, containerd=containerd_names)
        blobs.update(item.blobs(present) if isinstance(item, Build) else item.blobs())
    tree["index.json"] = _index_json(descriptors, media_type=index_media_type)
    tree.update(_blob_tree(blobs))
    return tree


def write_oci_layout(
    path: str | Path,
    entries: Sequence[Entry],
    *,
    tar: bool = True,
    platforms_present: Iterable[str] | None = None,
    index_media_type: bool = True,
) -> Path:
    tree = oci_layout_tree(entries, platforms_present=platforms_present, index_media_type=index_media_type)
    return write_tree(path, tree, "tar" if tar else "dir")


def classic_manifest(held: Image) -> bytes:
    """The manifest Docker 25's classic store writes: the same config, uncompressed layers."""
    return compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": held.image_id, "size": len(held.config)},
            "layers": [
                {"mediaType": OCI_LAYER_TAR, "digest": layer.diff_id, "size": len(layer.uncompressed)}
                for layer in held.layers
            ],
        }
    )


def docker_save_oci_tree(
    images_with_tags: Sequence[Entry],
    *,
    store: Literal["classic", "containerd"] = "classic",
    platforms_present: Iterable[str] | None = None,
) -> Tree:
    """What `docker save` writes since Docker 25: an OCI layout and a manifest.json. The classic store
    saves uncompressed layers under a manifest of its own (untagged: `"manifests": null`); the
    containerd store saves what the registry served, index and attestations included, for the
    platforms it pulled."""
    present = None if platforms_present is None else list(platforms_present)
    tree: Tree = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}
    descriptors: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    blobs: dict[str, bytes] = {}
    for item, tags in images_with_tags:
        if store == "classic":
            if isinstance(item, Build):
                raise TypeError("the classic store holds one platform image per name: give an Image")
            manifest = classic_manifest(item)
            blobs.update({sha256_digest(manifest): manifest, item.image_id: item.config})
            blobs.update((layer.diff_id, layer.uncompressed) for layer in item.layers)
            for tag in tags:
                descriptor = {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256_digest(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": containerd_name(tag),
                        "org.opencontainers.image.ref.name": _repository_tag(tag)[1],
                    },
                }
                descriptors.append(descriptor)
                repository, name = _repository_tag(tag)
                repositories.setdefault(repository, {})[name] = hexpart(item.layers[-1].diff_id)
            layer_names = [f"blobs/sha256/{hexpart(layer.diff_id)}" for layer in item.layers]
            sources = {
                layer.diff_id: {
                    "mediaType": OCI_LAYER_TAR,
                    "size": len(layer.uncompressed),
                    "digest": layer.diff_id,
                }
                for layer in item.layers
            }
            entries.append(
                {
                    "Config": f"blobs/sha256/{hexpart(item.image_id)}",
                    "RepoTags": list(tags) or None,
                    "Layers": layer_names,
                    "LayerSources": sources,
                }
            )
        else:
            descriptors += _descriptors(item, tags, containerd=True)
            blobs.update(item.blobs(present) if isinstance(item, Build) else item.blobs())
            for held in _images_of(item, present):
                layer_names = [f"blobs/sha256/{hexpart(layer.digest)}" for layer in held.layers]
                entries.append(
                    {
                        "Config": f"blobs/sha256/{hexpart(held.image_id)}",
                        "RepoTags": list(tags),
                        "Layers": layer_names,
                    }
                )
    tree["index.json"] = _index_json(descriptors or None)
    tree["manifest.json"] = compact(entries)
    if repositories:
        tree["repositories"] = compact(repositories)
    tree.update(_blob_tree(blobs))
    return tree


def write_docker_save_oci(
    path: str | Path,
    images_with_tags: Sequence[Entry],
    *,
    store: Literal["classic", "containerd"] = "classic",
    platforms_present: Iterable[str] | None = None,
    gzip: bool = False,
) -> Path:
    tree = docker_save_oci_tree(images_with_tags, store=store, platforms_present=platforms_present)
    return write_tree(path, tree, "tar.gz" if gzip else "tar")


# docker / podman inspect ---------------------------------------------------------------------------


def _inspect_common(held: Image, repo_tags: Sequence[str], repo_digests: Sequence[str]) -> dict[str, Any]:
    config = json.loads(held.config)
    common: dict[str, Any] = {
        "RepoTags": list(repo_tags),
        "RepoDigests": list(repo_digests),
        "Parent": "",
        "Comment": "",
        "Created": CREATED,
        "Config": config.get("config", {}),
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Size": sum(len(layer.uncompressed) for layer in held.layers),
        "GraphDriver": {"Name": "overlay2", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": list(held.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }
    if config.get("variant"):
        common["Variant"] = config["variant"]
    return common


def docker_inspect(
    held: Image,
    repo_tags: Sequence[str] = (),
    repo_digests: Sequence[str] = (),
    *,
    containerd_store: bool = False,
) -> str:
    """`docker image inspect` of `held`. With the containerd store, `Id` is the manifest digest
    (and a `Descriptor` says so); with the classic store it is the image ID."""
    inspected = {"Id": held.image_id, **_inspect_common(held, repo_tags, repo_digests)}
    if containerd_store:
        inspected["Id"] = held.manifest_digest
        inspected["Descriptor"] = {
            "mediaType": held.media_type,
            "digest": held.manifest_digest,
            "size": len(held.manifest),
        }
    return json.dumps([inspected], indent=4)


def podman_inspect(held: Image, repo_tags: Sequence[str] = (), repo_digests: Sequence[str] = ()) -> str:
    """`podman image inspect`: `Id` without `sha256:`, the manifest digest in `Digest`."""
    inspected = {
        "Id": hexpart(held.image_id),
        "Digest": held.manifest_digest,
        **_inspect_common(held, repo_tags, repo_digests),
        "ManifestType": held.media_type,
        "NamesHistory": list(repo_tags),
    }
    return json.dumps([inspected], indent=4)


def container_inspect(held: Image) -> str:
    """`docker inspect` of a container made from `held`: not an image's."""
    return json.dumps(
        [
            {
                "Id": hashlib.sha256(b"container").hexdigest(),
                "Created": CREATED,
                "State": {"Status": "running", "Running": True},
                "Image": held.image_id,
                "Mounts": [],
                "Config": {"Image": "app:latest"},
            }
        ],
        indent=4,
    )

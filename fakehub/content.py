"""Real image content: gzip'd tar layers, image configs, platform manifests and indexes.

Every digest here is the sha256 of bytes that can be rebuilt from the model, so the registry
serves bytes whose digests are what the Hub API names. Only digests and sizes are kept; the
bytes are made again when served, as 270k images' worth would not fit in memory.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from hashlib import sha256
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# Per manifest family: the config's and the layers' media types.
FAMILY_TYPES = {OCI_MANIFEST: (OCI_CONFIG, OCI_LAYER), DOCKER_MANIFEST: (DOCKER_CONFIG, DOCKER_LAYER)}
MANIFEST_OF_INDEX = {OCI_INDEX: OCI_MANIFEST, DOCKER_LIST: DOCKER_MANIFEST}
BUILDKIT = "buildkit.dockerfile.v0"

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS
_STORED_BLOCK_MAX = 0xFFFF
_TAR_BLOCK = 512


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar_header_template() -> tuple[bytes, int]:
    header = bytearray(_TAR_BLOCK)
    header[100:108] = b"0000644\0"  # mode
    header[108:116] = b"0000000\0"  # uid
    header[116:124] = b"0000000\0"  # gid
    header[136:148] = b"00000000000\0"  # mtime 0: the same bytes on every build
    header[148:156] = b" " * 8  # the checksum counts its own field as spaces
    header[156:157] = b"0"  # a regular file
    header[257:265] = b"ustar\x0000"
    header[265:269] = b"root"
    header[297:301] = b"root"
    return bytes(header), sum(header)


_TAR_TEMPLATE, _TAR_TEMPLATE_SUM = _tar_header_template()


def tar_file(path: str, body: bytes) -> bytes:
    """A ustar archive of one file, made by hand: tarfile costs ten times more per layer."""
    name = path.encode()
    if len(name) > 100:
        raise ValueError(f"tar member name longer than 100 bytes: {path}")
    size = b"%011o\0" % len(body)
    checksum = _TAR_TEMPLATE_SUM + sum(name) + sum(size)
    header = (
        name
        + _TAR_TEMPLATE[len(name) : 124]
        + size
        + _TAR_TEMPLATE[136:148]
        + b"%06o\0 " % checksum
        + _TAR_TEMPLATE[156:]
    )
    padding = -len(body) % _TAR_BLOCK
    # Two zero blocks end an archive.
    return header + body + b"\0" * (padding + 2 * _TAR_BLOCK)


def gzip_stored(data: bytes) -> bytes:
    """A gzip stream of stored deflate blocks (level 0): valid gzip, deterministic, and cheap to make."""
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    if len(data) <= _STORED_BLOCK_MAX:
        # Every layer here: one final block.
        return _GZIP_HEADER + struct.pack("<BHH", 1, len(data), len(data) ^ 0xFFFF) + data + trailer
    blocks = []
    for start in range(0, max(len(data), 1), _STORED_BLOCK_MAX):
        chunk = data[start : start + _STORED_BLOCK_MAX]
        final = start + _STORED_BLOCK_MAX >= len(data)
        blocks.append(struct.pack("<BHH", final, len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    return _GZIP_HEADER + b"".join(blocks) + trailer


@dataclass(frozen=True, slots=True)
class Layer:
    """A filesystem layer of one file, named by `seed`; its bytes are made again from the seed."""

    seed: str
    digest: str  # sha256 of the gzip: what manifests name
    diff_id: str  # sha256 of the tar: what configs name
    size: int

    def tar(self) -> bytes:
        return _layer_tar(self.seed)

    def blob(self) -> bytes:
        return gzip_stored(self.tar())


def _layer_tar(seed: str) -> bytes:
    body = f"{seed}\n".encode()
    crc = zlib.crc32(body)
    # Some filler, so that layers differ in size as real ones do.
    return tar_file(f"fakehub/{crc:08x}", body + b"#" * (crc % 1024))


def make_layer(seed: str) -> Layer:
    tar = _layer_tar(seed)
    blob = gzip_stored(tar)
    return Layer(seed, "sha256:" + sha256(blob).hexdigest(), "sha256:" + sha256(tar).hexdigest(), len(blob))


@lru_cache(maxsize=1 << 16)
def shared_layer(seed: str) -> Layer:
    """A layer many images hold (a base image's, a repository's dependencies): made once."""
    return make_layer(seed)


_json_string = json.encoder.encode_basestring_ascii


@dataclass(frozen=True, slots=True)
class Step:
    """One build step, as the config's history keeps it; `empty_layer` for CMD, ENV, LABEL and the like."""

    created: str
    created_by: str
    comment: str | None = None
    empty_layer: bool = False

    def json(self) -> str:
        comment = "" if self.comment is None else f',"comment":{_json_string(self.comment)}'
        empty = ',"empty_layer":true' if self.empty_layer else ""
        return f'{{"created":"{self.created}","created_by":{_json_string(self.created_by)}{comment}{empty}}}'


@dataclass(frozen=True, slots=True, eq=False)
class Recipe:
    """What every platform image of one build shares: its steps and environment, rendered once."""

    steps: tuple[Step, ...]
    env: tuple[str, ...]
    history_json: str
    env_json: str

    @classmethod
    def of(cls, steps: tuple[Step, ...], env: tuple[str, ...]) -> Recipe:
        return cls(
            steps,
            env,
            ",".join(step.json() for step in steps),
            "[" + ",".join(_json_string(variable) for variable in env) + "]",
        )

    @property
    def created(self) -> str | None:
        return self.steps[-1].created if self.steps else None


@dataclass(frozen=True, slots=True)
class ImageContent:
    """A platform image: its config and manifest are rebuilt from these fields when served."""

    media_type: str
    os: str
    architecture: str
    variant: str | None
    os_version: str | None
    recipe: Recipe
    # One for each step of the recipe that is not an empty layer, in order.
    layers: tuple[Layer, ...]
    config_digest: str
    config_size: int
    digest: str
    size: int

    @property
    def platform(self) -> str:
        """`os/architecture[/variant]`, as the digest records spell it."""
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    def config(self) -> bytes:
        return _config_bytes(self.platform_json(), self.recipe, self.layers)

    def platform_json(self) -> str:
        return _platform_json(self.os, self.architecture, self.variant, self.os_version)

    def manifest(self) -> bytes:
        return _manifest_bytes(self.media_type, self.config_digest, self.config_size, self.layers)

    def layer_steps(self) -> list[tuple[Step, Layer]]:
        """Each layer with the step that made it."""
        steps = [step for step in self.recipe.steps if not step.empty_layer]
        return list(zip(steps, self.layers, strict=True))

    def history(self) -> list[dict[str, Any]]:
        """The config's history, as a record normalises it: every key present."""
        return [
            {
                "created": step.created,
                "created_by": step.created_by,
                "comment": step.comment,
                "empty_layer": step.empty_layer,
            }
            for step in self.recipe.steps
        ]

    def api_layers(self) -> list[dict[str, Any]]:
        """The Hub API images endpoint's `layers`: every step, a digest only for those that made a layer."""
        layers = iter(self.layers)
        entries: list[dict[str, Any]] = []
        for step in self.recipe.steps:
            if step.empty_layer:
                entries.append({"size": 0, "instruction": step.created_by})
            else:
                layer = next(layers)
                entries.append({"digest": layer.digest, "size": layer.size, "instruction": step.created_by})
        return entries

    def blobs(self) -> dict[str, Callable[[], bytes]]:
        """What makes the bytes of each blob this image's manifest names: its config and layers."""
        return {self.config_digest: self.config} | {layer.digest: layer.blob for layer in self.layers}


def _platform_json(os: str, architecture: str, variant: str | None, os_version: str | None) -> str:
    platform = f'"architecture":"{architecture}","os":"{os}"'
    if os_version:
        platform += f',"os.version":"{os_version}"'
    if variant:
        platform += f',"variant":"{variant}"'
    return platform


def _config_bytes(platform: str, recipe: Recipe, layers: Sequence[Layer]) -> bytes:
    """The image config JSON, rendered by hand: json.dumps costs more than the rest of an image."""
    created = "null" if recipe.created is None else f'"{recipe.created}"'
    diff_ids = ",".join(f'"{layer.diff_id}"' for layer in layers)
    return (
        f'{{{platform},"config":{{"Env":{recipe.env_json},"Cmd":null,"WorkingDir":"/"}},'
        f'"created":{created},"history":[{recipe.history_json}],'
        f'"rootfs":{{"type":"layers","diff_ids":[{diff_ids}]}}}}'
    ).encode()


def _manifest_bytes(media_type: str, config_digest: str, config_size: int, layers: Iterable[Layer]) -> bytes:
    config_type, layer_type = FAMILY_TYPES[media_type]
    entries = ",".join(
        f'{{"mediaType":"{layer_type}","digest":"{layer.digest}","size":{layer.size}}}' for layer in layers
    )
    return (
        f'{{"schemaVersion":2,"mediaType":"{media_type}",'
        f'"config":{{"mediaType":"{config_type}","digest":"{config_digest}","size":{config_size}}},'
        f'"layers":[{entries}]}}'
    ).encode()


def make_image(
    *,
    media_type: str,
    os: str,
    architecture: str,
    variant: str | None,
    os_version: str | None,
    recipe: Recipe,
    layers: tuple[Layer, ...],
) -> ImageContent:
    """An image and its digests: the config's, then the manifest's, which names the config."""
    config = _config_bytes(_platform_json(os, architecture, variant, os_version), recipe, layers)
    config_digest = "sha256:" + sha256(config).hexdigest()
    manifest = _manifest_bytes(media_type, config_digest, len(config), layers)
    return ImageContent(
        media_type,
        os,
        architecture,
        variant,
        os_version,
        recipe,
        layers,
        config_digest,
        len(config),
        "sha256:" + sha256(manifest).hexdigest(),
        len(manifest),
    )


@dataclass(frozen=True, slots=True)
class Attestation:
    """A BuildKit attestation manifest (platform unknown/unknown) for one platform image."""

    subject: str  # the digest of the platform manifest it attests
    statement: str  # in-toto JSON, served as it is: not a tar
    statement_digest: str
    digest: str
    size: int
    config_digest: str
    config_size: int

    def config(self) -> bytes:
        return _attestation_config(self.statement_digest)

    def manifest(self) -> bytes:
        return _attestation_manifest(
            self.config_digest, self.config_size, self.statement_digest, len(self.statement_bytes())
        )

    def statement_bytes(self) -> bytes:
        return self.statement.encode()

    def blobs(self) -> dict[str, Callable[[], bytes]]:
        return {self.config_digest: self.config, self.statement_digest: self.statement_bytes}


def _attestation_config(statement_digest: str) -> bytes:
    config = {
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [statement_digest]},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def _attestation_manifest(config_digest: str, config_size: int, statement_digest: str, size: int) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [
            {
                "mediaType": IN_TOTO,
                "digest": statement_digest,
                "size": size,
                "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
            }
        ],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def make_attestation(subject: str, build_key: str) -> Attestation:
    text = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{"name": build_key, "digest": {"sha256": subject.removeprefix("sha256:")}}],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": build_key},
        },
        separators=(",", ":"),
    )
    raw = text.encode()
    statement_digest = sha256_digest(raw)
    config = _attestation_config(statement_digest)
    manifest = _attestation_manifest(sha256_digest(config), len(config), statement_digest, len(raw))
    return Attestation(
        subject,
        text,
        statement_digest,
        sha256_digest(manifest),
        len(manifest),
        sha256_digest(config),
        len(config),
    )


def index_bytes(
    media_type: str,
    images: Sequence[ImageContent],
    attestations: Sequence[Attestation],
    name: str | None = None,
) -> bytes:
    """An OCI index or Docker manifest list of `images`, then their attestation manifests.

    `name` annotates the index, so that indexes listing the same manifests (none) differ.
    """
    entries: list[dict[str, Any]] = []
    for image in images:
        platform: dict[str, str] = {"architecture": image.architecture, "os": image.os}
        if image.os_version:
            platform["os.version"] = image.os_version
        if image.variant:
            platform["variant"] = image.variant
        entries.append(
            {"mediaType": image.media_type, "digest": image.digest, "size": image.size, "platform": platform}
        )
    for attestation in attestations:
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": attestation.digest,
                "size": attestation.size,
                "annotations": {
                    "vnd.docker.reference.digest": attestation.subject,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            }
        )
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if name is not None:
        index["annotations"] = {"org.opencontainers.image.ref.name": name}
    return json.dumps(index, separators=(",", ":")).encode()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI image spec: ChainID(L0) = DiffID(L0), then sha256(ChainID(L0..n-1) + " " + DiffID(n))."""
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(diff_id if not chains else sha256_digest(f"{chains[-1]} {diff_id}".encode()))
    return chains

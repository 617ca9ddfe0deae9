"""Images described by `docker image inspect` or `podman image inspect`: no layer files, but
`RootFS.Layers` are the diff_ids, which is all a match needs.

Docker's classic store reports the config digest as `Id`; podman reports it as bare hex, with
the manifest digest in `Digest`. Docker's containerd store reports the manifest or index digest
as `Id`, and says so with a `Descriptor` of that digest: then the config digest is unknown."""

from __future__ import annotations

import re
from typing import Any

from hubspider.held.configs import digests_in_names, json_document, unique
from hubspider.held.image import HeldImage
from hubspider.held.members import problem
from hubspider.registry.content import DIGEST, platform_name

BARE_HEX = re.compile(r"^[0-9a-f]{64}$")


def read_inspect(data: bytes, source: str) -> list[HeldImage]:
    """One image per object of the inspect output (an array, or a single object)."""
    document = json_document(data, source)
    objects = document if isinstance(document, list) else [document]
    if not objects:
        raise problem(f"{source} is an empty list: docker image inspect found no image")
    return [
        _image(entry, f"{source}" if len(objects) == 1 else f"{source} [{n}]", source)
        for n, entry in enumerate(objects)
    ]


def _digest(value: object) -> str | None:
    if isinstance(value, str) and BARE_HEX.match(value):
        return "sha256:" + value
    return value if isinstance(value, str) and DIGEST.match(value) else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str) and item) if isinstance(value, list) else ()


def _image(entry: object, where: str, source: str) -> HeldImage:
    if not isinstance(entry, dict):
        raise problem(f"{where} is not docker image inspect output (a JSON {type(entry).__name__})")
    if "State" in entry and isinstance(entry.get("Image"), str):
        image = str(entry["Image"]).removeprefix("sha256:")[:12]
        raise problem(
            f"{where} is a container's inspect output: run docker image inspect {image} and give that"
        )
    identifier = _digest(entry.get("Id"))
    if identifier is None:
        raise problem(f"{where} is not docker image inspect output (no image Id)")
    diff_ids = _diff_ids(entry, where)
    os, architecture = entry.get("Os"), entry.get("Architecture")
    if not isinstance(os, str) or not os or not isinstance(architecture, str) or not architecture:
        raise problem(f"{where}: image {identifier[7:19]} has no Os and Architecture")
    variant = entry.get("Variant")
    tags = _strings(entry.get("RepoTags"))
    named = digests_in_names(_strings(entry.get("RepoDigests")))
    manifest = _digest(entry.get("Digest"))
    descriptor = entry.get("Descriptor")
    by_manifest = isinstance(descriptor, dict) and _digest(descriptor.get("digest")) == identifier
    return HeldImage(
        platform=platform_name(os, architecture, variant if isinstance(variant, str) else None),
        image_id=None if by_manifest else identifier,
        diff_ids=diff_ids,
        digests=unique(((identifier,) if by_manifest else ()) + ((manifest,) if manifest else ()) + named),
        names=tags,
    )


def _diff_ids(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    rootfs = entry.get("RootFS")
    layers = rootfs.get("Layers") if isinstance(rootfs, dict) else None
    if not isinstance(layers, list) or not layers:
        raise problem(f"{where}: the image has no RootFS.Layers: no layer to match")
    for position, layer in enumerate(layers):
        if not isinstance(layer, str) or not DIGEST.match(layer):
            raise problem(f"{where}: RootFS.Layers[{position}] is not a sha256 digest: {str(layer)[:80]!r}")
    return tuple(layers)

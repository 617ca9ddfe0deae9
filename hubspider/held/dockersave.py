"""The images a `manifest.json` names: every `docker save` since Docker 1.10, and the tars
skopeo (`docker-archive:`), kaniko and crane write in its shape. Layer files come as
`<v1 id>/layer.tar`, skopeo's `<diff_id>.tar` behind symlinks, kaniko's `<digest>.tar.gz`, or
Docker 25's `blobs/sha256/<digest>`; none of them is read."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hubspider.held.configs import (
    compressed_digests,
    digest_in_name,
    json_document,
    read_config,
    unique,
)
from hubspider.held.image import HeldImage
from hubspider.held.members import normalize, problem
from hubspider.held.oci import read_blob
from hubspider.registry.content import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES

if TYPE_CHECKING:
    from hubspider.held.members import Members

BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")
# What Docker before 1.10 saved: a folder per layer with its v1 `json`, and no image config.
V1_JSON = re.compile(r"^[0-9a-f]{64}/json$")


def is_v1_save(names: frozenset[str]) -> bool:
    return any(V1_JSON.match(name) for name in names)


def read_manifest_json(members: Members) -> list[HeldImage]:
    """One image per entry of manifest.json, in its order."""
    source = members.source
    body = members.read("manifest.json", MAX_MANIFEST_BYTES, "manifest.json")
    if body is None:
        raise problem(f"{source} has no manifest.json")
    entries = json_document(body, f"{source}: manifest.json")
    if entries is None:
        raise problem(f"{source}: manifest.json is null, not a list of images")
    if not isinstance(entries, list):
        raise problem(f"{source}: manifest.json is a JSON {type(entries).__name__}, not a list of images")
    return [_entry_image(members, entry, position) for position, entry in enumerate(entries)]


def _entry_image(members: Members, entry: object, position: int) -> HeldImage:
    source = members.source
    where = f"{source}: manifest.json entry {position}"
    if not isinstance(entry, dict):
        raise problem(f"{where} is not an object")
    config_name = normalize(entry["Config"]) if isinstance(entry.get("Config"), str) else None
    layers = entry.get("Layers")
    if config_name is None or not isinstance(layers, list):
        raise problem(f"{where} has no Config file name and Layers list")
    config_where = f"{source}: {config_name}"
    # A blob is checked against its name; a legacy `<id>.json` is not: its ID is its sha256.
    if blob := BLOB.match(config_name):
        body = read_blob(members, "sha256:" + blob.group(1), MAX_CONFIG_BYTES, "config")
    else:
        body = members.read(config_name, MAX_CONFIG_BYTES, "config")
    if body is None:
        raise problem(f"{config_where}, the config manifest.json names, is missing")
    held = read_config(body, config_where)
    layer_names = [normalize(layer) if isinstance(layer, str) else None for layer in layers]
    tags = entry.get("RepoTags")
    names = tuple(tag for tag in tags if isinstance(tag, str) and tag) if isinstance(tags, list) else ()
    return HeldImage(
        platform=held.platform,
        image_id=held.image_id,
        diff_ids=held.diff_ids,
        layer_digests=compressed_digests(
            [digest_in_name(name) if name else None for name in layer_names], held.diff_ids
        ),
        names=unique(names),
    )

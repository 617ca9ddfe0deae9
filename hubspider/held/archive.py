"""Every image a saved archive holds, whichever tool saved it: the layout is told by the files
present, never by the file name. `index.json` is an OCI layout (alone, or a Docker 25+ save
that also has `manifest.json`); `manifest.json` alone is a `docker save` before Docker 25 (or
skopeo, kaniko, crane); `<id>/json` alone is a pre-1.10 save, which has no image config."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from hubspider.held.configs import unique
from hubspider.held.dockersave import is_v1_save, read_manifest_json
from hubspider.held.members import DirMembers, is_directory, problem, tar_members
from hubspider.held.oci import walk_layout

if TYPE_CHECKING:
    from hubspider.held.image import HeldImage
    from hubspider.held.members import Members


def read_archive(path: str) -> list[HeldImage]:
    """The images of the tar (plain or compressed) or OCI layout directory at `path`."""
    if is_directory(path):
        return read_members(DirMembers(path, path))
    with tar_members(path, path) as members:
        return read_members(members)


def read_members(members: Members) -> list[HeldImage]:
    """Every image present in the archive (its config held), in the order the archive lists them.
    A truncated tar is refused even when what it still holds names an image: it is not the file
    that was saved, and `docker load` would refuse it too."""
    source = members.source
    if members.truncated:
        raise problem(f"{source} is truncated: the tar stops before its end")
    names = members.names()
    if "index.json" in names:
        walk = walk_layout(members)
        saved = read_manifest_json(members) if "manifest.json" in names else []
        images = merge(walk.images, saved)
        if not images:
            raise problem(walk.why_none(source))
        return images
    if "manifest.json" in names:
        images = read_manifest_json(members)
        if not images:
            raise problem(f"{source} holds no image: its manifest.json is an empty list")
        return images
    if is_v1_save(names):
        raise problem(f"{source} is a docker save from Docker before 1.10 (no image config): not supported")
    if not names:
        raise problem(f"{source} holds no image: it is empty (no files in it)")
    raise problem(f"{source} holds no image: no manifest.json or index.json")


def merge(found: list[HeldImage], saved: list[HeldImage]) -> list[HeldImage]:
    """One image per image ID. A Docker 25+ save lists its images both in index.json (with
    manifest digests) and manifest.json (with RepoTags, and the only list when it saved by ID);
    one manifest may also appear under two refs."""
    merged: dict[str, HeldImage] = {}
    for image in [*found, *saved]:
        key = image.image_id or ",".join(image.digests)
        known = merged.get(key)
        if known is None:
            merged[key] = image
            continue
        merged[key] = replace(
            known,
            layer_digests=known.layer_digests or image.layer_digests,
            digests=unique(known.digests + image.digests),
            names=unique(known.names + image.names),
        )
    return list(merged.values())

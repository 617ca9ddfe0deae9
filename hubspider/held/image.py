"""An image a user holds, reduced to what detection compares, and its platform."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class InputProblem(ValueError):  # noqa: N818 (a verdict on the input, not a program error)
    """The input is not an image, or not one we can read: the message is one line naming why."""


@dataclass(frozen=True, slots=True)
class HeldImage:
    """One platform image of the input.

    `diff_ids` come from the config (or `docker inspect`'s RootFS.Layers), base first; they are
    what matches, since they do not change when a layer is recompressed. `layer_digests` are the
    compressed digests in the same order, where the input holds the manifest that names them.
    """

    platform: str
    #: sha256 of the config bytes (the classic image ID); None when the input does not hold
    #: the config and names the image otherwise (docker inspect with the containerd store).
    image_id: str | None
    diff_ids: tuple[str, ...]
    layer_digests: tuple[str, ...] | None = None
    #: Manifest or index digests that name this image (its platform manifest, the index it
    #: came from, RepoDigests): an official image's is an exact match.
    digests: tuple[str, ...] = ()
    #: Names the input gives it (RepoTags, ref.name annotations), for the text output.
    names: tuple[str, ...] = field(default=())


# os/architecture[/variant], as `docker --platform` takes it.
PLATFORM = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)?$")

# What containerd assumes when a platform leaves its variant out.
DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


def parse_platform(value: str) -> str:
    """A `--platform` value, lowercased; InputProblem if it is not os/architecture[/variant]."""
    platform = value.strip().lower()
    if not PLATFORM.match(platform):
        raise InputProblem(
            f"invalid platform {value!r}: expected os/architecture[/variant], e.g. linux/arm64"
        )
    return platform


def platform_key(platform: str) -> tuple[str, str, str]:
    """What two platform names must share to be one platform: `linux/arm64` is
    `linux/arm64/v8`, `linux/arm` is `linux/arm/v7`, `linux/amd64/v1` is `linux/amd64`."""
    os, _, rest = platform.lower().partition("/")
    architecture, _, variant = rest.partition("/")
    return (os, architecture, variant or DEFAULT_VARIANTS.get(architecture, ""))


def same_platform(one: str, other: str) -> bool:
    return platform_key(one) == platform_key(other)

"""The one image of the input that detection looks at: the one of the asked platform, or the only
platform there is. A save of an image together with the images it was built on is one image: the
top one, whose layers start with every other's."""

from __future__ import annotations

from hubspider.held.image import HeldImage, parse_platform, platform_key, same_platform
from hubspider.held.members import problem


def label(image: HeldImage) -> str:
    """How a message names an image: its first name, else its 12-hex ID."""
    if image.names:
        return image.names[0]
    identifier = image.image_id or (image.digests[0] if image.digests else "")
    return identifier.removeprefix("sha256:")[:12] or "an unnamed image"


def platforms(images: list[HeldImage]) -> list[str]:
    """The platforms of `images`, once each (`linux/arm64` and `linux/arm64/v8` are one)."""
    seen: dict[tuple[str, str, str], str] = {}
    for image in images:
        seen.setdefault(platform_key(image.platform), image.platform)
    return sorted(seen.values())


def builds_on(top: HeldImage, other: HeldImage) -> bool:
    return top.diff_ids[: len(other.diff_ids)] == other.diff_ids


def choose(images: list[HeldImage], platform: str | None, source: str) -> HeldImage:
    """The image to detect the bases of; InputProblem says why there is not exactly one."""
    if platform is not None:
        platform = parse_platform(platform)
    if not images:
        raise problem(f"{source} holds no image")
    held = platforms(images)
    if platform is not None:
        images = [image for image in images if same_platform(image.platform, platform)]
        if not images:
            raise problem(f"no {platform} image in {source}: it holds {', '.join(held)}")
        held = platforms(images)
    if len(held) > 1:
        raise problem(
            f"{source} holds images for {len(held)} platforms ({', '.join(held)}): choose one with --platform"
        )
    return _top(images, source)


def _top(images: list[HeldImage], source: str) -> HeldImage:
    tops = [image for image in images if all(builds_on(image, other) for other in images)]
    if tops:
        return tops[0]
    raise problem(
        f"{source} holds {len(images)} {images[0].platform} images that do not build on one another "
        f"({', '.join(label(image) for image in images)}): save only the one to look at"
    )

"""Which image of the input detection looks at: the platform asked for, the only platform there is,
and of several images of one platform the one built on all the others."""

from __future__ import annotations

import pytest

from hubspider.held.choose import choose
from hubspider.held.image import HeldImage, InputProblem


def digest(seed: str) -> str:
    return "sha256:" + (seed * 64)[:64]


def held(platform: str, *layers: str, name: str = "", image: str = "") -> HeldImage:
    return HeldImage(
        platform=platform,
        image_id=digest(image or "".join(layers) or "0"),
        diff_ids=tuple(digest(layer) for layer in layers),
        names=(name,) if name else (),
    )


AMD = held("linux/amd64", "a", "b")
ARM = held("linux/arm64/v8", "c")
ARMV7 = held("linux/arm/v7", "d")


def refusal(images: list[HeldImage], platform: str | None, source: str = "in.tar") -> str:
    with pytest.raises(InputProblem) as raised:
        choose(images, platform, source)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_the_only_image_without_a_platform():
    assert choose([AMD], None, "in.tar") is AMD


def test_the_platform_asked_for():
    assert choose([AMD, ARM, ARMV7], "linux/arm/v7", "in.tar") is ARMV7


@pytest.mark.parametrize("asked", ["linux/arm64", "linux/arm64/v8", "LINUX/ARM64"])
def test_platform_spellings_that_name_one_platform(asked):
    assert choose([AMD, ARM], asked, "in.tar") is ARM


def test_linux_arm_is_arm_v7():
    assert choose([AMD, ARMV7], "linux/arm", "in.tar") is ARMV7


def test_no_image_of_the_platform_asked_for():
    assert (
        refusal([AMD, ARM], "linux/s390x")
        == "no linux/s390x image in in.tar: it holds linux/amd64, linux/arm64/v8"
    )


@pytest.mark.parametrize(
    "asked", ["linux", "amd64", "linux/", "/amd64", "linux/arm/v7/extra", "linux amd64", ""]
)
def test_a_malformed_platform(asked):
    assert (
        refusal([AMD], asked)
        == f"invalid platform {asked!r}: expected os/architecture[/variant], e.g. linux/arm64"
    )


def test_several_platforms_without_one_asked_for():
    assert refusal([AMD, ARM], None) == (
        "in.tar holds images for 2 platforms (linux/amd64, linux/arm64/v8): choose one with --platform"
    )


def test_two_spellings_of_one_platform_are_one_platform():
    spelled = held("linux/arm64", "c", "e")
    assert choose([ARM, spelled], None, "in.tar") is spelled


def test_an_image_saved_with_its_base_is_the_top_one():
    base = held("linux/amd64", "a", name="base:1")
    middle = held("linux/amd64", "a", "b", name="mid:1")
    top = held("linux/amd64", "a", "b", "c", name="app:1")
    assert choose([top, base, middle], None, "in.tar") is top
    assert choose([base, middle, top], "linux/amd64", "in.tar") is top


def test_images_that_do_not_build_on_one_another():
    one = held("linux/amd64", "a", "b", name="one:1")
    other = held("linux/amd64", "a", "c")
    assert refusal([one, other], None) == (
        f"in.tar holds 2 linux/amd64 images that do not build on one another (one:1, {'ac' * 6}): "
        "save only the one to look at"
    )


def test_no_image_at_all():
    assert refusal([], None) == "in.tar holds no image"

"""Image references read as docker reads them, and which registry each goes to."""

from __future__ import annotations

import pytest

from hubspider.held.image import InputProblem, platform_key, same_platform
from hubspider.held.reference import Reference, looks_like_path, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry_url", "namespace", "repository", "reference"),
    [
        ("alpine", None, "library", "alpine", "latest"),
        ("alpine:3.20", None, "library", "alpine", "3.20"),
        ("docker.io/library/alpine:3.20", None, "library", "alpine", "3.20"),
        ("bitnami/redis:7", None, "bitnami", "redis", "7"),
        ("ghcr.io/acme/app:1.2", "https://ghcr.io", "acme", "app", "1.2"),
        ("ghcr.io/acme/team/app", "https://ghcr.io", "acme/team", "app", "latest"),
        (f"registry.example.com:5000/app@{DIGEST}", "https://registry.example.com:5000", "", "app", DIGEST),
        ("localhost:5000/app:dev", "http://localhost:5000", "", "app", "dev"),
        ("localhost/app", "http://localhost", "", "app", "latest"),
        ("127.0.0.1:8080/library/alpine:3", "http://127.0.0.1:8080", "library", "alpine", "3"),
        ("[::1]:5000/app", "http://[::1]:5000", "", "app", "latest"),
    ],
)
def test_references_as_docker_reads_them(
    text: str, registry_url: str | None, namespace: str, repository: str, reference: str
) -> None:
    assert parse_reference(text) == Reference(registry_url, namespace, repository, reference, text)


def test_a_digest_pins_the_image_even_beside_a_tag() -> None:
    assert parse_reference(f"alpine:3.20@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize(
    "text",
    [
        "Alpine",
        "alpine:",
        "alpine:-x",
        "alpine@sha256:abc",
        "a//b",
        "ghcr.io/",
        "-x",
        "alpine:" + "t" * 129,
        "bad host!/x",
    ],
)
def test_a_malformed_reference_is_one_line(text: str) -> None:
    with pytest.raises(InputProblem) as problem:
        parse_reference(text)
    assert "\n" not in str(problem.value)


@pytest.mark.parametrize(
    "text", ["./image.tar", "/tmp/x", "image.tar", "save.tar.gz", "inspect.json", "layout.oci"]
)
def test_names_meant_as_files(text: str) -> None:
    assert looks_like_path(text)


@pytest.mark.parametrize("text", ["alpine", "alpine:3.20", "ghcr.io/acme/app:1.2", "localhost:5000/app"])
def test_references_are_not_files(text: str) -> None:
    assert not looks_like_path(text)


@pytest.mark.parametrize(
    ("one", "other"),
    [("linux/arm64", "linux/arm64/v8"), ("linux/arm", "linux/arm/v7"), ("linux/amd64", "linux/amd64/v1")],
)
def test_default_variants_are_the_same_platform(one: str, other: str) -> None:
    assert same_platform(one, other)


@pytest.mark.parametrize(
    ("one", "other"),
    [("linux/arm/v6", "linux/arm/v7"), ("linux/amd64", "linux/arm64"), ("windows/amd64", "linux/amd64")],
)
def test_different_platforms(one: str, other: str) -> None:
    assert not same_platform(one, other)


def test_platform_key_ignores_case() -> None:
    assert platform_key("Linux/ARM64") == ("linux", "arm64", "v8")

"""`scrapy detect` end to end: a `library` and a `layers` crawl of the emulator fill the store,
tags move and go, the store follows; then images built FROM the emulator's official images are
written in every form a user holds (with the stdlib, tests/imagefiles.py) and detected. What
detect says must equal what the emulator's own data says, worked out here from its tags and
images rather than from the store."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fakehub import HubServer, make_hub
from fakehub.data import evolve
from fakehub.registry import FakeRegistry
from hubspider.held.image import same_platform
from hubspider.records import image_reference
from hubspider.versions import newest_in_track, specificity_key
from tests import imagefiles
from tests.helpers import project_environment, run_crawl, run_layers
from tests.layoutregistry import LayoutRegistry

if TYPE_CHECKING:
    from fakehub import Hub
    from fakehub.content import ImageContent
    from fakehub.data import Repository

pytestmark = pytest.mark.e2e

STORE = "output/hubspider.sqlite3"
# Small, with rust images built FROM alpine ones, as python:3.12-alpine is.
HUB_SHAPE = {"repositories": 4, "tags": 200, "seed": 2}


@dataclass(frozen=True)
class Official:
    """A platform image of an official repository, as the emulator holds it."""

    repository: str
    digest: str
    platform: str
    image_id: str
    diff_ids: tuple[str, ...]
    content: ImageContent


@dataclass
class Indexed:
    hub: Hub
    workdir: Path
    officials: list[Official]
    #: (repository, tag) -> the platform image digests its build held, before and after the tags moved.
    before: dict[tuple[str, str], set[str]]
    after: dict[tuple[str, str], set[str]]


def tag_images(hub: Hub) -> dict[tuple[str, str], set[str]]:
    return {
        (name, tag.name): {image.digest for image in tag.build.images if image.is_platform and image.digest}
        for name, repository in hub.namespaces["library"].items()
        for tag in repository.tags
    }


def officials_of(hub: Hub) -> dict[tuple[str, str], Official]:
    found = {}
    for name, repository in hub.namespaces["library"].items():
        for tag in repository.unique_tags:
            for image in tag.build.images:
                content = image.content
                if not image.is_platform or content is None or not hasattr(content, "layers"):
                    continue
                found[(name, image.digest)] = Official(
                    name,
                    image.digest,  # type: ignore[arg-type]
                    image.platform,
                    content.config_digest,
                    tuple(layer.diff_id for layer in content.layers),
                    content,  # type: ignore[arg-type]
                )
    return found


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    """A store after two library crawls and two layers crawls, with tags moved and deleted between."""
    hub = make_hub(**HUB_SHAPE)
    workdir = tmp_path_factory.mktemp("detect")
    officials = officials_of(hub)
    before = tag_images(hub)
    with HubServer(hub) as api:
        crawl_both(api, workdir, hub)
        evolve(hub, moved=8, added=0, deleted=0, seed=7)
        delete_oldest_build(hub.namespaces["library"]["alpine"])
        crawl_both(api, workdir, hub)
    officials |= officials_of(hub)
    return Indexed(hub, workdir, list(officials.values()), before, tag_images(hub))


def delete_oldest_build(repository: Repository) -> None:
    """Every tag of the repository's oldest build deleted: its images are gone from Hub's tags."""
    oldest = repository.unique_tags[-1].build
    repository.tags = [tag for tag in repository.tags if tag.build is not oldest]


def crawl_both(api: HubServer, workdir: Path, hub: Hub) -> None:
    library = run_crawl(api.url, workdir, output=None)
    assert library.returncode == 0, library.stderr[-2000:]
    with FakeRegistry(hub) as registry:
        layers = run_layers(api.url, registry, workdir, output=None)
    assert layers.returncode == 0, layers.stderr[-2000:]


def detect(workdir: Path, *arguments: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "detect", *arguments],
        cwd=workdir,
        env=project_environment(),
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def detected(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert result.returncode in (0, 1), result.stderr.decode()[-2000:]
    return json.loads(result.stdout)


# The truth, from the emulator's data -------------------------------------------------------------


def expected_bases(
    indexed: Indexed, platform: str, diff_ids: tuple[str, ...], image_id: str | None
) -> list[dict[str, Any]]:
    bases = []
    for official in indexed.officials:
        depth = len(official.diff_ids)
        exact = official.image_id == image_id
        if not same_platform(official.platform, platform) or not depth:
            continue
        if not exact and official.diff_ids != diff_ids[:depth]:
            continue
        bases.append(base_truth(indexed, official, len(diff_ids) if exact else depth))
    return sorted(
        bases, key=lambda base: (-base["matched_layers"], base["repository"], base["tags"][0], base["digest"])
    )


def base_truth(indexed: Indexed, official: Official, matched: int) -> dict[str, Any]:
    repository, digest = official.repository, official.digest
    ever = {
        tag for (name, tag), digests in indexed.before.items() if name == repository and digest in digests
    }
    ever |= {
        tag for (name, tag), digests in indexed.after.items() if name == repository and digest in digests
    }
    existing = {tag for name, tag in indexed.after if name == repository}
    current = {tag for tag in ever if digest in indexed.after.get((repository, tag), set())}
    status = "current" if current else "moved on" if ever & existing else "gone"
    tags = sorted(ever, key=specificity_key)
    return {
        "namespace": "library",
        "repository": repository,
        "image": image_reference("library", repository, tags[0]),
        "tags": tags,
        "digest": digest,
        "image_id": official.image_id,
        "platform": official.platform,
        "matched_layers": matched,
        "status": status,
        "newer": newer_truth(indexed, official, tags, existing),
    }


def newer_truth(
    indexed: Indexed, official: Official, tags: list[str], existing: set[str]
) -> dict[str, Any] | None:
    repository = official.repository
    for tag in tags:
        newer_tag = newest_in_track(tag, existing)
        moved = tag in existing and official.digest not in indexed.after[(repository, tag)]
        if newer_tag is None and not moved:
            continue
        target = newer_tag or tag
        digest = next(
            (
                candidate.digest
                for candidate in indexed.officials
                if candidate.repository == repository
                and candidate.digest in indexed.after[(repository, target)]
                and same_platform(candidate.platform, official.platform)
            ),
            None,
        )
        if digest is None or digest == official.digest:
            return None
        return {"tag": target, "image": image_reference("library", repository, target), "digest": digest}
    return None


def comparable(bases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bases without `newer.since`, a time only the store knows."""
    return [
        base
        | {
            "newer": None
            if base["newer"] is None
            else {k: v for k, v in base["newer"].items() if k != "since"}
        }
        for base in bases
    ]


# Inputs -------------------------------------------------------------------------------------------


def as_image(official: Official) -> imagefiles.Image:
    content = official.content
    blobs = {layer.digest: layer.blob() for layer in content.layers}
    return imagefiles.from_registry(content.config(), content.manifest(), blobs)


def built_on_alpine(indexed: Indexed) -> Official:
    """A rust image built FROM an alpine one, both in the store."""
    alpine = {official.diff_ids for official in indexed.officials if official.repository == "alpine"}
    for official in indexed.officials:
        if official.repository == "rust" and any(official.diff_ids[: len(base)] == base for base in alpine):
            return official
    raise AssertionError("the emulator has no rust image built on alpine")


@pytest.fixture(scope="module")
def application(indexed: Indexed) -> imagefiles.Image:
    """What a user builds: FROM rust (on alpine), two layers of their own."""
    return imagefiles.derived(as_image(built_on_alpine(indexed)), 2)


def legacy(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_docker_save(path / "app.tar", [(app, ["app:1.0"])]))], None


def legacy_gzip(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_docker_save(path / "app.tar.gz", [(app, ["app:1.0"])], gzip=True))], None


def skopeo(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_docker_save(path / "app.tar", [(app, [])], style="skopeo"))], None


def kaniko(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_docker_save(path / "app.tar", [(app, ["app:1.0"])], style="kaniko"))], None


def docker25_classic(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_docker_save_oci(path / "app.tar", [(app, ["app:1.0"])]))], None


def docker25_containerd(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    build = imagefiles.build(app)
    saved = imagefiles.write_docker_save_oci(path / "app.tar", [(build, ["app:1.0"])], store="containerd")
    return [str(saved)], None


def oci_tar(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_oci_layout(path / "app.oci.tar", [(app, ["1.0"])]))], None


def oci_directory(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return [str(imagefiles.write_oci_layout(path / "layout", [(app, ["1.0"])], tar=False))], None


def inspect_file(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    target = path / "inspect.json"
    target.write_text(imagefiles.docker_inspect(app, ["app:1.0"]))
    return [str(target)], None


def podman_file(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    target = path / "podman.json"
    target.write_text(imagefiles.podman_inspect(app, ["localhost/app:1.0"]))
    return [str(target)], None


def inspect_stdin(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    return ["-"], imagefiles.docker_inspect(app, ["app:1.0"]).encode()


def save_on_stdin(path: Path, app: imagefiles.Image) -> tuple[list[str], bytes | None]:
    (saved,), _ = legacy(path, app)
    return ["-"], Path(saved).read_bytes()


FORMS = [
    legacy,
    legacy_gzip,
    skopeo,
    kaniko,
    docker25_classic,
    docker25_containerd,
    oci_tar,
    oci_directory,
    inspect_file,
    podman_file,
    inspect_stdin,
    save_on_stdin,
]


# What detect says ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.__name__)
def test_every_input_form_finds_the_bases_the_emulator_says(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path, form: Any
) -> None:
    arguments, stdin = form(tmp_path, application)
    result = detect(indexed.workdir, *arguments, "--json", stdin=stdin)
    answer = detected(result)
    assert result.returncode == 0
    assert answer["platform"] == application.platform
    assert answer["image_id"] == application.image_id
    assert answer["layers"] == len(application.diff_ids)
    truth = expected_bases(indexed, application.platform, application.diff_ids, application.image_id)
    assert [base["repository"] for base in truth[:2]] == ["rust", "alpine"]
    assert comparable(answer["bases"]) == truth


def test_a_registry_reference_is_read_with_one_manifest_and_one_config(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    layout = imagefiles.write_oci_layout(tmp_path / "layout", [(application, ["1.0"])], tar=False)
    with LayoutRegistry(layout, "acme/app") as registry:
        result = detect(indexed.workdir, f"{registry.host}/acme/app:1.0", "--json")
        answer = detected(result)
        assert registry.counts == {"manifest_get": 1, "blob_get": 1}
    assert answer["image_id"] == application.image_id
    truth = expected_bases(indexed, application.platform, application.diff_ids, application.image_id)
    assert comparable(answer["bases"]) == truth


def test_an_official_image_is_itself(indexed: Indexed, tmp_path: Path) -> None:
    official = built_on_alpine(indexed)
    saved = imagefiles.write_docker_save(tmp_path / "rust.tar", [(as_image(official), [])])
    answer = detected(detect(indexed.workdir, str(saved), "--json"))
    assert answer["bases"][0]["digest"] == official.digest
    assert answer["bases"][0]["matched_layers"] == len(official.diff_ids)
    assert comparable(answer["bases"]) == expected_bases(
        indexed, official.platform, official.diff_ids, official.image_id
    )


def test_an_image_built_on_a_base_whose_tags_moved_is_told_to_rebuild(
    indexed: Indexed, tmp_path: Path
) -> None:
    moved = [
        official
        for official in indexed.officials
        if official.repository == "alpine"
        and not any(
            official.digest in digests for (name, _), digests in indexed.after.items() if name == "alpine"
        )
        and any(
            official.digest in digests for (name, _), digests in indexed.before.items() if name == "alpine"
        )
    ]
    assert moved, "evolve moved no alpine tag"
    app = imagefiles.derived(as_image(moved[0]), 1)
    saved = imagefiles.write_oci_layout(tmp_path / "app.tar", [(app, ["1.0"])])
    result = detect(indexed.workdir, str(saved))
    assert result.returncode == 0
    text = result.stdout.decode()
    answer = detected(detect(indexed.workdir, str(saved), "--json"))
    base = answer["bases"][0]
    assert base["status"] in ("moved on", "gone")
    assert comparable([base]) == expected_bases(indexed, app.platform, app.diff_ids, app.image_id)[:1]
    if base["newer"] is not None:
        assert f"rebuild to pick up {base['newer']['digest']}" in text


def test_the_text_names_the_base_what_it_is_built_on_and_the_tags(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    saved = imagefiles.write_docker_save(tmp_path / "app.tar", [(application, ["app:1.0"])])
    result = detect(indexed.workdir, str(saved))
    assert result.returncode == 0
    answer = detected(detect(indexed.workdir, str(saved), "--json"))
    rust, alpine = answer["bases"][:2]
    lines = result.stdout.decode().splitlines()
    assert lines[1].startswith(f"Built on {rust['image']}  {rust['platform']}")
    assert f"{rust['matched_layers']} of {len(application.diff_ids)} layers" in lines[1]
    assert f"    tags: {', '.join(rust['tags'])}" in lines
    assert any(line.startswith(f"  which is built on {alpine['image']}") for line in lines)


def test_an_image_on_no_official_base_exits_1(indexed: Indexed, tmp_path: Path) -> None:
    stranger = imagefiles.image(3, seed="scratch-built")
    saved = imagefiles.write_docker_save(tmp_path / "stranger.tar", [(stranger, [])])
    result = detect(indexed.workdir, str(saved), "--json")
    assert result.returncode == 1
    assert detected(result)["bases"] == []


def test_without_a_store_nothing_is_found_and_a_note_says_why(
    application: imagefiles.Image, tmp_path: Path
) -> None:
    saved = imagefiles.write_docker_save(tmp_path / "app.tar", [(application, [])])
    result = detect(tmp_path, str(saved), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["image_id"] == application.image_id
    assert "no store at" in result.stderr.decode()


# Multi-platform inputs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_platforms(indexed: Indexed) -> imagefiles.Build:
    """An application built for two platforms, each FROM the rust image of its platform."""
    base = built_on_alpine(indexed)
    other = next(
        official
        for official in indexed.officials
        if official.repository == "rust"
        and official.diff_ids
        and not same_platform(official.platform, base.platform)
    )
    return imagefiles.build(imagefiles.derived(as_image(base), 1), imagefiles.derived(as_image(other), 1))


def test_a_multi_platform_input_needs_a_platform(
    indexed: Indexed, two_platforms: imagefiles.Build, tmp_path: Path
) -> None:
    saved = imagefiles.write_oci_layout(tmp_path / "app.tar", [(two_platforms, ["1.0"])])
    result = detect(indexed.workdir, str(saved))
    assert result.returncode == 2
    platforms = sorted(image.platform for image in two_platforms.images)
    assert result.stderr.decode().strip() == (
        f"Error: {saved} holds images for 2 platforms ({', '.join(platforms)}): choose one with --platform"
    )


def test_the_platform_asked_for_is_detected(
    indexed: Indexed, two_platforms: imagefiles.Build, tmp_path: Path
) -> None:
    saved = imagefiles.write_oci_layout(tmp_path / "app.tar", [(two_platforms, ["1.0"])])
    for app in two_platforms.images:
        answer = detected(detect(indexed.workdir, str(saved), "--platform", app.platform, "--json"))
        assert answer["image_id"] == app.image_id
        assert comparable(answer["bases"]) == expected_bases(
            indexed, app.platform, app.diff_ids, app.image_id
        )


def test_a_containerd_save_is_read_for_the_platform_it_holds(
    indexed: Indexed, two_platforms: imagefiles.Build, tmp_path: Path
) -> None:
    present = two_platforms.images[1]
    saved = imagefiles.write_docker_save_oci(
        tmp_path / "app.tar",
        [(two_platforms, ["app:1.0"])],
        store="containerd",
        platforms_present=[present.platform],
    )
    answer = detected(detect(indexed.workdir, str(saved), "--json"))
    assert answer["image_id"] == present.image_id


# Input that is not an image: exit 2, one line ------------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 2, result.stderr.decode()[-2000:]
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert result.stdout == b""
    return lines[0]


def test_a_truncated_save_is_one_line(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    saved = imagefiles.write_docker_save(tmp_path / "app.tar", [(application, [])])
    imagefiles.truncate(saved, saved.stat().st_size // 2)
    assert str(saved) in one_line_error(detect(indexed.workdir, str(saved)))


def test_a_containers_inspect_output_is_one_line(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    target = tmp_path / "container.json"
    target.write_text(imagefiles.container_inspect(application))
    assert "container" in one_line_error(detect(indexed.workdir, str(target)))


def test_a_tar_of_something_else_is_one_line(indexed: Indexed, tmp_path: Path) -> None:
    target = imagefiles.write_tree(tmp_path / "notes.tar", {"README": b"hello", "notes.txt": b"world"})
    assert "no image" in one_line_error(detect(indexed.workdir, str(target)))


def test_an_unknown_platform_is_one_line(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    saved = imagefiles.write_docker_save(tmp_path / "app.tar", [(application, [])])
    line = one_line_error(detect(indexed.workdir, str(saved), "--platform", "linux/s390x"))
    assert f"no linux/s390x image in {saved}: it holds {application.platform}" in line


def test_a_reference_that_does_not_resolve_is_one_line(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    layout = imagefiles.write_oci_layout(tmp_path / "layout", [(application, ["1.0"])], tar=False)
    with LayoutRegistry(layout, "acme/app") as registry:
        line = one_line_error(detect(indexed.workdir, f"{registry.host}/acme/app:2.0"))
    assert "HTTP 404" in line


@pytest.mark.parametrize(
    "arguments",
    [["missing.tar"], ["Not A Reference"], [], ["a.tar", "b.tar"], ["--platform", "linux", "x.tar"]],
)
def test_bad_arguments_are_one_line(indexed: Indexed, arguments: list[str]) -> None:
    one_line_error(detect(indexed.workdir, *arguments))


def test_inspect_output_that_is_not_json_is_one_line(indexed: Indexed, application: imagefiles.Image) -> None:
    mangled = imagefiles.docker_inspect(application).replace('"Id"', '"Id\\$"', 1).encode()
    assert "standard input is not JSON" in one_line_error(detect(indexed.workdir, "-", stdin=mangled))


def test_a_layout_whose_config_is_not_what_its_digest_says_is_one_line(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    tree = imagefiles.oci_layout_tree([(application, ["1.0"])])
    config = f"blobs/sha256/{imagefiles.hexpart(application.image_id)}"
    tree[config] = application.config.replace(b'"os":"linux"', b'"os":"linux" ')
    saved = imagefiles.write_tree(tmp_path / "app.tar", tree)
    assert "does not match its digest" in one_line_error(detect(indexed.workdir, str(saved)))


def test_a_registry_that_serves_another_manifest_is_refused_in_one_line(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    other = imagefiles.derived(application, 1)
    layout = imagefiles.write_oci_layout(tmp_path / "layout", [(application, ["1.0"])], tar=False)
    # The blob named by the application's manifest digest now holds another manifest.
    (layout / "blobs" / "sha256" / imagefiles.hexpart(application.manifest_digest)).write_bytes(
        other.manifest
    )
    with LayoutRegistry(layout, "acme/app") as registry:
        line = one_line_error(
            detect(indexed.workdir, f"{registry.host}/acme/app@{application.manifest_digest}")
        )
    assert f"content of {application.manifest_digest} has digest {other.manifest_digest}" in line


def test_a_docker_hub_reference_is_read_from_hub_registry_url(indexed: Indexed) -> None:
    official = built_on_alpine(indexed)
    tag = next(
        tag for (name, tag), digests in indexed.after.items() if name == "rust" and official.digest in digests
    )
    with FakeRegistry(indexed.hub) as registry:
        result = detect(
            indexed.workdir,
            "-s", f"HUB_REGISTRY_URL={registry.url}",
            "-s", f"HUB_REGISTRY_AUTH_URL={registry.auth_url}",
            "--platform", official.platform, "--json", f"rust:{tag}",
        )  # fmt: skip
        counts = {key: registry.counts[key] for key in ("index_get", "manifest_get", "blob_get")}
    answer = detected(result)
    assert answer["image_id"] == official.image_id
    assert answer["bases"][0]["digest"] == official.digest
    assert answer["bases"][0]["matched_layers"] == len(official.diff_ids)
    assert counts == {"index_get": 1, "manifest_get": 1, "blob_get": 1}
    assert comparable(answer["bases"]) == expected_bases(
        indexed, official.platform, official.diff_ids, official.image_id
    )

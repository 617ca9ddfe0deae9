"""`scrapy lookup`, `history` and `changes` on images of a `registry` crawl: the distribution
emulator is crawled, one tag is moved to another tag's target and one is deleted, and it is
crawled again. Every answer is compared with the emulator's tags before and after, worked out
here; the only times are the two crawls' own, which their records carry."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from fakehub import DistributionRegistry, make_distribution
from fakehub.distribution import Index, images_of
from hubspider.commands.history import parse_image
from hubspider.records import image_reference
from hubspider.versions import newest_in_track, specificity_key
from tests.helpers import as_keys, run_command, run_crawl

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from fakehub.content import ImageContent
    from fakehub.distribution import Target

# Every test but the parsing ones crawls the emulator or runs a command in a subprocess.
pytestmark = pytest.mark.e2e

SHAPE = {"repositories": 6, "tags": 60, "seed": 4}
REPOSITORY = "dotnet/runtime"


@dataclass
class Evolved:
    host: str
    workdir: Path
    #: dotnet/runtime's tags at the first crawl and at the second.
    before: dict[str, Target]
    after: dict[str, Target]
    #: The tag moved to the target of `latest`, and the tag deleted, between the two.
    moved: str
    removed: str
    first: str
    second: str


def unused_url() -> str:
    """A loopback URL nothing answers: no registry command asks the Hub API."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def evolved(tmp_path_factory: pytest.TempPathFactory) -> Evolved:
    distribution = make_distribution(**SHAPE)
    workdir = tmp_path_factory.mktemp("registry-commands")
    repository = distribution.repositories[REPOSITORY]
    with DistributionRegistry(distribution) as registry:
        host = urlsplit(registry.url).netloc
        first = crawl(workdir, host, "first.jsonl")
        before = dict(repository.tags)
        newest = repository.tags["latest"]
        # Most specific first, so that both are version tags of older builds.
        older = [tag for tag in sorted(before, key=specificity_key) if before[tag].digest != newest.digest]
        moved, removed = older[0], older[1]
        repository.add(moved, newest)
        del repository.tags[removed]
        second = crawl(workdir, host, "second.jsonl")
    assert second > first, "both crawls ran within one second"
    return Evolved(host, workdir, before, dict(repository.tags), moved, removed, first, second)


def crawl(workdir: Path, host: str, output: str) -> str:
    """A registry crawl into the store in `workdir`, and its `seen_at`."""
    result = run_crawl(unused_url(), workdir, "-a", f"registry={host}", spider="registry", output=output)
    assert result.returncode == 0, result.stderr[-3000:]
    seen_at: str = result.records()[0]["seen_at"]
    return seen_at


def command(evolved: Evolved, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_command(evolved.workdir, *arguments)


def answer(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


# The truth, from the emulator ----------------------------------------------------------------------


def same_target(one: Target | None, other: Target | None) -> bool:
    return one is not None and other is not None and one.digest == other.digest


def history_truth(evolved: Evolved, tag: str, platform: str | None = None) -> list[dict[str, Any]]:
    """A tag's rows: each target it pointed to (the index, then its platform images), seen from
    the crawl that first found it there to the last that did."""
    then, now = evolved.before.get(tag), evolved.after.get(tag)
    targets = [target for target in (then, now) if target is not None]
    if same_target(then, now):
        targets = targets[:1]
    rows = []
    for target in targets:
        current = same_target(target, now)
        times = {
            "first_seen": evolved.first if same_target(target, then) else evolved.second,
            "last_seen": evolved.second if current else evolved.first,
            "current": current,
        }
        if isinstance(target, Index):
            rows.append({"digest": target.digest, "platform": None, "kind": "index"} | times)
        rows += [
            {"digest": image.digest, "platform": image.platform, "kind": "image"} | times
            for image in images_of(target)
        ]
    return [row for row in rows if platform is None or row["platform"] == platform]


def lookup_truth(evolved: Evolved, image: ImageContent) -> list[dict[str, Any]]:
    """The one match of a platform image's digest, with every tag that ever held it."""

    def holds(target: Target | None) -> bool:
        return target is not None and image.digest in {candidate.digest for candidate in images_of(target)}

    ever = {tag for tags in (evolved.before, evolved.after) for tag, target in tags.items() if holds(target)}
    tags = []
    for tag in sorted(ever, key=specificity_key):
        now = evolved.after.get(tag)
        current = holds(now)
        tags.append(
            {
                "tag": tag,
                "image": image_reference(evolved.host, REPOSITORY, tag),
                "current": current,
                "moved_to": None if current or now is None else now.digest,
                "gone": now is None,
                "newer_in_track": newest_in_track(tag, list(evolved.after)),
                "first_seen": evolved.first if holds(evolved.before.get(tag)) else evolved.second,
                "last_seen": evolved.second if current else evolved.first,
            }
        )
    return [
        {
            "digest": image.digest,
            "namespace": evolved.host,
            "repository": REPOSITORY,
            "platform": image.platform,
            "kind": "image",
            "tags": tags,
        }
    ]


def linux_amd64(target: Target) -> ImageContent:
    return next(image for image in images_of(target) if image.platform == "linux/amd64")


# Parsing image names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("mcr.microsoft.com/dotnet/runtime:8.0", ("mcr.microsoft.com", "dotnet/runtime", "8.0")),
        ("mcr.microsoft.com/dotnet/runtime", ("mcr.microsoft.com", "dotnet/runtime", "latest")),
        ("localhost:5000/app:1", ("localhost:5000", "app", "1")),
        ("localhost/app", ("localhost", "app", "latest")),
        ("127.0.0.1:45717/cbl-mariner/base/core:2.0", ("127.0.0.1:45717", "cbl-mariner/base/core", "2.0")),
        ("MCR.Microsoft.com/dotnet/runtime:8.0", ("mcr.microsoft.com", "dotnet/runtime", "8.0")),
    ],
)
def test_a_registry_image_is_its_host_path_and_tag(reference: str, parsed: tuple[str, str, str]) -> None:
    assert parse_image(reference) == parsed


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("alpine:3.20", ("library", "alpine", "3.20")),
        ("bitnami/redis:7", ("bitnami", "redis", "7")),
        ("alpine", ("library", "alpine", "latest")),
        ("docker.io/library/alpine:3.20", ("library", "alpine", "3.20")),
        ("docker.io/bitnami/redis", ("bitnami", "redis", "latest")),
        ("index.docker.io/alpine:3", ("library", "alpine", "3")),
    ],
)
def test_docker_hub_images_keep_their_namespace(reference: str, parsed: tuple[str, str, str]) -> None:
    assert parse_image(reference) == parsed


@pytest.mark.parametrize(
    "reference",
    [
        "mcr.microsoft.com/Dotnet/runtime:8.0",
        "mcr.microsoft.com/dotnet/runtime@sha256:" + "a" * 64,
        "mcr.microsoft.com/dotnet/runtime:8.0:1",
        "mcr.microsoft.com/",
        "bad_host.com:x/app:1",
        "docker.io/a/b/c:1",
        "a/b/c:1",
    ],
)
def test_a_bad_image_is_one_line(reference: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_image(reference)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        f"Error: invalid image {reference!r}: expected [NAMESPACE/]REPOSITORY[:TAG] or "
        "REGISTRY/PATH[:TAG], e.g. alpine:3.20 or mcr.microsoft.com/dotnet/runtime:8.0\n"
    )


# history ------------------------------------------------------------------------------------------


def test_history_of_a_moved_tag_has_both_targets(evolved: Evolved) -> None:
    reference = f"{evolved.host}/{REPOSITORY}:{evolved.moved}"
    rows = answer(command(evolved, "history", "--json", reference))
    assert as_keys(rows) == as_keys(history_truth(evolved, evolved.moved))
    assert [row["first_seen"] for row in rows] == sorted(row["first_seen"] for row in rows)


def test_history_of_a_deleted_tag_has_no_current_row(evolved: Evolved) -> None:
    reference = f"{evolved.host}/{REPOSITORY}:{evolved.removed}"
    rows = answer(command(evolved, "history", "--json", reference))
    assert as_keys(rows) == as_keys(history_truth(evolved, evolved.removed))
    assert not any(row["current"] for row in rows)


def test_history_without_a_tag_is_latest(evolved: Evolved) -> None:
    rows = answer(command(evolved, "history", "--json", f"{evolved.host}/{REPOSITORY}"))
    assert as_keys(rows) == as_keys(history_truth(evolved, "latest"))


def test_history_of_one_platform(evolved: Evolved) -> None:
    reference = f"{evolved.host}/{REPOSITORY}:{evolved.moved}"
    rows = answer(command(evolved, "history", "--json", "--platform", "linux/amd64", reference))
    assert rows == history_truth(evolved, evolved.moved, "linux/amd64")
    assert len(rows) == 2


def test_history_text_has_a_line_a_row(evolved: Evolved) -> None:
    reference = f"{evolved.host}/{REPOSITORY}:{evolved.moved}"
    result = command(evolved, "history", reference)
    assert result.returncode == 0, result.stderr
    truth = history_truth(evolved, evolved.moved)
    lines = result.stdout.splitlines()
    assert len(lines) == len(truth)
    assert sorted(line.split()[-1] for line in lines) == sorted(row["digest"] for row in truth)


def test_history_of_an_image_no_crawl_saw_exits_1(evolved: Evolved) -> None:
    result = command(evolved, "history", f"{evolved.host}/{REPOSITORY}:no-such-tag")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"has seen {evolved.host}/{REPOSITORY}:no-such-tag")


def test_history_of_a_bad_image_is_one_line(evolved: Evolved) -> None:
    result = command(evolved, "history", f"{evolved.host}/Dotnet/runtime:8.0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: invalid image '{evolved.host}/Dotnet/runtime:8.0': expected [NAMESPACE/]REPOSITORY[:TAG] "
        "or REGISTRY/PATH[:TAG], e.g. alpine:3.20 or mcr.microsoft.com/dotnet/runtime:8.0"
    ]


# lookup -------------------------------------------------------------------------------------------


def test_lookup_of_the_moved_tags_old_image(evolved: Evolved) -> None:
    image = linux_amd64(evolved.before[evolved.moved])
    found = answer(command(evolved, "lookup", "--json", image.digest))
    assert found == lookup_truth(evolved, image)
    moved = next(tag for tag in found[0]["tags"] if tag["tag"] == evolved.moved)
    assert moved["moved_to"] == evolved.after["latest"].digest


def test_lookup_of_the_deleted_tags_image(evolved: Evolved) -> None:
    image = linux_amd64(evolved.before[evolved.removed])
    found = answer(command(evolved, "lookup", "--json", image.digest))
    assert found == lookup_truth(evolved, image)
    removed = next(tag for tag in found[0]["tags"] if tag["tag"] == evolved.removed)
    assert removed["gone"]


def test_lookup_by_a_digest_prefix(evolved: Evolved) -> None:
    image = linux_amd64(evolved.after["latest"])
    found = answer(command(evolved, "lookup", "--json", image.digest[:19]))
    assert found == lookup_truth(evolved, image)


def test_lookup_text_names_the_host_images(evolved: Evolved) -> None:
    image = linux_amd64(evolved.before[evolved.moved])
    result = command(evolved, "lookup", image.digest)
    assert result.returncode == 0, result.stderr
    tags = lookup_truth(evolved, image)[0]["tags"]
    lines = result.stdout.splitlines()
    assert lines[0] == f"{image.digest}  linux/amd64"
    assert lines[1] == "  " + ", ".join(tag["image"] for tag in tags)
    assert f"moved on to {evolved.after['latest'].digest}" in result.stdout


# changes ------------------------------------------------------------------------------------------


def changes_truth(evolved: Evolved) -> list[dict[str, Any]]:
    def change(kind: str, tag: str) -> dict[str, Any]:
        return {
            "change": kind,
            "image": image_reference(evolved.host, REPOSITORY, tag),
            "namespace": evolved.host,
            "repository": REPOSITORY,
            "tag": tag,
            "at": evolved.second,
        }

    return sorted(
        [change("moved", evolved.moved), change("disappeared", evolved.removed)], key=lambda c: c["tag"]
    )


def test_changes_of_the_last_crawl_are_the_move_and_the_deletion(evolved: Evolved) -> None:
    assert answer(command(evolved, "changes", "--json")) == changes_truth(evolved)


def test_changes_since_the_first_crawl_are_the_same(evolved: Evolved) -> None:
    """The first crawl of a repository finds every tag: that is not news."""
    found = answer(command(evolved, "changes", "--json", "--since", evolved.first))
    assert found == changes_truth(evolved)


def test_changes_text_names_the_host_images(evolved: Evolved) -> None:
    result = command(evolved, "changes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        [change["change"], change["image"]] for change in changes_truth(evolved)
    ]
    assert lines[-1] == f"2 changes since {evolved.second}"

"""Image files real tools wrote (docker save of every era, skopeo, kaniko, buildkit, containerd,
podman), read against the facts SOURCES.md gives for each: platform, image ID, layer count, first
compressed digest. The table is parsed when the tests run; without the files they are skipped."""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubspider.held.choose import choose
from hubspider.held.image import HeldImage, InputProblem, same_platform
from hubspider.held.local import read_local

IMAGES = Path(os.environ.get("REAL_IMAGES_DIR", "/work/shared/real-data/images"))
SOURCES = IMAGES / "SOURCES.md"
FACT = re.compile(
    r"^(?P<platform>[\w./-]+): `(?P<image_id>[0-9a-f]{12})` (?P<layers>\d+) layers?"
    r"(?:, compressed `(?P<compressed>[0-9a-f]{12})`)?"
)


@dataclass(frozen=True)
class Fact:
    platform: str
    image_id: str
    layers: int
    compressed: str | None


@dataclass(frozen=True)
class Row:
    file: str
    format: str
    expect: str
    facts: tuple[Fact, ...]


def parse_facts(text: str) -> tuple[Fact, ...]:
    if text.strip() in ("-", ""):
        return ()
    facts = []
    for part in text.split(";"):
        match = FACT.match(part.strip())
        assert match, f"facts SOURCES.md gives in a form this test does not know: {part!r}"
        facts.append(Fact(match["platform"], match["image_id"], int(match["layers"]), match["compressed"]))
    return tuple(facts)


def parse_rows(markdown: str) -> list[Row]:
    """The rows of the `| file | format | expect | made by | repository | facts | notes |` table."""
    rows = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) != 7 or not cells[0].startswith("`"):
            continue
        rows.append(Row(cells[0].strip("`"), cells[1], cells[2], parse_facts(cells[5])))
    return rows


def rows() -> list[Row]:
    return parse_rows(SOURCES.read_text()) if SOURCES.is_file() else []


ROWS = rows()


def location(name: str) -> Path:
    for candidate in (IMAGES / name, IMAGES / "files" / name):
        if candidate.exists():
            return candidate
    pytest.skip(f"{name} is not in {IMAGES}")


def test_the_table_parses_into_rows_with_facts():
    if not ROWS:
        pytest.skip(f"no {SOURCES}")
    assert {row.expect for row in ROWS} <= {"valid", "broken", "inconsistent"}
    assert all(row.facts for row in ROWS if row.expect == "valid")
    assert all(not row.facts for row in ROWS if row.expect == "broken")


def test_a_fact_line_parses():
    text = (
        "linux/amd64: `9d7f147c0d0c` 1 layer; "
        "linux/arm/v7: `74c89ecc3230` 14 layers, compressed `6cf7f0b947cc`…"
    )
    assert parse_facts(text) == (
        Fact("linux/amd64", "9d7f147c0d0c", 1, None),
        Fact("linux/arm/v7", "74c89ecc3230", 14, "6cf7f0b947cc"),
    )


def matches(held: HeldImage, fact: Fact) -> bool:
    return same_platform(held.platform, fact.platform) and (held.image_id or "")[7:19] == fact.image_id


def check_against(images: list[HeldImage], row: Row) -> None:
    """Each fact is one image read, with its layer count and, where the file holds manifests that
    name them, its first compressed digest; and choosing a platform gives one of its facts."""
    assert len(images) == len(row.facts), images
    for fact in row.facts:
        (held,) = [image for image in images if matches(image, fact)]
        assert len(held.diff_ids) == fact.layers
        if held.layer_digests is not None:
            assert len(held.layer_digests) == len(held.diff_ids)
            if fact.compressed:
                assert held.layer_digests[0][7:19] == fact.compressed
        elif fact.compressed:
            # A legacy save's gzip'd `<id>/layer.tar` has a compressed digest only its bytes can
            # tell, and layers are never read; every other format names it.
            assert row.format == "docker-save-legacy" or row.expect == "inconsistent", held
    for platform in {fact.platform for fact in row.facts}:
        chosen = choose(images, platform, row.file)
        assert any(matches(chosen, fact) for fact in row.facts if fact.platform == platform)


@pytest.mark.parametrize("row", ROWS, ids=[row.file for row in ROWS])
def test_a_real_file(row):
    path = location(row.file)
    if row.expect == "valid":
        check_against(read_local(str(path), io.BytesIO()), row)
    elif row.expect == "broken":
        with pytest.raises(InputProblem) as raised:
            read_local(str(path), io.BytesIO())
        assert "\n" not in str(raised.value)
        assert str(path) in str(raised.value)
    else:
        try:
            images = read_local(str(path), io.BytesIO())
        except InputProblem as problem:
            refused = str(problem)
            assert "\n" not in refused
        else:
            check_against(images, row)


@pytest.mark.parametrize(
    "row", [row for row in ROWS if not (IMAGES / row.file).is_dir()], ids=lambda row: row.file
)
def test_a_real_file_on_standard_input(row):
    """The same answers when the file is piped (`docker save x | scrapy detect -`)."""
    path = location(row.file)
    try:
        from_file = read_local(str(path), io.BytesIO())
    except InputProblem:
        from_file = None
    if from_file is None:
        with pytest.raises(InputProblem):
            read_local("-", io.BytesIO(path.read_bytes()))
    else:
        assert read_local("-", io.BytesIO(path.read_bytes())) == from_file

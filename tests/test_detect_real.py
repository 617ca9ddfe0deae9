"""`scrapy detect FILE --json` on every image file real tools wrote (SOURCES.md): a valid one
answers with its image ID and layer count (exit 1 here: there is no store), a broken one is one
line on stderr and exit 2, never a traceback; a damaged one ("inconsistent") either."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.helpers import run_command
from tests.test_held_real import ROWS, Fact, Row, location

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def runs(row: Row) -> list[tuple[str | None, Fact | None]]:
    """The --platform to give and the facts to expect: once per platform of a multi-platform
    file; once for any other, expecting its top image (a save of an image and the one it was
    built on answers for the one with the most layers)."""
    if len({fact.platform for fact in row.facts}) > 1:
        return [(fact.platform, fact) for fact in row.facts]
    return [(None, max(row.facts, key=lambda fact: fact.layers) if row.facts else None)]


RUNS = [(row, platform, fact) for row in ROWS for platform, fact in runs(row)]


@pytest.mark.parametrize(
    ("row", "platform", "fact"), RUNS, ids=[f"{row.file}-{platform or 'only'}" for row, platform, _ in RUNS]
)
def test_detect_answers_or_refuses_a_real_file_in_one_line(
    row: Row, platform: str | None, fact: Fact | None, tmp_path: Path
) -> None:
    result = run_command(
        tmp_path, "detect", str(location(row.file)), "--json", *(["--platform", platform] if platform else [])
    )
    assert "Traceback" not in result.stderr
    if row.expect == "broken" or (row.expect == "inconsistent" and result.returncode == 2):
        assert result.returncode == 2
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("Error: ")
        return
    assert fact is not None
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["image_id"].removeprefix("sha256:")[:12] == fact.image_id
    assert answer["layers"] == fact.layers
    assert answer["platform"] == fact.platform
    assert answer["bases"] == []

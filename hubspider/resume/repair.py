"""The feed files of earlier runs: cut to whole lines, and the records they already hold.

A kill can leave a record half written at the end of a JSON Lines or CSV feed; the resumed
run appends after it, so the broken line goes first. The records the files hold are not
exported again (DedupePipeline), and are stored again (StorePipeline), since the store may
lag behind the export.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from hubspider.records import record_key
from hubspider.resume.entries import cut_partial_line

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from hubspider.resume.entries import Run

# Feed formats whose files can be cut to whole lines and appended to.
REPAIRABLE_FORMATS = frozenset({"jsonlines", "jsonl", "csv"})
JSON_LINES_FORMATS = frozenset({"jsonlines", "jsonl"})


@dataclass(slots=True)
class Repair:
    """What the repair of earlier feeds did, and found."""

    # (path, bytes cut) of each feed whose last line was broken.
    cut: list[tuple[str, int]] = field(default_factory=list)
    # `record_key` of every record the feeds hold.
    keys: set[bytes] = field(default_factory=set)


def earlier_feeds(runs: list[Run], formats: Collection[str]) -> list[str]:
    """The local feed files of these runs in these formats that exist, each once."""
    paths = [feed.path for run in runs for feed in run.feeds if feed.format in formats]
    return [path for path in dict.fromkeys(paths) if Path(path).exists()]


def repair_feeds(runs: list[Run]) -> Repair:
    """Cut each earlier feed that can be appended to after its last whole line, and read its records."""
    repair = Repair()
    formats = {feed.path: feed.format for run in runs for feed in run.feeds}
    for path in earlier_feeds(runs, REPAIRABLE_FORMATS):
        if cut := cut_partial_line(Path(path)):
            repair.cut.append((path, cut))
        repair.keys.update(record_keys(Path(path), formats[path]))
    return repair


def record_keys(path: Path, feed_format: str) -> Iterator[bytes]:
    """The `record_key` of each record of a JSON Lines or CSV feed."""
    with path.open(encoding="utf-8", newline="") as file:
        if feed_format == "csv":
            for row in csv.DictReader(file):
                yield record_key(row)
        else:
            for line in file:
                yield record_key(orjson.loads(line))

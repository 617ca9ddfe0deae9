"""The journal file: one JSON line per entry, each a run, a page done, or data lost.

    {"run": {"started_at": "2026-11-22T06:00:00Z", "arguments": {...}, "feeds": [{"path", "format"}]}}
    {"done": {continuation}, "then": [{continuation}, ...], "results": 100, "count": 437}
    {"lost": {"kind": "page", "what": URL, "reason": ..., "page": URL or null}}

A page's line may also hold "repositories" (a repository listing page: the names it gave).
Only whole lines count: a kill in the middle of a write leaves a cut last line, which is
dropped from the file before it is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hubspider.planning import Continuation, Loss, PageDone

JOURNAL_FILE = "hubspider-journal.jsonl"


@dataclass(frozen=True, slots=True)
class FeedFile:
    """A local feed file a run wrote, by resolved path, and its format (Scrapy's name)."""

    path: str
    format: str


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a crawl: the crawl's `seen_at`, what makes it that crawl, and its feeds."""

    started_at: str
    arguments: dict[str, Any]
    feeds: list[FeedFile]


@dataclass(slots=True)
class Journal:
    """What a journal file holds, by kind, each in the order it was written."""

    runs: list[Run] = field(default_factory=list)
    pages: list[PageDone] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)


def journal_path(jobdir: str | Path) -> Path:
    return Path(jobdir) / JOURNAL_FILE


def read_journal(path: Path) -> Journal:
    """The journal's entries (none if there is no file); a line cut short by a kill is
    dropped from the file."""
    journal = Journal()
    if not path.exists():
        return journal
    cut_partial_line(path)
    with path.open("rb") as file:
        for line in file:
            if line.strip():
                _add_entry(journal, orjson.loads(line))
    return journal


def _add_entry(journal: Journal, entry: dict[str, Any]) -> None:
    """One decoded line into `journal`; a kind this code does not know is left alone."""
    if "run" in entry:
        run = entry["run"]
        feeds = [FeedFile(feed["path"], feed["format"]) for feed in run["feeds"]]
        journal.runs.append(Run(run["started_at"], run["arguments"], feeds))
    elif "done" in entry:
        journal.pages.append(
            PageDone(
                Continuation(**entry["done"]),
                [Continuation(**then) for then in entry["then"]],
                entry["results"],
                entry["count"],
                entry.get("repositories"),
            )
        )
    elif "lost" in entry:
        journal.losses.append(Loss(**entry["lost"]))


def encode_run(run: Run) -> bytes:
    return _line({"run": run})


def encode_page(page: PageDone) -> bytes:
    entry: dict[str, Any] = {
        "done": page.continuation,
        "then": page.then,
        "results": page.results,
        "count": page.count,
    }
    if page.repositories is not None:
        entry["repositories"] = page.repositories
    return _line(entry)


def encode_loss(loss: Loss) -> bytes:
    return _line({"lost": loss})


def _line(entry: dict[str, Any]) -> bytes:
    # orjson writes dataclasses as objects of their fields.
    return orjson.dumps(entry) + b"\n"


def cut_partial_line(path: Path) -> int:
    """Cut the file after its last newline; returns how many bytes were cut."""
    with path.open("rb+") as file:
        size = end = file.seek(0, os.SEEK_END)
        while end > 0:
            start = max(end - 65536, 0)
            file.seek(start)
            newline = file.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        file.truncate(end)
    return size - end

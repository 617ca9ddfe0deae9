"""`scrapy import digests.jsonl layers.jsonl`: put JSON Lines exports into the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hubspider.cli import StoreCommand, fail
from hubspider.store import import_jsonl

if TYPE_CHECKING:
    import argparse

EXIT_INVALID = 1


class Command(StoreCommand):
    def syntax(self) -> str:
        return "FILE.jsonl [FILE.jsonl ...]"

    def short_desc(self) -> str:
        return "Import JSON Lines exports (digest records, image records) into the store"

    def run_on_store(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            fail("give one or more JSON Lines exports, e.g. scrapy import digests.jsonl")
        missing = [name for name in args if not Path(name).is_file()]
        if missing:
            fail(f"no such file: {missing[0]}")
        invalid = 0
        with self.open_store(opts, read_only=False) as store:
            for name in args:
                try:
                    imported, rejected = import_jsonl(store, Path(name), report=_report_invalid)
                except OSError as error:
                    fail(f"cannot read {name}: {error.strerror or error}")
                invalid += rejected
                print(
                    f"{name}: imported {imported} records"
                    + (f", {rejected} invalid lines" if rejected else "")
                )
        if invalid:
            print(f"Error: {invalid} lines were not records and were not imported", file=sys.stderr)
            self.exitcode = EXIT_INVALID


# A reason quotes what it rejects, and a line can be 64 KiB: one line on a terminal is enough.
MAX_REASON = 200


def _report_invalid(path: Path, number: int, problem: str) -> None:
    print(f"{path}:{number}: {one_line(problem)}", file=sys.stderr)


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """`text` on one line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

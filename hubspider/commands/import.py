"""`scrapy import digests.jsonl`: put a JSON Lines export into the store."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

from hubspider.items import DigestRecord
from hubspider.store import TagSeen, tag_target
from hubspider.store_command import StoreCommand, fail

if TYPE_CHECKING:
    import argparse

    from hubspider.store import Store

EXIT_INVALID = 1
BATCH = 5_000


class Command(StoreCommand):
    def syntax(self) -> str:
        return "FILE.jsonl [FILE.jsonl ...]"

    def short_desc(self) -> str:
        return "Import JSON Lines exports of digest records into the store"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            fail("give one or more JSON Lines exports, e.g. scrapy import digests.jsonl")
        missing = [name for name in args if not Path(name).is_file()]
        if missing:
            fail(f"no such file: {missing[0]}")
        store = self.open_store(opts)
        invalid = 0
        for name in args:
            imported, rejected = import_file(store, Path(name))
            invalid += rejected
            print(
                f"{name}: imported {imported} records" + (f", {rejected} invalid lines" if rejected else "")
            )
        if invalid:
            print(f"Error: {invalid} lines were not digest records and were not imported", file=sys.stderr)
            self.exitcode = EXIT_INVALID


def import_file(store: Store, path: Path) -> tuple[int, int]:
    """Records are stored with the `seen_at` they carry, a batch at a time."""
    validate = fastjsonschema.compile(DigestRecord.jsonschema)
    imported = rejected = 0
    batch: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            try:
                record = validate(json.loads(line))
            except (ValueError, fastjsonschema.JsonSchemaException) as error:
                rejected += 1
                print(f"{path}:{number}: not a digest record: {error}", file=sys.stderr)
                continue
            batch.append(record)
            if len(batch) >= BATCH:
                imported += _store_batch(store, batch)
                batch = []
    return imported + _store_batch(store, batch), rejected


def _store_batch(store: Store, records: list[dict[str, Any]]) -> int:
    by_time = defaultdict(list)
    for record in records:
        by_time[record["seen_at"]].append(record)
    for seen_at, group in by_time.items():
        tags = []
        for (namespace, repository, tag), members in groupby(sorted(group, key=_image), key=_image):
            tag_records = list(members)
            target = tag_target(tag_records[0]["tag_digest"], (record["digest"] for record in tag_records))
            tags.append(TagSeen(namespace, repository, tag, target, None))
        store.add(group, tags, seen_at)
    return len(records)


def _image(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record["namespace"], record["repository"], record["tag"])

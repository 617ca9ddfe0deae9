"""Putting a JSON Lines export into the store: each record with the `seen_at` it carries, and
every line that is not a digest record named and skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import fastjsonschema
import orjson

from hubspider.records import TagSeen, tag_target
from hubspider.schemas import load_schema
from hubspider.store.opening import store_errors

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import BinaryIO

    from hubspider.store.writes import StoreWrites

IMPORT_BATCH = 5_000

# Far above any real record (about 700 bytes): a longer line is refused without being parsed.
MAX_LINE_BYTES = 64 * 1024


@store_errors
def import_jsonl(store: StoreWrites, path: Path, report: Callable[[Path, int, str], None]) -> tuple[int, int]:
    """Store the records of a JSON Lines export with the `seen_at` each carries; lines
    that are not digest records are reported and counted, not stored."""
    validate = fastjsonschema.compile(load_schema("digest_record.json"))
    imported = rejected = 0
    batch: list[dict[str, Any]] = []
    with path.open("rb") as file:
        for number, line in numbered_lines(file):
            try:
                record = parse_record(line, validate)
            except ValueError as error:
                rejected += 1
                report(path, number, str(error))
                continue
            # A tag's records are written together; a batch never splits them.
            if len(batch) >= IMPORT_BATCH and _image(record) != _image(batch[-1]):
                imported += _import_batch(store, batch)
                batch = []
            batch.append(record)
    return imported + _import_batch(store, batch), rejected


def _import_batch(store: StoreWrites, records: list[dict[str, Any]]) -> int:
    by_time: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_time.setdefault(record["seen_at"], []).append(record)
    with store.transaction():
        for seen_at, group in by_time.items():
            targets: dict[tuple[str, str, str], tuple[str | None, list[str]]] = {}
            for record in group:
                targets.setdefault(_image(record), (record["tag_digest"], []))[1].append(record["digest"])
            tags = [TagSeen(*image, tag_target(*target), None) for image, target in targets.items()]
            store.add(group, tags, seen_at)
    return len(records)


def numbered_lines(file: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """Each line of a file with its number from 1; None for a line longer than `limit` bytes,
    which is skipped in pieces, never held in memory whole."""
    number = 0
    while line := file.readline(limit + 1):
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := file.readline(limit)) and not rest.endswith(b"\n"):
            pass
        yield number, None


def parse_record(line: bytes | None, validate: Callable[[Any], Any]) -> dict[str, Any]:
    """One line of an export (None: too long) as a digest record; ValueError saying why it is not one."""
    if line is None:
        raise ValueError(f"line longer than {MAX_LINE_BYTES // 1024} KiB")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1})") from None
    try:
        # orjson: its nesting limit (1024) answers a line of "[[[[" without a RecursionError.
        return validate(orjson.loads(text))
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    except fastjsonschema.JsonSchemaValueException as error:
        raise ValueError(error.message) from None


def _image(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record["namespace"], record["repository"], record["tag"])

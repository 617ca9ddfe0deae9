"""Putting a JSON Lines export into the store: each record (a digest record, or an image record
of a `layers` crawl) with the `seen_at` it carries, and every line that is neither named and
skipped."""

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

    from hubspider.store.store import Store

IMPORT_BATCH = 5_000

# Far above any real record (about 700 bytes): a longer line is refused without being parsed.
MAX_LINE_BYTES = 64 * 1024
# An image record carries its whole build history, whose steps can be long shell scripts.
MAX_IMAGE_LINE_BYTES = 4 * 1024 * 1024
IMAGE_BATCH = 500


@store_errors
def import_jsonl(store: Store, path: Path, report: Callable[[Path, int, str], None]) -> tuple[int, int]:
    """Store the records of a JSON Lines export with the `seen_at` each carries; lines
    that are not records are reported and counted, not stored."""
    validate = fastjsonschema.compile(load_schema("digest_record.json"))
    validate_image = fastjsonschema.compile(load_schema("image_record.json"))
    imported = rejected = 0
    batch: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    with path.open("rb") as file:
        for number, line in numbered_lines(file, MAX_IMAGE_LINE_BYTES):
            try:
                record, is_image = parse_line(line, validate, validate_image)
            except ValueError as error:
                rejected += 1
                report(path, number, str(error))
                continue
            if is_image:
                images.append(record)
                if len(images) >= IMAGE_BATCH:
                    imported += _import_images(store, images)
                    images = []
                continue
            # A tag's records are written together; a batch never splits them.
            if len(batch) >= IMPORT_BATCH and _image(record) != _image(batch[-1]):
                imported += _import_batch(store, batch)
                batch = []
            batch.append(record)
    return imported + _import_batch(store, batch) + _import_images(store, images), rejected


def _import_images(store: Store, records: list[dict[str, Any]]) -> int:
    by_time: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_time.setdefault(record["seen_at"], []).append(record)
    for seen_at, group in by_time.items():
        store.add_images(group, seen_at)
    return len(records)


def _import_batch(store: Store, records: list[dict[str, Any]]) -> int:
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
    if line is None or len(line) > MAX_LINE_BYTES:
        raise ValueError(f"line longer than {MAX_LINE_BYTES // 1024} KiB")
    return _validated(_json(line), validate)


def parse_line(
    line: bytes | None, validate: Callable[[Any], Any], validate_image: Callable[[Any], Any]
) -> tuple[dict[str, Any], bool]:
    """One line of an export as an image record (it has an `image_id`: the record, True) or a
    digest record (False); ValueError saying which it is not, and why."""
    too_long = f"line longer than {MAX_LINE_BYTES // 1024} KiB"
    if line is None:
        raise ValueError(
            f"not a digest record: {too_long} ({MAX_IMAGE_LINE_BYTES // 1024} KiB for an image record)"
        )
    # Only an image record may be longer: a digest record's line is refused without being parsed.
    if len(line) > MAX_LINE_BYTES and b'"image_id"' not in line:
        raise ValueError(f"not a digest record: {too_long}")
    try:
        value = _json(line)
    except ValueError as error:
        raise ValueError(f"not a digest record: {error}") from None
    if isinstance(value, dict) and "image_id" in value:
        try:
            return _validated(value, validate_image), True
        except ValueError as error:
            raise ValueError(f"not an image record: {error}") from None
    try:
        if len(line) > MAX_LINE_BYTES:
            raise ValueError(too_long)
        return _validated(value, validate), False
    except ValueError as error:
        raise ValueError(f"not a digest record: {error}") from None


def _json(line: bytes) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1})") from None
    try:
        # orjson: its nesting limit (1024) answers a line of "[[[[" without a RecursionError.
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None


def _validated(value: Any, validate: Callable[[Any], Any]) -> dict[str, Any]:
    try:
        return validate(value)
    except fastjsonschema.JsonSchemaValueException as error:
        raise ValueError(error.message) from None


def _image(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record["namespace"], record["repository"], record["tag"])

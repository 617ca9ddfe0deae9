"""What the crawl and its store writer process say to each other, and when the writer commits.

Both ways, a message is a frame: its length in 4 bytes (big-endian), then orjson. The crawl
sends pages and earlier exports to import, each with a sequence number; the writer answers
with the last sequence number it has committed, what it imported, the error that stopped
it, and, last, what it used (`exit`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from hubspider.items import DigestRecords

HEADER = struct.Struct(">I")

# Far above a page of 100 tags (about 300 KB): a longer frame is a broken stream.
MAX_FRAME = 256 * 1024 * 1024

# The writer commits after this many pages, or this long after the first uncommitted one:
# a commit rewrites every B-tree page the transaction touched, so fewer commits cost less,
# while the journal waits for them to count a page done.
COMMIT_PAGES = 100
COMMIT_SECONDS = 1.0


class ProtocolError(Exception):
    """A stream that is not frames."""


def frame(message: dict[str, Any]) -> bytes:
    payload = orjson.dumps(message)
    return HEADER.pack(len(payload)) + payload


def frame_size(header: bytes | bytearray) -> int:
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes, more than {MAX_FRAME}")
    return int(size)


def page_message(sequence: int, item: DigestRecords) -> dict[str, Any]:
    return {
        "seq": sequence,
        "namespace": item.namespace,
        "repository": item.repository,
        "records": item.records,
        "tags": item.tags,
        "unchanged_rest": item.unchanged_rest,
        "completes": item.completes,
    }


def import_message(sequence: int, path: str) -> dict[str, Any]:
    return {"seq": sequence, "import": path}


class FrameDecoder:
    """The messages in a byte stream, however its reads cut it."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self.buffer += data
        messages = []
        start = 0
        while len(self.buffer) - start >= HEADER.size:
            size = frame_size(self.buffer[start : start + HEADER.size])
            end = start + HEADER.size + size
            if len(self.buffer) < end:
                break
            messages.append(orjson.loads(self.buffer[start + HEADER.size : end]))
            start = end
        del self.buffer[:start]
        return messages


@dataclass(slots=True)
class CommitPolicy:
    """When the writer commits: after `pages` pages, or `seconds` after the first uncommitted one."""

    pages: int = COMMIT_PAGES
    seconds: float = COMMIT_SECONDS
    pending: int = 0
    first_at: float = 0.0

    def added(self, now: float) -> None:
        if not self.pending:
            self.first_at = now
        self.pending += 1

    def due(self, now: float) -> bool:
        return self.pending >= self.pages or (self.pending > 0 and now - self.first_at >= self.seconds)

    def wait(self, now: float) -> float | None:
        """How long to wait for more input before a commit is due; None: nothing to commit."""
        if not self.pending:
            return None
        return max(0.0, self.first_at + self.seconds - now)

    def committed(self) -> None:
        self.pending = 0

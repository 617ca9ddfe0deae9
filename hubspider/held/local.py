"""What `scrapy detect INPUT` reads when INPUT is not a registry reference: `-` (standard input),
a directory, or a file; a file is inspect JSON when it starts like JSON, else an archive."""

from __future__ import annotations

import io
import os
import stat
from typing import TYPE_CHECKING, BinaryIO

from hubspider.held.archive import read_archive, read_members
from hubspider.held.inspect import read_inspect
from hubspider.held.members import problem, stream_members

if TYPE_CHECKING:
    from hubspider.held.image import HeldImage

STDIN = "-"
STDIN_NAME = "standard input"
# `docker image inspect` of every image on a machine is a few MB; past this it is not inspect output.
MAX_INSPECT_BYTES = 64 * 1024 * 1024
# Enough to tell JSON from a tar: a tar header is 512 bytes, JSON may open with blank lines.
SNIFF_BYTES = 4096
JSON_STARTS = (b"{", b"[")
UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def looks_like_json(head: bytes) -> bool:
    """Whether `head` opens a JSON document. Windows PowerShell's `>` writes UTF-16 with a byte
    order mark, which `json.loads` reads too; some editors put a UTF-8 one."""
    for bom, codec in UTF16_BOMS:
        if head.startswith(bom):
            return head[len(bom) : len(bom) + 512].decode(codec, "ignore").lstrip().startswith(("{", "["))
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(JSON_STARTS)


class _Prefixed(io.RawIOBase):
    """The bytes already read from a pipe, then the rest of it: a pipe cannot seek back."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_stream(stream: BinaryIO, source: str) -> list[HeldImage]:
    """Inspect JSON, or a tar stream (`docker save x | scrapy detect -`), read once."""
    try:
        head = stream.read(SNIFF_BYTES)
    except OSError as error:
        raise problem(f"cannot read {source}: {error.strerror or error}") from None
    if not head:
        raise problem(f"{source} is empty: give docker image inspect output or a docker save tar")
    if looks_like_json(head):
        try:
            data = head + stream.read(MAX_INSPECT_BYTES + 1 - len(head))
        except OSError as error:
            raise problem(f"cannot read {source}: {error.strerror or error}") from None
        if len(data) > MAX_INSPECT_BYTES:
            raise problem(
                f"{source} is more than {MAX_INSPECT_BYTES // 2**20} MiB of JSON: not inspect output"
            )
        return read_inspect(data, source)
    with io.BufferedReader(_Prefixed(head, stream)) as whole:
        return read_members(stream_members(whole, source))


def read_local(argument: str, stdin: BinaryIO) -> list[HeldImage]:
    """Every image `argument` holds: `-` for `stdin`, an OCI layout directory, a tar or JSON file."""
    if argument == STDIN:
        return read_stream(stdin, STDIN_NAME)
    try:
        mode = os.stat(argument).st_mode
    except FileNotFoundError:
        raise problem(f"no such file or directory: {argument}") from None
    except OSError as error:
        raise problem(f"cannot read {argument}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        return read_archive(argument)
    try:
        with open(argument, "rb") as file:
            # A pipe (`<(docker save x)`) cannot seek: read it as stdin is read.
            if not stat.S_ISREG(mode):
                return read_stream(file, argument)
            head = file.read(SNIFF_BYTES)
            if looks_like_json(head):
                if os.fstat(file.fileno()).st_size > MAX_INSPECT_BYTES:
                    raise problem(
                        f"{argument} is more than {MAX_INSPECT_BYTES // 2**20} MiB of JSON: "
                        "not inspect output"
                    )
                return read_inspect(head + file.read(), argument)
    except OSError as error:
        raise problem(f"cannot read {argument}: {error.strerror or error}") from None
    return read_archive(argument)

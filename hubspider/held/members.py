"""The files of an image archive, seen the same way whether they sit in a tar, a directory or a
tar stream: normalized names, links followed, macOS junk left out, and only small metadata files
ever read. A layer is never read: a 5 GB save is answered from member headers and a few KB."""

from __future__ import annotations

import gzip
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, Literal

from hubspider.held.image import InputProblem
from hubspider.registry.content import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Files read whole wherever they are: what names the images of a save or layout.
TOP_FILES = ("index.json", "manifest.json", "oci-layout", "repositories")
# Links pointing at links: real saves use one hop; a loop must end.
MAX_LINK_HOPS = 16
# A tar stream cannot be read twice, so its metadata is kept in memory: this much at most.
MAX_STREAM_METADATA = 64 * 1024 * 1024
# Everything a damaged or foreign archive raises while it is listed or read.
READ_ERRORS = (
    tarfile.TarError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    ValueError,
)
# What `docker load` unwraps around a tar; the first bytes tell, not the file name.
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def one_line(text: str) -> str:
    """A message that stays one line whatever file names it quotes."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def problem(text: str) -> InputProblem:
    return InputProblem(one_line(text))


def short(digest: str) -> str:
    """`sha256:ab12…` cut to 12 hex digits, as docker shows IDs."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}…" if len(hexpart) > 12 else digest


def normalize(name: str) -> str | None:
    """The member name without `./` or a leading `/`; None for the archive root itself."""
    name = posixpath.normpath("/" + name.replace("\\", "/")).lstrip("/")
    return name or None


def is_junk(name: str) -> bool:
    """Finder's `.DS_Store`, AppleDouble `._x` twins and `__MACOSX/`: never part of an image."""
    base = posixpath.basename(name)
    return base == ".DS_Store" or base.startswith("._") or name.split("/", 1)[0] == "__MACOSX"


class Members:
    """The files of an archive by name. `read` returns None for a file that is not there."""

    source: str
    #: A tar that stops without its end-of-archive blocks: tarfile takes a cut at a member
    #: boundary for the end, so a file missing from it may have been cut off.
    truncated: bool = False

    def names(self) -> frozenset[str]:
        raise NotImplementedError

    def read(self, name: str, limit: int, what: str) -> bytes | None:
        raise NotImplementedError

    def refuse_size(self, name: str, size: int, limit: int, what: str) -> InputProblem:
        return problem(f"{self.source}: {name} is {size} bytes, more than a {what} may be ({limit}): refused")


def link_target(name: str, info: tarfile.TarInfo) -> str | None:
    """The member a link member `name` points to; None for another kind of member, or a link to
    the archive root. A symlink is relative to its folder, a hard link to the archive."""
    if info.issym():
        return normalize(posixpath.join(posixpath.dirname(name), info.linkname))
    if info.islnk():
        return normalize(info.linkname)
    return None


def ended(tar: tarfile.TarFile) -> bool:
    """Whether the tar just listed ends as tars do, with two zero blocks: tarfile has read the
    first one when it stops listing."""
    fileobj = tar.fileobj
    if fileobj is None:
        return True
    try:
        if fileobj.tell() - tar.offset != tarfile.BLOCKSIZE:
            return False
        rest = fileobj.read(tarfile.BLOCKSIZE)
    except READ_ERRORS:
        return False
    return len(rest) == tarfile.BLOCKSIZE and not any(rest)


class TarMembers(Members):
    """A tar opened for random access: listing it reads 512-byte headers and seeks past data."""

    def __init__(self, tar: tarfile.TarFile, source: str) -> None:
        self.source = source
        self._tar = tar
        self._infos: dict[str, tarfile.TarInfo] = {}
        for info in tar.getmembers():
            name = normalize(info.name)
            if name is not None and not is_junk(name) and not info.isdir():
                self._infos[name] = info
        self.truncated = not ended(tar)

    def names(self) -> frozenset[str]:
        return frozenset(self._infos)

    def _resolve(self, name: str) -> tarfile.TarInfo | None:
        for _ in range(MAX_LINK_HOPS):
            info = self._infos.get(name)
            if info is None or info.isfile():
                return info
            target = link_target(name, info)
            if target is None:
                return None
            name = target
        return None

    def read(self, name: str, limit: int, what: str) -> bytes | None:
        info = self._resolve(name)
        if info is None:
            return None
        if info.size > limit:
            raise self.refuse_size(name, info.size, limit, what)
        try:
            extracted = self._tar.extractfile(info)
            body = extracted.read() if extracted is not None else None
        except READ_ERRORS as error:
            raise problem(f"{self.source}: cannot read {name}: {error or type(error).__name__}") from None
        if body is None or len(body) != info.size:
            raise problem(f"{self.source}: {name} is cut short: the tar is truncated")
        return body


class DirMembers(Members):
    """An OCI image layout as a directory (skopeo `oci:`, buildx `type=oci,tar=false`)."""

    def __init__(self, root: str, source: str) -> None:
        self.source = source
        self._root = os.path.realpath(root)
        found: set[str] = set()
        for folder, _, files in os.walk(self._root, onerror=self._walk_error):
            relative = os.path.relpath(folder, self._root)
            for file in files:
                name = normalize(file if relative == "." else f"{relative}/{file}")
                if name is not None and not is_junk(name):
                    found.add(name)
        self._names = frozenset(found)

    def _walk_error(self, error: OSError) -> None:
        raise problem(f"cannot read {self.source}: {error.strerror or error}")

    def names(self) -> frozenset[str]:
        return self._names

    def read(self, name: str, limit: int, what: str) -> bytes | None:
        if name not in self._names:
            return None
        path = os.path.realpath(os.path.join(self._root, *name.split("/")))
        # A link out of the layout is not part of it.
        if os.path.commonpath((path, self._root)) != self._root:
            return None
        try:
            with open(path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size > limit:
                    raise self.refuse_size(name, size, limit, what)
                return file.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise problem(f"cannot read {self.source}/{name}: {error.strerror or error}") from None


class StreamMembers(Members):
    """A tar read once from a pipe (`docker save x | scrapy detect -`): what can be metadata is
    kept in memory (the top files, and small files that start like JSON: configs, manifests,
    indexes, v1 `json`), bounded by MAX_STREAM_METADATA; layers are skipped unread."""

    def __init__(self, stream: BinaryIO, source: str) -> None:
        self.source = source
        self._kept: dict[str, bytes] = {}
        self._links: dict[str, str] = {}
        found: set[str] = set()
        total = 0
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for info in tar:
                name = normalize(info.name)
                if name is None or is_junk(name) or info.isdir():
                    continue
                found.add(name)
                if info.issym() or info.islnk():
                    if (target := link_target(name, info)) is not None:
                        self._links[name] = target
                elif info.isfile() and (body := self._metadata(tar, info, name)) is not None:
                    total += len(body)
                    if total > MAX_STREAM_METADATA:
                        raise problem(
                            f"{source}: more than {MAX_STREAM_METADATA // 2**20} MiB of metadata in a tar "
                            "stream: save it to a file and give its path"
                        )
                    self._kept[name] = body
            self.truncated = not ended(tar)
        self._names = frozenset(found)

    @staticmethod
    def _metadata(tar: tarfile.TarFile, info: tarfile.TarInfo, name: str) -> bytes | None:
        limit = MAX_MANIFEST_BYTES if name in TOP_FILES else MAX_CONFIG_BYTES
        if info.size > limit:
            return None
        extracted = tar.extractfile(info)
        if extracted is None:
            return None
        head = extracted.read(min(info.size, 64))
        if name not in TOP_FILES and not head.lstrip().startswith(b"{"):
            return None
        body = head + extracted.read()
        return body if len(body) == info.size else None

    def names(self) -> frozenset[str]:
        return self._names

    def read(self, name: str, limit: int, what: str) -> bytes | None:
        for _ in range(MAX_LINK_HOPS):
            if name in self._kept:
                body = self._kept[name]
                if len(body) > limit:
                    raise self.refuse_size(name, len(body), limit, what)
                return body
            target = self._links.get(name)
            if target is None:
                return None
            name = target
        return None


def _compression(path: str, source: str) -> Literal["r:", "r:gz", "r:bz2", "r:xz"]:
    """The tarfile mode for the file's content: its first bytes say, never its name."""
    with open(path, "rb") as file:
        head = file.read(6)
    if not head:
        raise problem(f"{source} is empty (0 bytes): not an image")
    if head.startswith(ZSTD_MAGIC):
        raise problem(f"{source} is zstd-compressed: decompress it first (zstd -d)")
    if head.startswith(GZIP_MAGIC):
        return "r:gz"
    if head.startswith(BZIP2_MAGIC):
        return "r:bz2"
    if head.startswith(XZ_MAGIC):
        return "r:xz"
    return "r:"


def _open_error(path: str, error: OSError) -> InputProblem:
    if isinstance(error, FileNotFoundError):
        return problem(f"no such file or directory: {path}")
    return problem(f"cannot read {path}: {error.strerror or error}")


@contextmanager
def tar_members(path: str, source: str) -> Iterator[Members]:
    """Members of the tar at `path` (plain, gzip, bzip2 or xz around it); closed after use. A
    compressed tar is read in one pass, as a stream: seeking in it would decompress it again
    from the start for each member read."""
    try:
        mode = _compression(path, source)
        file = open(path, "rb")  # noqa: SIM115 (closed below, after the caller's use)
    except InputProblem:
        raise
    except (FileNotFoundError, PermissionError) as error:
        raise _open_error(path, error) from None
    except READ_ERRORS as error:
        raise _unreadable(source, error) from None
    with file:
        if mode != "r:":
            yield stream_members(file, source)
            return
        try:
            tar = tarfile.open(fileobj=file, mode=mode)  # noqa: SIM115 (its file is closed by the with block)
            members = TarMembers(tar, source)
        except READ_ERRORS as error:
            raise _unreadable(source, error) from None
        yield members


def _unreadable(source: str, error: BaseException) -> InputProblem:
    detail = str(error) or type(error).__name__
    if isinstance(error, EOFError) or "unexpected end" in detail:
        return problem(f"{source} is truncated: {detail}")
    if isinstance(error, tarfile.ReadError):
        return problem(f"{source} is not a tar file ({detail}): not an image")
    return problem(f"{source} cannot be read: {detail}")


def stream_members(stream: BinaryIO, source: str) -> StreamMembers:
    try:
        return StreamMembers(stream, source)
    except InputProblem:
        raise
    except READ_ERRORS as error:
        raise _unreadable(source, error) from None


def is_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False

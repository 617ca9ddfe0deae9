"""Opening the store file: its schema version, and SQLite's errors as one line for the user."""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from hubspider.store.schema import TABLES, VERSION, stored_version, table_names, upgrade

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType
    from typing import Self

logger = logging.getLogger(__name__)

# The README promises that another crawl or import writing the same store is waited for.
LOCK_TIMEOUT = 60.0

# 64 MiB: random inserts into the digest index touch many B-tree pages.
CACHE_KIB = 65536


class StoreError(Exception):
    """A store that cannot be used, said in one line that names its file: callers print it and stop."""


def store_problem(path: Path, error: sqlite3.Error, timeout: float = LOCK_TIMEOUT) -> str:
    """What SQLite's error means for the store file, in one line."""
    code = getattr(error, "sqlite_errorname", "")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(error):
        return f"store {path} is locked by another process (waited {timeout:g} s): try again when it is done"
    if code == "SQLITE_NOTADB":
        return f"store {path} is not a SQLite database"
    if code.startswith("SQLITE_CORRUPT"):
        return f"store {path} is damaged (truncated or overwritten): {error}"
    if code.startswith("SQLITE_CANTOPEN"):
        return f"cannot open store {path}: {error}"
    return f"store {path}: {error}"


def schema_problem(path: Path, tables: set[str], *, read_only: bool) -> str | None:
    """Why a file with these tables is not a store to use, or None. An empty database becomes a
    store when written to; one with tables of something else is never taken over."""
    if tables >= TABLES:
        return None
    if read_only:
        if not tables:
            return f"{path} holds no store: run a crawl or an import first"
        return f"{path} is not a hubspider store (it lacks the tables {', '.join(sorted(TABLES - tables))})"
    if tables and not tables & TABLES:
        return f"{path} is not a hubspider store (it has other tables: {', '.join(sorted(tables)[:5])})"
    return None


@contextmanager
def translated_errors(path: Path, timeout: float) -> Iterator[None]:
    """SQLite's errors as `StoreError`s naming the file: a locked, damaged or vanished store is
    one line for the user, not a traceback."""
    try:
        yield
    except sqlite3.Error as error:
        raise StoreError(store_problem(path, error, timeout)) from error


P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreFile")


def store_errors(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """A store method whose SQLite errors are `translated_errors`."""

    @functools.wraps(method)
    def translated(store: S, *args: P.args, **kwargs: P.kwargs) -> R:
        with translated_errors(store.path, store.timeout):
            return method(store, *args, **kwargs)

    return translated


class StoreFile:
    """The store file, opened for writing (a crawl, an import) or read-only (the queries), at
    the schema version this code writes.

    Raises `StoreError` with a one-line message when the file cannot be used: locked by
    another writer for longer than `timeout` seconds, not a SQLite database, damaged, not a
    store, of a newer schema version, or (read-only) missing. An older store is upgraded,
    also when opened read-only, if the file can be written: once, for every later use."""

    def __init__(
        self,
        path: str | Path,
        *,
        check_same_thread: bool = True,
        read_only: bool = False,
        timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.timeout = timeout
        self.check_same_thread = check_same_thread
        if read_only and not self.path.is_file():
            raise StoreError(f"no store at {self.path}: run a crawl or an import first")
        with translated_errors(self.path, timeout):
            self.db = self._connect()
            try:
                self._prepare()
            except BaseException:
                self.db.close()
                raise

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            # mode=ro: a query never creates or changes the file it is pointed at.
            target, uri = f"{self.path.resolve().as_uri()}?mode=ro", True
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create store {self.path}: {error.strerror or error}") from error
            target, uri = str(self.path), False
        # timeout: SQLite's busy handler waits this long for another writer of the same store.
        db = sqlite3.connect(
            target,
            timeout=self.timeout,
            isolation_level=None,
            check_same_thread=self.check_same_thread,
            uri=uri,
        )
        db.row_factory = sqlite3.Row
        return db

    def _prepare(self) -> None:
        tables = table_names(self.db)
        (user_version,) = self.db.execute("PRAGMA user_version").fetchone()
        version = stored_version(user_version, tables)
        # Checked first: a later version may have tables this one does not know.
        if version > VERSION and tables & TABLES:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this hubspider's "
                f"({VERSION}): use the hubspider that wrote it, or a later one"
            )
        problem = schema_problem(self.path, tables, read_only=self.read_only)
        if problem is not None:
            raise StoreError(problem)
        if self.read_only and version < VERSION:
            self._upgrade_in_place(version)
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        if self.read_only:
            return
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if version < VERSION:
            with self.transaction():
                found = upgrade(self.db)
            if found:
                # A migration that rebuilt tables (1 to 2) left their old pages free: give them back
                # to the file system, once. One that only added tables frees nothing, and a VACUUM
                # would rewrite a large store for no gain.
                (free_pages,) = self.db.execute("PRAGMA freelist_count").fetchone()
                if free_pages:
                    self.db.execute("VACUUM")
                logger.info("Upgraded the store %s from schema version %d to %d", self.path, found, VERSION)

    def _upgrade_in_place(self, version: int) -> None:
        """A query of an older store upgrades it, when it may, rather than answer from a layout
        this code no longer reads."""
        if not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            raise StoreError(
                f"store {self.path} has schema version {version}, older than this hubspider's ({VERSION}), "
                "and cannot be upgraded here (read-only): a crawl or an import upgrades it"
            )
        self.db.close()
        with StoreFile(self.path, timeout=self.timeout):
            pass
        self.db = self._connect()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def begin(self) -> None:
        """Start a write transaction. IMMEDIATE takes the write lock at once, waiting for another
        writer up to the timeout: a deferred one that reads first would fail at its first write,
        without waiting, whenever another writer committed after its read."""
        with translated_errors(self.path, self.timeout):
            self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        with translated_errors(self.path, self.timeout):
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self.rollback()
                raise

    def rollback(self) -> None:
        # SQLite ends the transaction itself after some errors (a full disk).
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (see `begin`), rolled back when its body fails."""
        self.begin()
        try:
            yield self.db
        except BaseException:
            with translated_errors(self.path, self.timeout):
                self.rollback()
            raise
        self.commit()

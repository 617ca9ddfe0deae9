"""The crawl's store writer, a process of its own, so that SQLite's work runs beside the crawl
rather than under its GIL:

    python -m hubspider.store.writer --seen-at 2026-11-22T06:00:00Z STORE

Its stdin is a socket on which the crawl sends frames (`protocol` says what they hold); it
answers on its stdout. The writer applies each page as it comes, commits as `CommitPolicy`
says, and answers each commit with the last sequence number it holds: the crawl counts a
page done only then. An error (a full disk, a store locked past the timeout) is sent back at once;
the writer then reads on, applying nothing, until the crawl closes its end. At the end of
its input it commits what it has, says what it used, and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubspider.records import TagSeen
from hubspider.store.importer import import_jsonl
from hubspider.store.opening import StoreError
from hubspider.store.protocol import CommitPolicy, FrameDecoder, frame
from hubspider.store.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

RECEIVE_BYTES = 1 << 20


class StoreWriter:
    """Serves one crawl, which sends on `source` and reads `answers`, into the store at `path`."""

    def __init__(
        self,
        source: socket.socket,
        answers: BinaryIO,
        path: Path,
        seen_at: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        policy: CommitPolicy | None = None,
    ) -> None:
        self.source = source
        self.answers = answers
        self.path = path
        self.seen_at = seen_at
        self.clock = clock
        self.policy = policy or CommitPolicy()
        self.decoder = FrameDecoder()
        # The sequence number of the last message applied.
        self.applied = 0
        self.crawl_gone = False

    def run(self) -> None:
        try:
            with Store(self.path) as store:
                self._serve(store)
        except Exception as error:  # whatever stops the writer is the crawl's to report
            self._reply({"error": describe(error)})
            self._read_to_the_end()
        self._reply({"exit": resource_usage()})

    def _serve(self, store: Store) -> None:
        while (messages := self._receive()) is not None:
            for message in messages:
                self._apply(store, message)
                self._commit_if_due(store)
            self._commit_if_due(store)
        self._commit(store)

    def _commit_if_due(self, store: Store) -> None:
        if self.policy.due(self.clock()):
            self._commit(store)

    def _receive(self) -> list[dict[str, Any]] | None:
        """The next messages: [] when a commit comes due first, None at the end of the input."""
        self.source.settimeout(self.policy.wait(self.clock()))
        try:
            data = self.source.recv(RECEIVE_BYTES)
        except (TimeoutError, BlockingIOError):  # a timeout of 0 makes the socket non-blocking
            return []
        return self.decoder.feed(data) if data else None

    def _apply(self, store: Store, message: dict[str, Any]) -> None:
        if "import" in message:
            self._commit(store)
            imported, _ = import_jsonl(store, Path(message["import"]), report=_ignore_invalid)
            self.applied = message["seq"]
            self._reply({"imported": imported, "path": message["import"]})
            self._reply({"committed": self.applied})
            return
        if not self.policy.pending:
            store.begin()
        namespace, repository = message["namespace"], message["repository"]
        store.add(message["records"], [TagSeen(**tag) for tag in message["tags"]], self.seen_at)
        if message["unchanged_rest"]:
            store.carry_forward(namespace, repository, self.seen_at)
        if message["completes"]:
            store.complete(namespace, repository, self.seen_at)
        self.policy.added(self.clock())
        self.applied = message["seq"]

    def _commit(self, store: Store) -> None:
        if not self.policy.pending:
            return
        store.commit()
        self.policy.committed()
        self._reply({"committed": self.applied})

    def _reply(self, message: dict[str, Any]) -> None:
        if self.crawl_gone:
            return
        try:
            self.answers.write(frame(message))
            self.answers.flush()
        except OSError:
            # The crawl was killed: what it sent is committed all the same; nobody hears of it.
            self.crawl_gone = True

    def _read_to_the_end(self) -> None:
        try:
            self.source.settimeout(None)
            while self.source.recv(RECEIVE_BYTES):
                pass
        except OSError:
            self.crawl_gone = True


def describe(error: Exception) -> str:
    return str(error) if isinstance(error, StoreError) else f"{type(error).__name__}: {error}"


def resource_usage() -> dict[str, float]:
    """This process's peak RSS and CPU time, for the crawl's stats."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return {"peak_rss_mb": usage.ru_maxrss / per_mb, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def _ignore_invalid(path: Path, number: int, problem: str) -> None:
    """An earlier run's export holds only records, and its broken last line was cut."""


def main(argv: list[str] | None = None) -> None:
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: stopping is the
    # crawl's to decide, and it ends this process by closing the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parser = argparse.ArgumentParser(prog="python -m hubspider.store.writer", description=__doc__)
    parser.add_argument("--seen-at", required=True, help="when the crawl started: its records' seen_at")
    parser.add_argument("store", type=Path)
    arguments = parser.parse_args(argv)
    # The answers keep the real stdout; anything else that prints goes to stderr, not into them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        with socket.socket(fileno=sys.stdin.fileno()) as source:
            StoreWriter(source, answers, arguments.store, arguments.seen_at).run()
    finally:
        # A crawl that is gone cannot take what is left in the buffer: the store has it all the same.
        with contextlib.suppress(OSError):
            answers.close()


if __name__ == "__main__":
    main()

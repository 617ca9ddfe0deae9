"""The crawl's side of the store writer process (`hubspider.store.writer`).

Pages go to the writer's stdin, a socket, from a thread of their own: sent from the event
loop, a page of 200 KB would move a socket buffer's worth at each turn of a loop that is busy
parsing, and the writer would starve while the crawl waited. The thread only sends (the
GIL is released while it does); the loop never blocks. The writer's answers come back on its
stdout, read by a second thread, and are handed to a listener in the loop's thread.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from hubspider.store.protocol import HEADER, frame, frame_size, import_message, page_message

if TYPE_CHECKING:
    from pathlib import Path

    from hubspider.items import DigestRecords

# What the crawl may queue for the writer before a page waits for room: about 70 pages. A
# queued page is its frame (orjson); one waiting in the pipelines holds its response, tags and
# records as Python objects, ten times as much, and so does every page behind it.
QUEUE_BYTES = 16 * 1024 * 1024


class WriterListener(Protocol):
    """What the crawl does with the writer's answers."""

    def committed(self, sequence: int) -> None: ...
    def imported(self, records: int, path: str) -> None: ...
    def failed(self, problem: str) -> None: ...
    def exited(self, usage: dict[str, float]) -> None: ...


class WriterProcess:
    """One writer process for one crawl, writing into the store at `path`."""

    def __init__(self, path: Path, seen_at: str, listener: WriterListener) -> None:
        self.path = path
        self.seen_at = seen_at
        self.listener = listener
        self.sent = 0
        # Frames for the sender thread; None ends the writer's input.
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.queued_bytes = 0
        self.room = asyncio.Event()
        # The writer's answers, from the reader thread; an int is its exit status, the last.
        self.answers: queue.SimpleQueue[dict[str, Any] | int] = queue.SimpleQueue()
        self.exited = False
        self.threads: list[threading.Thread] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hubspider.store.writer", "--seen-at", self.seen_at, str(self.path)],
                stdin=theirs.fileno(),
                stdout=subprocess.PIPE,
                # It imports hubspider as this process does, wherever it was started from.
                env=os.environ | {"PYTHONPATH": os.pathsep.join(path for path in sys.path if path)},
            )
        self.threads = [
            threading.Thread(target=self._send_frames, args=(ours, loop), name="hubspider-store-sender"),
            threading.Thread(target=self._read_answers, args=(loop,), name="hubspider-store-answers"),
        ]
        for thread in self.threads:
            thread.daemon = True
            thread.start()

    async def send_page(self, item: DigestRecords) -> int:
        """Queue a page, first waiting while the writer is far behind: the crawl's backpressure.
        Returns its sequence number, which `committed` will name. Nothing runs between the
        queuing and the return, so the caller notes the number before any answer can name it."""
        while self.queued_bytes >= QUEUE_BYTES:
            self.room.clear()
            await self.room.wait()
        self.sent += 1
        self._queue(frame(page_message(self.sent, item)))
        return self.sent

    def send_import(self, path: str) -> int:
        """Queue an earlier export to import."""
        self.sent += 1
        self._queue(frame(import_message(self.sent, path)))
        return self.sent

    def _queue(self, data: bytes) -> None:
        self.queued_bytes += len(data)
        self.frames.put(data)

    def close(self) -> None:
        """End the writer's input, wait for it to commit everything and exit, and hand over its
        last answers. It blocks, on purpose: Scrapy stops the reactor as soon as a second close
        (Ctrl-C while closing) sees the engine's slot closed, and a close that awaited here
        would be cut short, its pages committed but never journaled and its report never logged."""
        if not self.threads:
            return
        self.frames.put(None)
        for thread in self.threads:
            thread.join()
        self.threads = []
        self.deliver()

    def _send_frames(self, connection: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """In the sender thread: each frame to the writer, in order; then the end of its input."""
        writer_gone = False
        with connection:
            while (data := self.frames.get()) is not None:
                if not writer_gone:
                    try:
                        connection.sendall(data)
                    except OSError:
                        # Its answers, or its exit status, say why; what is queued goes nowhere.
                        writer_gone = True
                loop.call_soon_threadsafe(self._frame_sent, len(data))

    def _frame_sent(self, size: int) -> None:
        self.queued_bytes -= size
        if self.queued_bytes < QUEUE_BYTES:
            self.room.set()

    def _read_answers(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the reader thread: each answer, then the exit status, handed to the loop's thread."""
        assert self.process.stdout is not None
        with self.process.stdout as answers:
            while len(header := answers.read(HEADER.size)) == HEADER.size:
                body = answers.read(frame_size(header))
                self.answers.put(orjson.loads(body))
                loop.call_soon_threadsafe(self.deliver)
        self.answers.put(self.process.wait())
        loop.call_soon_threadsafe(self.deliver)

    def deliver(self) -> None:
        """Hand the answers that came to the listener, in the loop's thread."""
        while True:
            try:
                answer = self.answers.get_nowait()
            except queue.Empty:
                return
            if isinstance(answer, int):
                if not self.exited:
                    self.exited = True
                    how = status_text(answer)
                    self.listener.failed(f"the store writer process ended unexpectedly ({how})")
            elif self._dispatch(answer):
                self.exited = True

    def _dispatch(self, answer: dict[str, Any]) -> bool:
        """Hand an answer to the listener; whether it was the writer's last."""
        if "committed" in answer:
            self.listener.committed(answer["committed"])
        elif "imported" in answer:
            self.listener.imported(answer["imported"], answer["path"])
        elif "error" in answer:
            self.listener.failed(answer["error"])
        elif "exit" in answer:
            self.listener.exited(answer["exit"])
            return True
        return False


def status_text(status: int) -> str:
    """A process's exit status as `subprocess` gives it (negative: the signal that ended it)."""
    return f"killed by signal {-status}" if status < 0 else f"exit status {status}"

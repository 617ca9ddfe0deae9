"""The store writer: its frames, when it commits, and what it answers, served over a socket pair
in a thread (with a clock the test moves), then as the process the crawl starts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from hubspider.items import DigestRecords
from hubspider.records import TagSeen, tag_records, tag_target
from hubspider.store.process import WriterProcess, status_text
from hubspider.store.protocol import (
    HEADER,
    MAX_FRAME,
    CommitPolicy,
    FrameDecoder,
    ProtocolError,
    frame,
    import_message,
    page_message,
)
from hubspider.store.writer import StoreWriter
from tests.helpers import load_response, records_of

if TYPE_CHECKING:
    from pathlib import Path

SEEN_AT = "2026-11-01T00:00:00Z"


def alpine_page(repository: str = "alpine", completes: bool = False) -> DigestRecords:
    """The stored alpine tags page, as the pipelines hand it to the store."""
    records, tags = [], []
    for tag in load_response("tags_alpine.json")["results"]:
        found = tag_records(tag, "library", repository, SEEN_AT, Counter())
        records += found
        target = tag_target(tag.get("digest"), (record["digest"] for record in found))
        tags.append(TagSeen("library", repository, tag["name"], target, tag["last_updated"]))
    return DigestRecords("library", repository, "https://hub/tags", records, tags, completes=completes)


# Frames


def test_a_frame_is_its_length_then_orjson():
    assert frame({"committed": 7}) == HEADER.pack(15) + b'{"committed":7}'


def test_the_decoder_gives_each_message_however_the_stream_is_cut():
    messages = [{"committed": 1}, page_message(2, alpine_page()), {"exit": {"peak_rss_mb": 1.5}}]
    stream = b"".join(frame(message) for message in messages)
    expected = orjson.loads(orjson.dumps(messages))
    for cut in range(0, len(stream), 97):
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == expected
    decoder = FrameDecoder()
    assert [message for byte in range(len(stream)) for message in decoder.feed(stream[byte : byte + 1])] == (
        expected
    )


def test_a_frame_longer_than_any_page_is_a_broken_stream():
    with pytest.raises(ProtocolError, match="more than"):
        FrameDecoder().feed(HEADER.pack(MAX_FRAME + 1))


# When the writer commits


def test_the_policy_commits_after_so_many_pages():
    policy = CommitPolicy(pages=3, seconds=10)
    for _ in range(2):
        policy.added(0)
    assert not policy.due(0)
    policy.added(0)
    assert policy.due(0)
    policy.committed()
    assert not policy.due(0)


def test_the_policy_commits_so_long_after_the_first_uncommitted_page():
    policy = CommitPolicy(pages=100, seconds=1.0)
    assert policy.wait(5.0) is None  # nothing to commit: wait for input as long as it takes
    policy.added(5.0)
    policy.added(5.8)
    assert policy.wait(5.8) == pytest.approx(0.2)
    assert not policy.due(5.9)
    assert policy.due(6.0)
    assert policy.wait(7.0) == 0.0


# The writer, in a thread


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    """A StoreWriter serving in a thread: what the test sends, and what it answers."""

    path: Path
    policy: CommitPolicy
    clock: Clock = field(default_factory=Clock)
    sent: int = 0

    def __post_init__(self) -> None:
        self.pages, writer_pages = socket.socketpair()
        self.answers, writer_answers = socket.socketpair()
        writer = StoreWriter(
            writer_pages,
            writer_answers.makefile("wb"),
            self.path,
            SEEN_AT,
            clock=self.clock,
            policy=self.policy,
        )
        self.thread = threading.Thread(target=self._serve, args=(writer, writer_pages, writer_answers))
        self.thread.start()
        self.decoder = FrameDecoder()
        self.received: deque[dict[str, Any]] = deque()

    @staticmethod
    def _serve(writer: StoreWriter, *sockets: socket.socket) -> None:
        writer.run()
        for each in sockets:
            each.close()

    def send_page(self, item: DigestRecords | None = None) -> int:
        self.sent += 1
        self.pages.sendall(frame(page_message(self.sent, item or alpine_page())))
        return self.sent

    def send_import(self, path: Path) -> None:
        self.sent += 1
        self.pages.sendall(frame(import_message(self.sent, str(path))))

    def applied(self, pages: int) -> None:
        """Wait until the writer has applied this many pages that it has not committed."""
        deadline = time.monotonic() + 10
        while self.policy.pending < pages:
            assert time.monotonic() < deadline
            time.sleep(0.001)

    def answer(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The writer's next answer, or None when none came within `timeout` seconds."""
        while not self.received:
            self.answers.settimeout(timeout)
            try:
                data = self.answers.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            self.received.extend(self.decoder.feed(data))
        return self.received.popleft()

    def end(self) -> list[dict[str, Any]]:
        """Close the writer's input: its last answers, once it has exited."""
        self.pages.close()
        self.thread.join(timeout=30)
        answers = []
        while (answer := self.answer()) is not None:
            answers.append(answer)
        self.answers.close()
        return answers


@pytest.fixture
def serve(tmp_path):
    served: list[Served] = []

    def start(policy: CommitPolicy, path: Path | None = None) -> Served:
        served.append(Served(path or tmp_path / "store.sqlite3", policy))
        return served[-1]

    yield start
    for each in served:
        each.pages.close()
        each.thread.join(timeout=30)


def exit_usage(answers: list[dict[str, Any]]) -> dict[str, float]:
    assert list(answers[-1]) == ["exit"]
    return answers[-1]["exit"]


def test_the_writer_commits_every_so_many_pages_and_what_is_left_at_the_end(serve):
    served = serve(CommitPolicy(pages=3, seconds=1000))
    for _ in range(7):
        served.send_page()
    assert served.answer() == {"committed": 3}
    assert served.answer() == {"committed": 6}
    assert served.answer(timeout=0.3) is None
    last = served.end()
    assert last[0] == {"committed": 7}
    usage = exit_usage(last)
    assert usage["peak_rss_mb"] > 10
    assert usage["cpu_seconds"] > 0
    assert len(last) == 2


def test_the_writer_commits_a_second_after_the_first_uncommitted_page(serve):
    served = serve(CommitPolicy(pages=100, seconds=1.0))
    served.send_page()
    assert served.answer(timeout=0.3) is None  # the clock has not moved
    served.applied(1)
    served.clock.now = 0.5
    served.send_page()
    assert served.answer(timeout=0.3) is None
    served.applied(2)
    served.clock.now = 1.0
    served.send_page()
    assert served.answer() == {"committed": 3}


def test_the_writer_commits_when_the_time_is_up_though_no_page_comes(serve):
    served = serve(CommitPolicy(pages=100, seconds=1.0))
    served.send_page()
    served.applied(1)
    served.clock.now = 2.0
    # It waits for input no longer than the policy's second: it sees the clock then.
    assert served.answer(timeout=5) == {"committed": 1}


def test_what_the_writer_commits_is_in_the_store(serve, tmp_path):
    served = serve(CommitPolicy())
    served.send_page(alpine_page(completes=True))
    served.send_page(alpine_page("alpine-copy"))
    assert served.end()[0] == {"committed": 2}
    stored = records_of(tmp_path / "store.sqlite3")
    assert len(stored) == 2 * len(alpine_page().records)
    db = sqlite3.connect(tmp_path / "store.sqlite3")
    assert db.execute("SELECT repository, last_complete FROM repositories").fetchall() == [
        ("alpine", SEEN_AT)
    ]
    db.close()


def test_the_writer_imports_an_earlier_export_in_turn(serve, tmp_path):
    export = tmp_path / "earlier.jsonl"
    records = alpine_page().records
    export.write_text("".join(json.dumps(record) + "\n" for record in records) + '{"broken')
    served = serve(CommitPolicy())
    served.send_page(alpine_page("before"))
    served.send_import(export)
    assert served.answer() == {"committed": 1}  # what came before is committed first
    assert served.answer() == {"imported": len(records), "path": str(export)}
    assert served.answer() == {"committed": 2}
    served.end()


def test_a_store_that_cannot_be_written_is_answered_at_once_and_the_input_read_to_its_end(serve, tmp_path):
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(bytes(range(256)) * 64)
    served = serve(CommitPolicy(), garbage)
    assert served.answer() == {"error": f"store {garbage} is not a SQLite database"}
    for _ in range(20):
        served.send_page()  # read and dropped: the crawl is not held up
    assert list(served.end()[0]) == ["exit"]


# The writer process, as the crawl starts it


@dataclass
class Listener:
    committed_pages: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    usage: dict[str, float] = field(default_factory=dict)

    def committed(self, sequence: int) -> None:
        self.committed_pages.append(sequence)

    def imported(self, records: int, path: str) -> None:
        raise AssertionError("nothing to import")

    def failed(self, problem: str) -> None:
        self.problems.append(problem)

    def exited(self, usage: dict[str, float]) -> None:
        self.usage = usage


@pytest.mark.e2e
def test_the_writer_process_commits_every_page_and_exits_when_the_crawl_closes(tmp_path):
    listener = Listener()

    async def crawl() -> None:
        process = WriterProcess(tmp_path / "store.sqlite3", SEEN_AT, listener)
        await process.start()
        for _ in range(30):
            await process.send_page(alpine_page())
        process.close()

    asyncio.run(crawl())
    assert listener.committed_pages[-1] == 30
    assert listener.problems == []
    assert listener.usage["peak_rss_mb"] > 10
    assert len(records_of(tmp_path / "store.sqlite3")) == len(alpine_page().records)


@pytest.mark.e2e
def test_a_killed_writer_process_is_named_with_its_signal(tmp_path):
    listener = Listener()

    async def crawl() -> None:
        process = WriterProcess(tmp_path / "store.sqlite3", SEEN_AT, listener)
        await process.start()
        await process.send_page(alpine_page())
        os.kill(process.process.pid, signal.SIGKILL)
        process.process.wait()
        for _ in range(5):  # sent into the void, without an error
            await process.send_page(alpine_page())
        process.close()

    asyncio.run(crawl())
    assert listener.problems == ["the store writer process ended unexpectedly (killed by signal 9)"]


@pytest.mark.e2e
def test_the_writer_process_leaves_ctrl_c_to_the_crawl(tmp_path):
    listener = Listener()

    async def crawl() -> None:
        process = WriterProcess(tmp_path / "store.sqlite3", SEEN_AT, listener)
        await process.start()
        await process.send_page(alpine_page())
        while not listener.committed_pages:  # it is running: its SIGINT handler is set
            await asyncio.sleep(0.05)
        process.process.send_signal(signal.SIGINT)
        await process.send_page(alpine_page("after"))
        process.close()

    asyncio.run(crawl())
    assert listener.problems == []
    assert listener.committed_pages[-1] == 2


def test_an_exit_status_says_how_the_process_ended():
    assert status_text(-9) == "killed by signal 9"
    assert status_text(1) == "exit status 1"

"""The store and its commands when things go wrong: another writer, a missing, damaged or foreign
file, lines that are not records, dates UTC cannot hold. Each ends in one line and an exit status."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

import fastjsonschema
import pytest

from hubspider.commands.changes import since_in_utc
from hubspider.items import DigestRecordItem, ImageRecordItem
from hubspider.records import TagSeen, tag_records, tag_target
from hubspider.store import (
    MAX_LINE_BYTES,
    Store,
    StoreError,
    numbered_lines,
    parse_record,
    schema_problem,
    store_problem,
)
from hubspider.store.importer import parse_line
from tests.helpers import load_response, project_environment, run_command

if TYPE_CHECKING:
    from pathlib import Path

SEEN_AT = "2026-11-01T00:00:00Z"
VALIDATE = fastjsonschema.compile(DigestRecordItem.jsonschema)


def record(tag: str, architecture: str = "amd64", **changes: Any) -> dict[str, Any]:
    """A valid digest record of alpine:`tag`, its digest made from the tag."""
    digest = "sha256:" + hashlib.sha256(f"{tag}/{architecture}".encode()).hexdigest()
    return {
        "digest": digest, "namespace": "library", "repository": "alpine", "tag": tag,
        "image": f"alpine:{tag}", "platform": f"linux/{architecture}", "kind": "image", "os": "linux",
        "architecture": architecture, "variant": None, "os_version": None, "tag_digest": None,
        "media_type": "application/vnd.oci.image.index.v1+json", "size": 100, "last_pushed": None,
        "seen_at": SEEN_AT,
    } | changes  # fmt: skip


def export(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def as_line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def big_export(path: Path, prefix: str, tags: int) -> Path:
    with path.open("w") as file:
        for number in range(tags):
            for architecture in ("amd64", "arm64"):
                file.write(json.dumps(record(f"{prefix}{number}", architecture)) + "\n")
    return path


def stored_tags(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT DISTINCT tag FROM records")}
    finally:
        db.close()


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a command printed on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def filled_store(tmp_path: Path) -> Path:
    path = tmp_path / "filled.sqlite3"
    with Store(path) as store:
        records = [record("3.20"), record("3.20", "arm64")]
        store.add(records, [TagSeen("library", "alpine", "3.20", "x", None)], SEEN_AT)
    return path


def add_alpine(store: Store, seen_at: str = SEEN_AT) -> None:
    """The stored alpine tags page, as a crawl started at `seen_at` adds it."""
    records, tags = [], []
    for tag in load_response("tags_alpine.json")["results"]:
        found = tag_records(tag, "library", "alpine", seen_at, Counter())
        records += found
        target = tag_target(tag.get("digest"), (each["digest"] for each in found))
        tags.append(TagSeen("library", "alpine", tag["name"], target, tag["last_updated"]))
    store.add(records, tags, seen_at)


# 8. Two writers of one store


def test_a_writer_that_started_while_another_wrote_waits_for_it_rather_than_failing(tmp_path):
    """The other writer commits just as this one is about to write: a deferred transaction
    would have read before that commit and then fail at once with "database is locked"."""
    path = tmp_path / "store.sqlite3"
    first, second = Store(path), Store(path)
    first_transaction = first.transaction()
    first_transaction.__enter__()
    add_alpine(first)

    def commit_first_when_second_writes(statement: str) -> None:
        if statement.startswith(("BEGIN IMMEDIATE", "INSERT")) and first.db.in_transaction:
            first_transaction.__exit__(None, None, None)

    second.db.set_trace_callback(commit_first_when_second_writes)
    with second.transaction():
        add_alpine(second, "2026-11-08T00:00:00Z")
    first.close()
    second.close()
    with Store(path, read_only=True) as store:
        assert store.last_crawl() == "2026-11-08T00:00:00Z"


def test_a_write_transaction_that_cannot_get_the_lock_says_locked_by_another_process(tmp_path):
    path = tmp_path / "store.sqlite3"
    with Store(path) as holder, Store(path, timeout=0.05) as waiter, holder.transaction():
        add_alpine(holder)
        with pytest.raises(StoreError, match="locked by another process"), waiter.transaction():
            add_alpine(waiter)


def test_the_store_is_a_context_manager_that_closes(tmp_path):
    with Store(tmp_path / "store.sqlite3") as store:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("SELECT 1")


def import_process(workdir: Path, *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scrapy", "import", *arguments],
        cwd=workdir,
        env=project_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.e2e
def test_two_imports_into_one_store_at_once_both_succeed(tmp_path):
    store = tmp_path / "store.sqlite3"
    first = big_export(tmp_path / "a.jsonl", "a", 12_000)
    second = big_export(tmp_path / "b.jsonl", "b", 12_000)
    processes = [import_process(tmp_path, "--store", str(store), str(file)) for file in (first, second)]
    results = [process.communicate(timeout=240) for process in processes]
    for process, (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr
        assert "imported 24000 records" in stdout
    assert len(stored_tags(store)) == 24_000


@pytest.mark.e2e
def test_an_import_into_a_store_locked_too_long_is_one_line_and_exit_2(filled_store, tmp_path):
    holder = sqlite3.connect(filled_store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        good = export(tmp_path / "good.jsonl", [as_line(record("3.21"))])
        result = run_command(
            tmp_path, "import", "-s", "HUB_STORE_TIMEOUT=0.2", "--store", str(filled_store), str(good)
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 2
    line = one_error_line(result)
    assert str(filled_store) in line
    assert "locked by another process" in line


# 10. A store that is missing, not a database, damaged, or not ours


QUERIES = [
    ("lookup", "sha256:beefdbd8a1da"),
    ("history", "alpine:latest"),
    ("changes",),
]


@pytest.mark.e2e
@pytest.mark.parametrize("command", QUERIES, ids=lambda command: command[0])
def test_a_query_of_a_missing_store_is_one_line_exit_2_and_creates_nothing(tmp_path, command):
    missing = tmp_path / "nowhere" / "store.sqlite3"
    result = run_command(tmp_path, command[0], "--store", str(missing), *command[1:])
    assert result.returncode == 2
    assert f"no store at {missing}" in one_error_line(result)
    assert not missing.parent.exists()


def crawled_twenty_times(path: Path) -> Path:
    """A store of a few pages (45 KiB)."""
    with Store(path) as store:
        for day in range(1, 21):
            add_alpine(store, f"2026-11-{day:02}T00:00:00Z")
    return path


def garbage(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 64)
    return path


def truncated(path: Path, filled: Path) -> Path:
    data = filled.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def foreign(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (number INTEGER)")
    db.commit()
    db.close()
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.fixture(params=["garbage", "truncated", "foreign", "empty"])
def unusable_store(request, tmp_path: Path) -> Path:
    path = tmp_path / f"{request.param}.sqlite3"
    if request.param == "truncated":
        return truncated(path, crawled_twenty_times(tmp_path / "whole.sqlite3"))
    return {"garbage": garbage, "foreign": foreign, "empty": empty}[request.param](path)


@pytest.mark.e2e
@pytest.mark.parametrize("command", QUERIES, ids=lambda command: command[0])
def test_a_query_of_an_unusable_store_is_one_line_naming_it_and_exit_2(unusable_store, tmp_path, command):
    before = unusable_store.read_bytes()
    result = run_command(tmp_path, command[0], "--store", str(unusable_store), *command[1:])
    assert result.returncode == 2, result.stderr
    assert str(unusable_store) in one_error_line(result)
    assert unusable_store.read_bytes() == before


@pytest.mark.e2e
def test_an_import_into_a_file_that_is_not_a_store_is_one_line_and_exit_2(tmp_path):
    for target in (garbage(tmp_path / "garbage.sqlite3"), foreign(tmp_path / "foreign.sqlite3")):
        before = target.read_bytes()
        good = export(tmp_path / "good.jsonl", [as_line(record("3.21"))])
        result = run_command(tmp_path, "import", "--store", str(target), str(good))
        assert result.returncode == 2, result.stderr
        assert str(target) in one_error_line(result)
        assert target.read_bytes() == before


def test_opening_a_file_that_is_not_a_database_for_writing_raises_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="is not a SQLite database"):
        Store(garbage(tmp_path / "garbage.sqlite3"))


def test_opening_a_missing_store_read_only_raises_a_store_error_and_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        Store(tmp_path / "missing.sqlite3", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_database_becomes_a_store_when_written_to(tmp_path):
    with Store(empty(tmp_path / "empty.sqlite3")) as store:
        add_alpine(store)
        assert store.last_crawl() == SEEN_AT


def test_a_read_only_store_refuses_to_write(filled_store):
    with Store(filled_store, read_only=True) as store, pytest.raises(StoreError, match="readonly"):
        add_alpine(store)


def with_garbage_records(path: Path) -> Path:
    """A store whose schema is whole and whose record tables' root pages are garbage."""
    crawled_twenty_times(path)
    db = sqlite3.connect(path)
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    tables = ("builds", "digests", "tags", "sightings")
    roots = [row[0] for row in db.execute(f"SELECT rootpage FROM sqlite_master WHERE tbl_name IN {tables}")]
    db.close()
    data = bytearray(path.read_bytes())
    for root in roots:
        data[(root - 1) * page_size : root * page_size] = (bytes(range(256)) * 16)[:page_size]
    path.write_bytes(bytes(data))
    return path


def test_a_store_damaged_beyond_its_schema_raises_a_store_error_from_its_queries(tmp_path):
    path = with_garbage_records(tmp_path / "store.sqlite3")
    with Store(path, read_only=True) as store, pytest.raises(StoreError, match=str(path)):
        store.find_digest("sha256:beefdbd8a1da")


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("SQLITE_BUSY", "is locked by another process (waited 60 s)"),
        ("SQLITE_BUSY_SNAPSHOT", "is locked by another process"),
        ("SQLITE_NOTADB", "is not a SQLite database"),
        ("SQLITE_CORRUPT", "is damaged"),
        ("SQLITE_CANTOPEN", "cannot open store"),
        ("SQLITE_FULL", "s.sqlite3: oops"),
    ],
)
def test_store_problem_says_what_sqlite_means_for_the_file(tmp_path, code, said):
    error = sqlite3.OperationalError("oops")
    error.sqlite_errorname = code
    problem = store_problem(tmp_path / "s.sqlite3", error, 60)
    assert str(tmp_path / "s.sqlite3") in problem
    assert said in problem


def test_schema_problem_takes_over_an_empty_database_but_not_a_foreign_one(tmp_path):
    ours = {"builds", "digests", "sightings", "tags", "repositories", "records"}
    assert schema_problem(tmp_path, ours, read_only=True) is None
    assert schema_problem(tmp_path, set(), read_only=False) is None
    assert schema_problem(tmp_path, {"builds", "tags"}, read_only=False) is None
    assert "holds no store" in schema_problem(tmp_path, set(), read_only=True)
    assert "other tables: invoices" in schema_problem(tmp_path, {"invoices"}, read_only=False)
    assert "lacks the tables" in schema_problem(tmp_path, {"invoices"}, read_only=True)


# 11. Lines that are not records, and dates UTC cannot hold


def import_lines(tmp_path: Path, bad: bytes) -> tuple[subprocess.CompletedProcess[str], Path]:
    """An export with a good line, `bad`, and another good line, imported into a new store."""
    lines = [as_line(record("3.19")), bad, as_line(record("3.21"))]
    path = export(tmp_path / "mixed.jsonl", lines)
    store = tmp_path / "store.sqlite3"
    return run_command(tmp_path, "import", "--store", str(store), str(path)), store


BAD_LINES = {
    "binary": (bytes(range(128, 256)) * 4, "mixed.jsonl:2: not a digest record: not UTF-8 (byte 0x80"),
    "nesting": (b"[" * 50_000, "mixed.jsonl:2: not a digest record: not JSON: depth limit exceeded"),
    "too long": (b"[" * 50_000_000, "mixed.jsonl:2: not a digest record: line longer than 64 KiB"),
    "huge tag": (as_line(record("x" * 5_000_000)), "mixed.jsonl:2: not a digest record: line longer"),
    "long tag": (as_line(record("x" * 129)), "mixed.jsonl:2: not a digest record: data.tag must be shorter"),
    "long key": (
        as_line(record("3.20") | {"k" * 10_000: 1}),
        "mixed.jsonl:2: not a digest record: data must not contain",
    ),
    "long os": (as_line(record("3.20", os="l" * 129)), "mixed.jsonl:2: not a digest record: data.os must be"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("bad", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_an_import_names_a_bad_line_skips_it_and_stores_the_good_ones(tmp_path, bad):
    line, said = bad
    result, store = import_lines(tmp_path, line)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    reported, summary = result.stderr.strip().splitlines()
    assert reported.startswith(str(tmp_path / said)), reported
    assert len(reported) < 400
    assert summary == "Error: 1 lines were not records and were not imported"
    assert stored_tags(store) == {"3.19", "3.21"}


@pytest.mark.e2e
@pytest.mark.skipif(not os.path.isfile("/proc/self/mem"), reason="needs Linux's /proc")
def test_an_import_of_a_file_that_cannot_be_read_is_one_line_and_exit_2(tmp_path):
    # A file whose every read fails, even for root: the importing process's own memory at offset 0.
    result = run_command(tmp_path, "import", "--store", str(tmp_path / "store.sqlite3"), "/proc/self/mem")
    assert result.returncode == 2
    assert "cannot read /proc/self/mem" in one_error_line(result)


def test_one_line_flattens_and_shortens_a_reason():
    one_line = importlib.import_module("hubspider.commands.import").one_line
    assert one_line("a\n  b", 10) == "a b"
    assert one_line("x" * 20, 10) == "x" * 9 + "…"


@pytest.mark.e2e
def test_an_invalid_store_timeout_is_one_line_and_exit_2(filled_store, tmp_path):
    result = run_command(tmp_path, "changes", "-s", "HUB_STORE_TIMEOUT=soon", "--store", str(filled_store))
    assert result.returncode == 2
    assert "invalid HUB_STORE_TIMEOUT 'soon'" in one_error_line(result)


def lines_of(data: bytes, limit: int) -> list[tuple[int, bytes | None]]:
    return list(numbered_lines(io.BytesIO(data), limit))


def test_numbered_lines_gives_each_line_with_its_number():
    assert lines_of(b"a\nbb\nccc", 8) == [(1, b"a\n"), (2, b"bb\n"), (3, b"ccc")]


def test_numbered_lines_skips_a_line_over_the_limit_and_goes_on_after_it():
    assert lines_of(b"a\n" + b"x" * 50 + b"\nb\n", 8) == [(1, b"a\n"), (2, None), (3, b"b\n")]


def test_numbered_lines_takes_a_line_of_exactly_the_limit():
    assert lines_of(b"x" * 8 + b"\n" + b"y" * 9, 8) == [(1, b"x" * 8 + b"\n"), (2, None)]


def test_parse_record_accepts_a_record():
    assert parse_record(as_line(record("3.20")), VALIDATE) == record("3.20")


@pytest.mark.parametrize(
    ("namespace", "repository", "image"),
    [
        ("mcr.microsoft.com", "dotnet/runtime", "mcr.microsoft.com/dotnet/runtime:8.0"),
        ("127.0.0.1:5000", "acme/team/app", "127.0.0.1:5000/acme/team/app:8.0"),
        ("bitnami", "redis", "bitnami/redis:8.0"),
    ],
)
def test_a_record_of_another_registry_names_its_host(namespace, repository, image):
    line = record("8.0", namespace=namespace, repository=repository, image=image)
    assert parse_record(as_line(line), VALIDATE) == line


@pytest.mark.parametrize("image", ["alpine", "Alpine:3", "mcr.microsoft.com/:8.0", "a b/c:1", "x:1:2"])
def test_an_image_that_is_no_reference_is_refused(image):
    with pytest.raises(ValueError, match=re.escape("data.image must match pattern")):
        parse_record(as_line(record("3.20", image=image)), VALIDATE)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (None, f"line longer than {MAX_LINE_BYTES // 1024} KiB"),
        (b"\xff{}", "not UTF-8 (byte 0xff at column 1)"),
        (b"[" * 2000, "not JSON: depth limit exceeded"),
        (b"", "not JSON"),
        (b"[]", "data must be object"),
        (
            as_line(record("3.20", media_type="m" * 256)),
            "data.media_type must be shorter than or equal to 255",
        ),
    ],
)
def test_parse_record_says_why_a_line_is_not_a_record(line, said):
    with pytest.raises(ValueError, match=f"^{re.escape(said)}"):
        parse_record(line, VALIDATE)


VALIDATE_IMAGE = fastjsonschema.compile(ImageRecordItem.jsonschema)


def image_record(**changes: Any) -> dict[str, Any]:
    """A valid image record of one layer, its long build step (a shell script) in its history."""
    digest = "sha256:" + "1" * 64
    layer = {
        "digest": digest,
        "diff_id": digest,
        "chain_id": digest,
        "size": 1,
        "media_type": "m",
        "instruction": None,
    }
    step = {"created": None, "created_by": "RUN " + "x" * 60_000, "comment": None, "empty_layer": False}
    return {
        "digest": digest, "image_id": digest, "namespace": "library", "repository": "alpine",
        "platform": "linux/amd64", "os": "linux", "architecture": "amd64", "variant": None,
        "os_version": None, "layers": [layer], "history": [step, step], "seen_at": "2026-11-22T00:00:00Z",
    } | changes  # fmt: skip


def test_parse_line_tells_an_image_record_from_a_digest_record():
    assert parse_line(as_line(record("3.20")), VALIDATE, VALIDATE_IMAGE) == (record("3.20"), False)
    line = as_line(image_record())
    assert len(line) > MAX_LINE_BYTES
    assert parse_line(line, VALIDATE, VALIDATE_IMAGE) == (image_record(), True)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (as_line(image_record(layers="none")), "not an image record: data.layers must be array"),
        (as_line(record("3.20", os="x" * MAX_LINE_BYTES)), "not a digest record: line longer than 64 KiB"),
        (b"\xff{}", "not a digest record: not UTF-8"),
        (None, "not a digest record: line longer than 64 KiB (4096 KiB for an image record)"),
    ],
)
def test_parse_line_says_which_record_a_line_is_not_and_why(line, said):
    with pytest.raises(ValueError, match=f"^{re.escape(said)}"):
        parse_line(line, VALIDATE, VALIDATE_IMAGE)


@pytest.mark.parametrize(
    ("value", "in_utc"),
    [
        ("2026-11-01", "2026-11-01T00:00:00Z"),
        ("2026-11-01T08:00:00+02:00", "2026-11-01T06:00:00Z"),
        ("2026-11-01T06:00:00.5Z", "2026-11-01T06:00:00Z"),
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00Z"),
    ],
)
def test_since_in_utc_gives_the_stores_time_format(value, in_utc):
    assert since_in_utc(value) == in_utc


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "yesterday"])
def test_since_in_utc_refuses_a_time_utc_cannot_hold(value):
    with pytest.raises(ValueError, match=r"^(before year 1 or after year 9999 in UTC|not a date or time)$"):
        since_in_utc(value)


@pytest.mark.e2e
@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_changes_since_a_time_utc_cannot_hold_is_one_line_and_exit_2(filled_store, tmp_path, since):
    result = run_command(tmp_path, "changes", "--store", str(filled_store), "--since", since)
    assert result.returncode == 2
    assert "invalid --since" in one_error_line(result)

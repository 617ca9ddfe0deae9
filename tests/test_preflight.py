"""Every setting and every output target is checked before the crawl: one line, exit 2, nothing written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from scrapy.settings import Settings

from fakehub import HubServer, make_hub
from hubspider import preflight
from hubspider.arguments import ArgumentError
from hubspider.preflight import (
    SECONDS,
    WHOLE_NUMBERS,
    cache_directory,
    check_settings,
    check_targets,
    directory_problem,
    feed_problem,
    file_problem,
    local_feed_path,
    project_data_dir,
)
from tests.helpers import run_crawl

if TYPE_CHECKING:
    from collections.abc import Iterator

# A refused crawl stops in about a second; a hang (CONCURRENT_REQUESTS_PER_DOMAIN=-5) must not.
REFUSAL_TIMEOUT = 60


def project_settings(**overrides: object) -> Settings:
    settings = Settings()
    settings.setmodule("hubspider.settings", priority="project")
    settings.setdict(overrides, priority="cmdline")
    return settings


def files_under(directory: Path) -> set[Path]:
    return set(directory.rglob("*"))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default targets (output/...) are relative: put them in an empty directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file: a path under it can never be created, even by root."""
    path = tmp_path / "somefile.txt"
    path.write_text("not a directory\n")
    return path


# --- settings -----------------------------------------------------------------------------


def test_project_defaults_pass():
    check_settings(project_settings())


def _bad_whole_numbers() -> list[tuple[str, object]]:
    cases: list[tuple[str, object]] = []
    for name, least in WHOLE_NUMBERS.items():
        cases += [(name, least - 1), (name, -5), (name, "abc"), (name, "1.5"), (name, 2.5), (name, "")]
    return cases


@pytest.mark.parametrize(("name", "value"), _bad_whole_numbers())
def test_bad_whole_numbers_are_refused(name, value):
    with pytest.raises(ArgumentError, match=rf"^invalid {name} .*expected a whole number of at least"):
        check_settings(project_settings(**{name: value}))


@pytest.mark.parametrize("value", ["200", " 200 ", 200, 200.0])
@pytest.mark.parametrize("name", list(WHOLE_NUMBERS))
def test_whole_numbers_as_scrapy_reads_them_pass(name, value):
    check_settings(project_settings(**{name: value}))


def test_message_names_setting_value_and_expectation():
    with pytest.raises(ArgumentError) as error:
        check_settings(project_settings(CONCURRENT_REQUESTS_PER_DOMAIN="-5"))
    assert str(error.value) == (
        "invalid CONCURRENT_REQUESTS_PER_DOMAIN '-5': expected a whole number of at least 1"
    )


def _bad_seconds() -> list[tuple[str, object]]:
    cases: list[tuple[str, object]] = []
    for name, (least, inclusive) in SECONDS.items():
        cases += [(name, -1), (name, "-0.5"), (name, "abc"), (name, "nan"), (name, "inf"), (name, "")]
        if not inclusive:
            cases.append((name, least))
    return cases


@pytest.mark.parametrize(("name", "value"), _bad_seconds())
def test_bad_durations_are_refused(name, value):
    with pytest.raises(ArgumentError, match=rf"^invalid {name} .*expected a number of seconds"):
        check_settings(project_settings(**{name: value}))


@pytest.mark.parametrize("name", list(SECONDS))
def test_fractional_durations_pass(name):
    # HUB_BACKOFF_MAX must not fall under the base, so raise both together.
    check_settings(project_settings(**{name: "1.5", "HUB_BACKOFF_MAX": "1.5"}))


@pytest.mark.parametrize("name", [name for name, (_, inclusive) in SECONDS.items() if inclusive])
def test_zero_passes_where_it_means_none_or_off(name):
    check_settings(project_settings(**{name: 0, "HUB_BACKOFF_BASE": 0}))


def test_backoff_max_below_base_is_refused():
    with pytest.raises(
        ArgumentError, match=r"invalid HUB_BACKOFF_MAX '0.5': expected at least HUB_BACKOFF_BASE"
    ):
        check_settings(project_settings(HUB_BACKOFF_MAX="0.5"))


@pytest.mark.parametrize("value", ["150", "-100", "1001"])
def test_offset_cap_must_be_whole_pages(value):
    with pytest.raises(ArgumentError, match=r"invalid HUB_ANONYMOUS_OFFSET_CAP"):
        check_settings(project_settings(HUB_ANONYMOUS_OFFSET_CAP=value))


@pytest.mark.parametrize("value", ["0", "100", "2000"])
def test_offset_cap_of_whole_pages_or_none_passes(value):
    check_settings(project_settings(HUB_ANONYMOUS_OFFSET_CAP=value))


@pytest.mark.parametrize("value", ["abc", "yes", ""])
@pytest.mark.parametrize("name", preflight.BOOLEANS)
def test_bad_booleans_are_refused(name, value):
    with pytest.raises(ArgumentError, match=rf"^invalid {name} .*expected True or False"):
        check_settings(project_settings(**{name: value}))


@pytest.mark.parametrize("value", ["True", "false", "1", "0", True])
def test_booleans_scrapy_reads_pass(value):
    check_settings(project_settings(HTTPCACHE_ENABLED=value))


@pytest.mark.parametrize("value", ["abc", "debug", "10", True])
def test_unknown_log_levels_are_refused(value):
    with pytest.raises(ArgumentError, match=r"invalid LOG_LEVEL .*expected one of CRITICAL, ERROR, WARNING"):
        check_settings(project_settings(LOG_LEVEL=value))


@pytest.mark.parametrize("value", ["DEBUG", "WARNING", 10])
def test_known_log_levels_pass(value):
    check_settings(project_settings(LOG_LEVEL=value))


# --- output targets -------------------------------------------------------------------------


def test_default_targets_in_an_empty_directory_pass_and_nothing_is_created(in_tmp):
    check_targets(project_settings(JOBDIR="crawls/one", LOG_FILE="crawl.log"), in_tmp / ".scrapy")
    assert files_under(in_tmp) == set()


def test_jobdir_under_a_file_is_refused(a_file):
    with pytest.raises(ArgumentError, match=r"^cannot write JOBDIR .*somefile.txt is not a directory$"):
        check_targets(project_settings(JOBDIR=str(a_file / "job")), a_file.parent)


def test_jobdir_that_is_a_file_is_refused(a_file):
    with pytest.raises(ArgumentError, match=r"cannot write JOBDIR .*it is a file, not a directory"):
        check_targets(project_settings(JOBDIR=str(a_file)), a_file.parent)


def test_existing_jobdir_passes(tmp_path):
    assert directory_problem(tmp_path) is None


def test_log_file_under_a_file_is_refused(a_file):
    with pytest.raises(ArgumentError, match=r"cannot write LOG_FILE .*somefile.txt is not a directory"):
        check_targets(project_settings(LOG_FILE=str(a_file / "crawl.log")), a_file.parent)


def test_log_file_in_a_missing_directory_is_refused(tmp_path):
    # Python's logging opens the file but does not create its directory.
    assert file_problem(tmp_path / "logs" / "crawl.log", create_parents=False) == (
        f"{tmp_path / 'logs'} does not exist (it is not created)"
    )


def test_log_file_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ArgumentError, match=r"cannot write LOG_FILE .*it is a directory"):
        check_targets(project_settings(LOG_FILE=str(tmp_path)), tmp_path)


def test_store_path_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ArgumentError, match=r"cannot write HUB_STORE_PATH .*it is a directory"):
        check_targets(project_settings(HUB_STORE_PATH=str(tmp_path)), tmp_path)


def test_store_path_is_not_checked_when_the_store_is_off(tmp_path):
    check_targets(project_settings(HUB_STORE_PATH=str(tmp_path), HUB_STORE_ENABLED=False, FEEDS={}), tmp_path)


def test_store_path_in_missing_directories_passes(tmp_path):
    assert file_problem(tmp_path / "a" / "b" / "store.sqlite3", needs_writable_directory=True) is None


def test_cache_dir_under_a_file_is_refused_only_when_the_cache_is_on(a_file):
    settings = project_settings(HTTPCACHE_DIR=str(a_file / "cache"), FEEDS={}, HUB_STORE_ENABLED=False)
    check_targets(settings, a_file.parent)
    settings.set("HTTPCACHE_ENABLED", True, priority="cmdline")
    with pytest.raises(ArgumentError, match=r"cannot write HTTPCACHE_DIR .*somefile.txt is not a directory"):
        check_targets(settings, a_file.parent)


def test_relative_cache_dir_is_under_the_data_dir(tmp_path):
    assert cache_directory("httpcache", tmp_path / ".scrapy") == tmp_path / ".scrapy" / "httpcache"
    assert cache_directory("/var/cache/hub", tmp_path) == Path("/var/cache/hub")


def test_relative_cache_dir_is_checked_under_the_data_dir(a_file):
    settings = project_settings(HTTPCACHE_ENABLED=True, FEEDS={}, HUB_STORE_ENABLED=False)
    with pytest.raises(ArgumentError, match=r"cannot write HTTPCACHE_DIR 'httpcache'"):
        check_targets(settings, a_file / ".scrapy")


def test_project_data_dir_is_not_created(in_tmp):
    (in_tmp / "scrapy.cfg").write_text("[settings]\ndefault = hubspider.settings\n")
    assert project_data_dir() == in_tmp.resolve() / ".scrapy"
    assert not (in_tmp / ".scrapy").exists()


def test_feed_under_a_file_is_refused(a_file):
    settings = project_settings(FEEDS={str(a_file / "out.jsonl"): {"format": "jsonlines"}})
    with pytest.raises(ArgumentError, match=r"cannot write feed target .*somefile.txt is not a directory"):
        check_targets(settings, a_file.parent)


def test_feed_that_is_a_directory_is_refused(tmp_path):
    assert feed_problem(str(tmp_path)) == "it is a directory"


def test_file_uri_feed_is_checked(a_file):
    assert feed_problem(f"file://{a_file}/out.jsonl") == f"{a_file} is not a directory"


def test_placeholders_in_the_directory_part_are_created_later(tmp_path, a_file):
    assert local_feed_path(f"{tmp_path}/%(name)s/%(time)s.jsonl") == tmp_path / "%("
    assert feed_problem(f"{tmp_path}/%(name)s/%(time)s.jsonl") is None
    assert feed_problem(f"{a_file}/%(name)s/out.jsonl") == f"{a_file} is not a directory"


@pytest.mark.parametrize("uri", ["s3://bucket/digests.jsonl", "stdout:", "ftp://host/x.jsonl"])
def test_remote_and_stream_feeds_are_not_checked(uri):
    assert local_feed_path(uri) is None
    assert feed_problem(uri) is None


def test_unwritable_directory_is_refused_for_users_os_access_refuses(tmp_path, monkeypatch):
    # As root os.access allows everything; this is what an ordinary user meets.
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    assert file_problem(locked / "sub" / "out.jsonl") == f"{locked} is not writable"
    assert directory_problem(locked) == "the directory is not writable"
    (locked / "old.jsonl").write_text("")
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).name != "old.jsonl")
    assert file_problem(locked / "old.jsonl") == "the file is not writable"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert file_problem(locked / "out.jsonl") == f"{locked} is not writable"
    finally:
        locked.chmod(0o700)


# --- through the real command line ----------------------------------------------------------


@pytest.fixture
def fresh_hub() -> Iterator[HubServer]:
    """An emulator of its own, so that its request count shows the crawl asked for nothing."""
    with HubServer(make_hub(repositories=3, tags=60)) as server:
        yield server


def assert_refused(server: HubServer, workdir: Path, *arguments: str, output: str | None = None) -> str:
    """Run the crawl; it must stop with exit 2 and one `Error:` line, asking and writing nothing."""
    before = files_under(workdir)
    arguments = ("-a", "repos=alpine", *arguments)
    result = run_crawl(server.url, workdir, *arguments, output=output, timeout=REFUSAL_TIMEOUT)
    stderr = result.stderr
    assert result.returncode == 2, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("Error: "), stderr
    assert "Traceback" not in stderr
    assert server.stats["requests"] == 0
    assert files_under(workdir) == before
    return stderr.strip()


@pytest.mark.e2e
@pytest.mark.parametrize(
    "setting",
    [
        "CONCURRENT_REQUESTS_PER_DOMAIN=-5",
        "CONCURRENT_REQUESTS=0",
        "RETRY_TIMES=-3",
        "HUB_RATELIMIT_MAX_WAIT=-1",
        "HUB_ANONYMOUS_OFFSET_CAP=-100",
        "CONCURRENT_REQUESTS=abc",
        "HUB_STORE_ENABLED=abc",
        "LOG_LEVEL=abc",
    ],
)
def test_bad_setting_stops_the_crawl_in_one_line(fresh_hub, tmp_path, setting):
    name, value = setting.split("=")
    message = assert_refused(fresh_hub, tmp_path, "-s", setting, output="digests.jsonl")
    assert message.startswith(f"Error: invalid {name} '{value}': expected ")


@pytest.mark.e2e
def test_jobdir_under_a_file_stops_the_crawl(fresh_hub, tmp_path, a_file):
    message = assert_refused(fresh_hub, tmp_path, "-s", "JOBDIR=somefile.txt/job", output="digests.jsonl")
    assert message.startswith("Error: cannot write JOBDIR 'somefile.txt/job'")


@pytest.mark.e2e
def test_log_file_under_a_file_stops_the_crawl(fresh_hub, tmp_path, a_file):
    message = assert_refused(fresh_hub, tmp_path, "-s", "LOG_FILE=somefile.txt/crawl.log")
    assert message.startswith("Error: cannot write LOG_FILE 'somefile.txt/crawl.log'")


@pytest.mark.e2e
def test_store_path_that_is_a_directory_stops_the_crawl(fresh_hub, tmp_path):
    (tmp_path / "store").mkdir()
    message = assert_refused(fresh_hub, tmp_path, "-s", "HUB_STORE_PATH=store")
    assert message == "Error: cannot write HUB_STORE_PATH 'store': it is a directory"


@pytest.mark.e2e
def test_output_under_a_file_stops_the_crawl(fresh_hub, tmp_path, a_file):
    message = assert_refused(fresh_hub, tmp_path, output="somefile.txt/out.jsonl")
    assert message.startswith("Error: cannot write feed target 'somefile.txt/out.jsonl'")


@pytest.mark.e2e
def test_output_that_is_a_directory_stops_the_crawl(fresh_hub, tmp_path):
    (tmp_path / "out.jsonl").mkdir()
    message = assert_refused(fresh_hub, tmp_path, output="out.jsonl")
    assert message == "Error: cannot write feed target 'out.jsonl': it is a directory"


@pytest.mark.e2e
def test_default_feed_under_a_file_stops_the_crawl(fresh_hub, tmp_path):
    (tmp_path / "output").write_text("a file where the output directory should be\n")
    message = assert_refused(fresh_hub, tmp_path, "-s", "HUB_STORE_ENABLED=False")
    assert message.startswith("Error: cannot write feed target 'output/%(name)s-%(time)s.jsonl'")


@pytest.mark.e2e
def test_a_good_crawl_still_passes(fresh_hub, tmp_path):
    result = run_crawl(fresh_hub.url, tmp_path, "-a", "repos=alpine")
    assert result.returncode == 0, result.stderr
    assert result.records()

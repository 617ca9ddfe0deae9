"""Settings and output targets checked before the crawl: a bad one costs one line, not a crawl.

Scrapy reads most settings only once the crawl is under way, so a bad value there ends in a
traceback, a hang (a negative concurrency) or silently lost records; an output target it
cannot write is found only after every page was fetched. Each check raises ArgumentError,
whose message names the setting, the value given and what is expected.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.utils.conf import closest_scrapy_cfg, get_config
from w3lib.url import file_uri_to_path

from hubspider.arguments import ArgumentError
from hubspider.hub.urls import PAGE_SIZE

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

# Setting name -> the least whole number that works.
WHOLE_NUMBERS: dict[str, int] = {
    # 0 or less: Scrapy's downloader never sends a request and the crawl waits forever.
    "CONCURRENT_REQUESTS": 1,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
    "CONCURRENT_ITEMS": 1,
    "RETRY_TIMES": 0,
    # 0 means no cap; a negative cap would stop paging before the first page.
    "HUB_ANONYMOUS_OFFSET_CAP": 0,
    # n=0 asks a registry's listing for nothing.
    "HUB_REGISTRY_PAGE_SIZE": 1,
    "DOWNLOAD_MAXSIZE": 0,
    "DOWNLOAD_WARNSIZE": 0,
    # Scrapy reads it with getint: "1.5" would fail once the cache opens.
    "HTTPCACHE_EXPIRATION_SECS": 0,
}

# Setting name -> (the least number of seconds that works, whether that least is allowed).
SECONDS: dict[str, tuple[float, bool]] = {
    "DOWNLOAD_TIMEOUT": (0, False),
    "DOWNLOAD_DELAY": (0, True),
    "HUB_RATELIMIT_MAX_WAIT": (0, True),
    "HUB_BACKOFF_BASE": (0, True),
    "HUB_BACKOFF_MAX": (0, True),
    "HUB_TOKEN_RENEW_AFTER": (0, False),
    "HUB_PROGRESS_INTERVAL": (0, True),
}

BOOLEANS = (
    "HUB_STORE_ENABLED",
    "HUB_RATELIMIT_ENABLED",
    "HTTPCACHE_ENABLED",
    "AUTOTHROTTLE_ENABLED",
    "RETRY_ENABLED",
    "LOG_ENABLED",
    "LOG_FILE_APPEND",
)

# Scrapy's feed storages for these schemes write through the filesystem.
LOCAL_FEED_SCHEMES = ("", "file")
PLACEHOLDER = "%("


def _invalid(name: str, value: object, expected: str) -> ArgumentError:
    return ArgumentError(f"invalid {name} {str(value)!r}: expected {expected}")


def whole_number(name: str, value: object, minimum: int) -> int:
    """`value` as Scrapy's getint would read it, refused below `minimum` or when not whole."""
    expected = f"a whole number of at least {minimum}"
    if isinstance(value, bool):
        raise _invalid(name, value, expected)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _invalid(name, value, expected) from None
    if not isinstance(value, int) or value < minimum:
        raise _invalid(name, value, expected)
    return value


def seconds(name: str, value: object, minimum: float, inclusive: bool) -> float:
    """`value` as Scrapy's getfloat would read it, refused when not a finite number in range."""
    expected = f"a number of seconds {'of at least' if inclusive else 'above'} {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid(name, value, expected)
    try:
        number = float(value)
    except ValueError:
        raise _invalid(name, value, expected) from None
    in_range = number >= minimum if inclusive else number > minimum
    if not math.isfinite(number) or not in_range:
        raise _invalid(name, value, expected)
    return number


def boolean(settings: BaseSettings, name: str) -> bool:
    """Scrapy's getbool, with its ValueError turned into one line."""
    try:
        return settings.getbool(name)
    except ValueError:
        raise _invalid(name, settings.get(name), "True or False (also 1/0, true/false)") from None


def check_log_level(value: object) -> None:
    """Scrapy hands LOG_LEVEL to logging, which takes a level number or an upper-case name."""
    known = logging.getLevelNamesMapping()
    if isinstance(value, bool) or not (isinstance(value, int) or value in known):
        names = ", ".join(name for name in known if name not in ("NOTSET", "WARN", "FATAL"))
        raise _invalid("LOG_LEVEL", value, f"one of {names}")


def check_settings(settings: BaseSettings) -> None:
    """Every setting the crawl reads, checked for type and range."""
    for name in BOOLEANS:
        boolean(settings, name)
    numbers = {name: whole_number(name, settings.get(name), least) for name, least in WHOLE_NUMBERS.items()}
    cap = numbers["HUB_ANONYMOUS_OFFSET_CAP"]
    if cap % PAGE_SIZE:
        raise _invalid(
            "HUB_ANONYMOUS_OFFSET_CAP",
            cap,
            f"0 (no cap) or a multiple of {PAGE_SIZE}, the page size (paging stops at a whole page)",
        )
    durations = {name: seconds(name, settings.get(name), *bounds) for name, bounds in SECONDS.items()}
    if durations["HUB_BACKOFF_MAX"] < durations["HUB_BACKOFF_BASE"]:
        raise _invalid(
            "HUB_BACKOFF_MAX",
            settings.get("HUB_BACKOFF_MAX"),
            f"at least HUB_BACKOFF_BASE ({settings.get('HUB_BACKOFF_BASE')})",
        )
    check_log_level(settings.get("LOG_LEVEL"))


def _nearest_existing(path: Path) -> Path:
    """`path` itself, or the closest of its ancestors that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_directory(directory: Path) -> bool:
    # os.access says yes to root everywhere; a read-only mount still refuses root.
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    return not os.statvfs(directory).f_flag & os.ST_RDONLY


def _can_create_in(path: Path) -> str | None:
    """Why the missing `path` cannot be created (with its missing parents), or None."""
    ancestor = _nearest_existing(path.parent)
    if not ancestor.is_dir():
        return f"{ancestor} is not a directory"
    if not _writable_directory(ancestor):
        return f"{ancestor} is not writable"
    return None


def file_problem(
    path: Path, *, create_parents: bool = True, needs_writable_directory: bool = False
) -> str | None:
    """Why a file cannot be written at `path`, or None.

    `create_parents`: the writer creates missing directories (feeds, the store); logging does not.
    `needs_writable_directory`: SQLite also writes a journal beside the file.
    """
    path = Path(os.path.abspath(path))
    if path.is_dir():
        return "it is a directory"
    if path.exists():
        if not os.access(path, os.W_OK):
            return "the file is not writable"
        if needs_writable_directory and not _writable_directory(path.parent):
            return f"{path.parent} is not writable"
        return None
    if not create_parents and not path.parent.is_dir():
        missing = "is not a directory" if path.parent.exists() else "does not exist"
        return f"{path.parent} {missing} (it is not created)"
    return _can_create_in(path)


def directory_problem(path: Path) -> str | None:
    """Why a directory cannot be used (or created) at `path` for writing, or None."""
    path = Path(os.path.abspath(path))
    if path.exists():
        if not path.is_dir():
            return "it is a file, not a directory"
        return None if _writable_directory(path) else "the directory is not writable"
    return _can_create_in(path)


def feed_file(uri: str) -> Path | None:
    """The filesystem path of a feed URI, as Scrapy's FileFeedStorage writes it, or None for a
    feed that is not a local file (`s3://`, `stdout:`)."""
    scheme = urlsplit(uri).scheme
    # A Windows drive letter parses as a scheme; such a path is a local file too.
    if scheme not in LOCAL_FEED_SCHEMES and len(scheme) != 1:
        return None
    return Path(file_uri_to_path(uri) if scheme == "file" else uri)


def local_feed_path(uri: str) -> Path | None:
    """The filesystem path of a feed URI that the crawl must be able to create, or None for a
    feed that is not a local file.

    Placeholders (`%(name)s`, `%(time)s`) are filled in only when the crawl starts: the path
    is cut before the first part that holds one, which must then be creatable.
    """
    path = feed_file(uri)
    if path is None:
        return None
    parts = path.parts
    for index, part in enumerate(parts):
        if PLACEHOLDER in part:
            # Stands for the part still to be named; it does not exist, so it is created.
            return Path(*parts[:index], PLACEHOLDER)
    return path


def feed_problem(uri: str) -> str | None:
    """Why Scrapy's FileFeedStorage could not write the feed `uri`, or None."""
    path = local_feed_path(uri)
    if path is None:
        return None
    return file_problem(path)


def cache_directory(httpcache_dir: str, data_dir: Path) -> Path:
    """Where Scrapy's HTTP cache goes: relative paths are under the project's data dir."""
    path = Path(httpcache_dir)
    return path if path.is_absolute() else data_dir / path


def project_data_dir(project: str = "default") -> Path:
    """scrapy.utils.project.project_data_dir without creating it (a check creates nothing)."""
    config = get_config()
    if config.has_option("datadir", project):
        return Path(config.get("datadir", project))
    scrapy_cfg = closest_scrapy_cfg()
    return (Path(scrapy_cfg).parent / ".scrapy").resolve() if scrapy_cfg else Path(".scrapy")


def check_targets(settings: BaseSettings, data_dir: Path) -> None:
    """Every local file and directory the crawl will write, checked without creating any."""
    problems: list[tuple[str, object, str | None]] = []
    if jobdir := settings.get("JOBDIR"):
        problems.append(("JOBDIR", jobdir, directory_problem(Path(jobdir))))
    if log_file := settings.get("LOG_FILE"):
        problems.append(("LOG_FILE", log_file, file_problem(Path(log_file), create_parents=False)))
    if boolean(settings, "HUB_STORE_ENABLED"):
        store = settings.get("HUB_STORE_PATH")
        problems.append(("HUB_STORE_PATH", store, file_problem(Path(store), needs_writable_directory=True)))
    if boolean(settings, "HTTPCACHE_ENABLED"):
        cache = settings.get("HTTPCACHE_DIR")
        problems.append(("HTTPCACHE_DIR", cache, directory_problem(cache_directory(cache, data_dir))))
    # Scrapy has parsed FEEDS (JSON from -s) when it was set; a bad one never gets here.
    for uri in settings.getdict("FEEDS"):
        problems.append(("feed target", uri, feed_problem(str(uri))))
    for name, value, problem in problems:
        if problem is not None:
            raise ArgumentError(f"cannot write {name} {str(value)!r}: {problem}")

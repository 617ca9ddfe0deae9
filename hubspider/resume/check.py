"""What the crawl command refuses before a resume: mixing two crawls in one JOBDIR, erasing
the records of earlier runs (-O), and appending to a file that cannot take more (JSON, XML)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubspider.preflight import feed_file
from hubspider.resume.entries import journal_path, read_journal
from hubspider.resume.repair import REPAIRABLE_FORMATS

if TYPE_CHECKING:
    from pathlib import Path


class JournalMismatchError(Exception):
    """The JOBDIR holds another crawl; its message is one line for the user."""


def check_resumable(jobdir: str | Path, arguments: dict[str, Any], feeds: dict[str, dict[str, Any]]) -> None:
    """Raise JournalMismatchError for a run that the journal in `jobdir` cannot resume.

    `arguments` is the spider's `resume_key`, `feeds` the FEEDS setting."""
    runs = read_journal(journal_path(jobdir)).runs
    if not runs:
        return
    if runs[0].arguments != arguments:
        raise JournalMismatchError(
            f"JOBDIR {jobdir} holds another crawl ({_describe(runs[0].arguments)}); "
            f"this one is {_describe(arguments)}: use a new JOBDIR"
        )
    earlier = {feed.path: feed.format for run in runs for feed in run.feeds}
    for uri, options in feeds.items():
        path = feed_file(uri)
        if path is None or (earlier_format := earlier.get(str(path.resolve()))) is None:
            continue
        if options.get("overwrite"):
            raise JournalMismatchError(
                f"JOBDIR {jobdir} holds a crawl in progress whose records are in {uri}: "
                f"resume with -o {uri} (append); -O would erase them"
            )
        if earlier_format not in REPAIRABLE_FORMATS:
            raise JournalMismatchError(
                f"JOBDIR {jobdir} holds a crawl in progress whose records are in {uri}: "
                f"a {earlier_format.upper()} file cannot be appended to; start again with a new JOBDIR "
                "(JSON Lines and CSV feeds resume)"
            )


def _describe(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(arguments.items()) if value is not None)

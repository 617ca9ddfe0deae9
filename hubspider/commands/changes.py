"""`scrapy changes`: tags that moved, appeared or disappeared: the signal to rebuild."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hubspider.cli import StoreCommand, fail
from hubspider.records import image_reference

if TYPE_CHECKING:
    import argparse


def since_in_utc(value: str) -> str:
    """A date or a time, as the store writes times: ISO 8601 UTC, to the second. ValueError
    for one that is not a date, or that UTC cannot hold (0001-01-01T00:00:00+14:00)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not a date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("before year 1 or after year 9999 in UTC") from None
    # isoformat, not strftime: "%Y" does not pad years before 1000, and times compare as text.
    return in_utc.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_since(value: str) -> str:
    try:
        return since_in_utc(value)
    except ValueError as error:
        fail(
            f"invalid --since {value!r} ({error}): expected a date or time such as 2026-11-01 "
            "or 2026-11-01T06:00:00Z"
        )


class Command(StoreCommand):
    def syntax(self) -> str:
        return "[--since DATE] [--json]"

    def short_desc(self) -> str:
        return "List tags that moved, appeared or disappeared (default: in the last crawl)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--since", help="changes seen from this date or time on (default: the last crawl)"
        )

    def run_on_store(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            fail("changes takes no arguments; use --since DATE")
        since = parse_since(opts.since) if opts.since else None
        with self.open_store(opts) as store:
            since = since or store.last_crawl()
            if since is None:
                fail(f"{store.path} holds no crawl yet")
            rows = store.changes(since)
        changes = [
            {
                "change": row["change"],
                "image": image_reference(row["namespace"], row["repository"], row["tag"]),
                "namespace": row["namespace"],
                "repository": row["repository"],
                "tag": row["tag"],
                "at": row["at"],
            }
            for row in rows
        ]
        if opts.json:
            print(json.dumps(changes, indent=2))
            return
        for change in changes:
            print(f"{change['change']:<12} {change['image']:<48} {change['at']}")
        print(f"{len(changes)} changes since {since}")

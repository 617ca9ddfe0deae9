"""The one way the project writes a moment: ISO 8601 in UTC, to the second (`2026-11-22T06:00:00Z`).

Records' `seen_at`, the journal and the log all use it, and the store compares such strings
as text: they must all be written alike.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_timestamp(moment: datetime | float) -> str:
    """`moment` (an aware datetime, or seconds since the epoch) in UTC, to the second."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    # isoformat, not strftime: "%Y" does not pad years before 1000, and times compare as text.
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

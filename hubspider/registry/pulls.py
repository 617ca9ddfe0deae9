"""Docker Hub's pull limit: a manifest GET is a pull, counted in a rolling window
(`ratelimit-limit: 100;w=21600`). Pure: the clock is a parameter."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_PULL_HEADER = re.compile(r"^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+)\s*)?$")


class PullWindowUsed(IgnoreRequest):
    """A pull not made because the window is used up: deferred to the next run, not lost."""


def parse_pull_header(value: str) -> tuple[int, int] | None:
    """`100;w=21600` -> (100, 21600); a count without a window gives window 0 (unknown);
    anything else None."""
    match = _PULL_HEADER.match(value)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def too_many_requests(status: int, body: bytes) -> bool:
    """Whether an answer is the registry's pull-limit refusal: a 429 whose JSON `errors` carry
    the code TOOMANYREQUESTS (the code, not the wording, which changes)."""
    if status != 429:
        return False
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return isinstance(errors, list) and any(
        isinstance(error, dict) and error.get("code") == "TOOMANYREQUESTS" for error in errors
    )


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


class PullBudget:
    """What the registry said of its pull limit, and whether one more pull fits.

    Answers to concurrent pulls come back in any order, so the lowest remaining count seen
    is kept: an answer that arrives late must not give back pulls already made. A rolling
    window frees pulls only hours later, longer than a run waits for, so a used-up window
    stays used up for the run.
    """

    def __init__(self) -> None:
        #: Pulls per window; None: no limit announced (unlimited, or nothing asked yet).
        self.limit: int | None = None
        self.remaining: int | None = None
        #: The window in seconds; 0 when the registry does not say.
        self.window = 0
        self.last_counted_at: float | None = None
        self.used_up = False
        self.made = 0
        self.refused = 0

    def observe(self, limit: tuple[int, int] | None, remaining: tuple[int, int] | None, now: float) -> None:
        """A pull's answer: its `ratelimit-limit` and `ratelimit-remaining`, parsed."""
        if limit is None or remaining is None:
            return
        self.limit, self.window = limit[0], limit[1] or remaining[1]
        self.remaining = remaining[0] if self.remaining is None else min(self.remaining, remaining[0])
        self.last_counted_at = now
        if self.remaining <= 0:
            self.used_up = True

    def refused_by_registry(self, now: float) -> None:
        """A 429 TOOMANYREQUESTS: the registry counts the window used up, whatever we saw."""
        self.used_up = True
        self.remaining = 0
        self.last_counted_at = now

    @property
    def exhausted(self) -> bool:
        return self.used_up

    def may_pull(self, in_flight: int) -> bool:
        """Whether one more pull fits, counting the `in_flight` ones not answered yet."""
        if self.used_up:
            return False
        return self.remaining is None or self.remaining - in_flight > 0

    def describe(self) -> str:
        """`100 pulls per 6 h, 0 left; 37 pulls made, 5 refused`: for the closing report."""
        said = []
        if self.limit is not None:
            said.append(
                f"{self.limit} pulls per {_duration(self.window)}" if self.window else f"{self.limit} pulls"
            )
        if self.remaining is not None:
            said.append(f"{self.remaining} left")
        counted = f"{self.made} pulls made, {self.refused} refused"
        return f"{', '.join(said)}; {counted}" if said else counted

    def resets_by(self, now: float) -> float | None:
        """When the window is whole again at the latest (every pull counted so far has left
        it), or None when no window is known."""
        if self.last_counted_at is None or not self.window:
            return None
        return max(self.last_counted_at + self.window, now)


_budgets: WeakKeyDictionary[Crawler, PullBudget] = WeakKeyDictionary()


def pull_budget(crawler: Crawler) -> PullBudget:
    """The crawl's one PullBudget: the pull-limit middleware keeps it, the spider reads it."""
    budget = _budgets.get(crawler)
    if budget is None:
        budget = _budgets[crawler] = PullBudget()
    return budget

"""The rate-limit arithmetic on its own: when to come back, how to spread a window, and how
long the whole crawl may be held."""

from __future__ import annotations

import asyncio
import itertools
from email.utils import formatdate

import pytest
from scrapy import Request
from scrapy.http import Response

from hubspider.ratelimit import (
    LOGGED_EXTENSION,
    PACING_INTERVAL_MAX,
    RESET_MARGIN,
    Pacer,
    RateLimitedTooLong,
    retry_at,
    sleep_unless,
)

NOW = 1_800_000_000.0


def answer(**headers: str) -> Response:
    return Response(
        "https://hub.docker.com/v2/",
        status=429,
        headers=headers,
        request=Request("https://hub.docker.com/v2/"),
    )


def test_x_retry_after_is_a_unix_time():
    assert retry_at(answer(**{"X-Retry-After": "1800000030"}), NOW) == (1_800_000_030, "X-Retry-After")


def test_retry_after_in_seconds():
    assert retry_at(answer(**{"Retry-After": "12"}), NOW) == (NOW + 12, "Retry-After")


def test_retry_after_as_an_http_date():
    date = formatdate(NOW + 40, usegmt=True)
    assert retry_at(answer(**{"Retry-After": date}), NOW) == (NOW + 40, "Retry-After")


def test_a_bare_429_names_no_time():
    assert retry_at(answer(), NOW) is None


def test_garbage_in_the_headers_names_no_time():
    assert retry_at(answer(**{"Retry-After": "soon", "X-Retry-After": "later"}), NOW) is None


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pacer():
    return Pacer(Clock())


def test_without_a_limit_every_turn_is_now(pacer):
    assert [pacer.reserve() for _ in range(3)] == [NOW, NOW, NOW]


def test_the_remaining_budget_is_spread_over_the_window(pacer):
    pacer.observe(remaining=10, reset=NOW + 5)
    assert [pacer.reserve() - NOW for _ in range(3)] == [0.0, 0.5, 1.0]


def test_requests_in_flight_count_against_the_budget(pacer):
    pacer.in_flight = 5
    pacer.observe(remaining=10, reset=NOW + 5)
    assert pacer.interval == 1.0


def test_an_empty_budget_holds_everything_until_the_reset(pacer):
    pacer.observe(remaining=0, reset=NOW + 7)
    assert pacer.reserve() == NOW + 7 + RESET_MARGIN


def test_a_hold_only_ever_moves_later(pacer):
    pacer.hold(NOW + 30, "429")
    pacer.hold(NOW + 10, "429")
    assert pacer.blocked_until == NOW + 30


def test_a_window_hours_long_is_not_spread_into_silent_waits(pacer):
    pacer.observe(remaining=10, reset=NOW + 86_400)
    assert pacer.interval == PACING_INTERVAL_MAX


@pytest.fixture
def budget():
    """A pacer that may hold the crawl for 100 s in all."""
    return Pacer(Clock(), max_wait=100)


def test_a_hold_says_why_how_long_and_until_when(budget):
    hold = budget.hold(NOW + 30, "429 with Retry-After")
    assert (hold.cause, hold.seconds, hold.until) == ("429 with Retry-After", 30, NOW + 30)


def test_a_hold_is_paid_from_the_budget(budget):
    budget.hold(NOW + 30, "429")
    assert budget.wait_left == 70


def test_overlapping_holds_are_paid_once(budget):
    budget.hold(NOW + 30, "429")
    budget.hold(NOW + 40, "429")
    assert budget.wait_left == 60


def test_the_budget_is_for_the_whole_crawl_not_each_request(budget):
    for _ in range(3):
        budget.hold(budget.clock() + 30, "429")
        budget.clock.now += 30
    with pytest.raises(RateLimitedTooLong):
        budget.hold(budget.clock() + 30, "429")


def test_a_hold_past_the_budget_is_refused_not_held(budget):
    with pytest.raises(RateLimitedTooLong):
        budget.hold(NOW + 86_400, "429 with Retry-After")
    assert budget.blocked_until < NOW
    assert budget.wait_left == 100


def test_the_refusal_names_the_wait_asked_for_and_the_cap(budget):
    budget.hold(NOW + 40, "429")
    with pytest.raises(RateLimitedTooLong) as refusal:
        budget.hold(NOW + 86_400, "429 with Retry-After")
    assert str(refusal.value) == (
        "Hub asked to wait 86400 s (429 with Retry-After), more than the 60 s left of "
        "HUB_RATELIMIT_MAX_WAIT (100 s for the whole crawl)"
    )


def test_after_a_refusal_every_hold_is_refused(budget):
    with pytest.raises(RateLimitedTooLong):
        budget.hold(NOW + 86_400, "429")
    with pytest.raises(RateLimitedTooLong):
        budget.hold(NOW + 1, "429")
    assert budget.refused is not None


def test_an_empty_window_resetting_tomorrow_is_refused(budget):
    with pytest.raises(RateLimitedTooLong, match="X-RateLimit-Remaining 0"):
        budget.observe(remaining=0, reset=NOW + 86_400)


def test_a_hold_is_worth_a_log_line_when_it_starts(budget):
    assert budget.hold(NOW + 5, "429") is not None


def test_a_hold_moved_a_little_later_is_not_logged_again(budget):
    budget.hold(NOW + 5, "429")
    assert budget.hold(NOW + 5.01, "429") is None


def test_a_hold_moved_much_later_is_logged_again(budget):
    budget.hold(NOW + 5, "429")
    assert budget.hold(NOW + 5 + LOGGED_EXTENSION, "429") is not None


def test_a_hold_after_the_last_one_ended_is_logged(budget):
    budget.hold(NOW + 5, "429")
    budget.clock.now += 10
    assert budget.hold(budget.clock() + 0.5, "429") is not None


def test_a_hold_within_the_current_one_is_free_and_silent(budget):
    budget.hold(NOW + 30, "429")
    assert budget.hold(NOW + 10, "429") is None
    assert budget.wait_left == 70


def bounded(coroutine):
    """Run a sleep, failing rather than hanging if it does not end."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


def test_a_sleep_nobody_stops_is_slept_whole():
    assert bounded(sleep_unless(0.01, lambda: False)) is True


def test_a_stopping_crawl_ends_a_day_long_sleep():
    assert bounded(sleep_unless(86_400, lambda: True)) is False


def test_a_crawl_that_starts_stopping_mid_sleep_ends_it():
    checks = itertools.count()
    assert bounded(sleep_unless(86_400, lambda: next(checks) >= 3)) is False

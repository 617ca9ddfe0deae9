"""The rate-limit arithmetic on its own: when to come back, and how to spread a window."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from scrapy import Request
from scrapy.http import Response

from hubspider.ratelimit import RESET_MARGIN, Pacer, retry_at

NOW = 1_800_000_000.0


def answer(**headers: str) -> Response:
    return Response(
        "https://hub.docker.com/v2/",
        status=429,
        headers=headers,
        request=Request("https://hub.docker.com/v2/"),
    )


def test_x_retry_after_is_a_unix_time():
    assert retry_at(answer(**{"X-Retry-After": "1800000030"}), NOW) == 1_800_000_030


def test_retry_after_in_seconds():
    assert retry_at(answer(**{"Retry-After": "12"}), NOW) == NOW + 12


def test_retry_after_as_an_http_date():
    assert retry_at(answer(**{"Retry-After": formatdate(NOW + 40, usegmt=True)}), NOW) == NOW + 40


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


def test_a_block_only_ever_moves_later(pacer):
    pacer.block(NOW + 30)
    pacer.block(NOW + 10)
    assert pacer.blocked_until == NOW + 30

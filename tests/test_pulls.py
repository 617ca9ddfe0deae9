"""The pull limit's arithmetic on its own: its headers, and whether one more pull fits."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from hubspider.downloadermiddlewares.pulls import pull_limit_answer
from hubspider.registry.meta import PULL_META
from hubspider.registry.pulls import (
    PullBudget,
    PullWindowUsed,
    parse_pull_header,
    pull_budget,
    too_many_requests,
)

NOW = 1_800_000_000.0
SIX_HOURS = 21600


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("100;w=21600", (100, 21600)),
        ("37;w=21600", (37, 21600)),
        ("0;w=21600", (0, 21600)),
        (" 200 ; w = 21600 ", (200, 21600)),
        ("100", (100, 0)),
    ],
)
def test_pull_headers(value, parsed):
    assert parse_pull_header(value) == parsed


@pytest.mark.parametrize("value", ["", "w=21600", "-1;w=21600", "1.5;w=60", "100;w=", "100;x=5", "lots"])
def test_garbage_pull_headers(value):
    assert parse_pull_header(value) is None


def observed(limit: int, remaining: int, now: float = NOW) -> PullBudget:
    budget = PullBudget()
    budget.observe((limit, SIX_HOURS), (remaining, SIX_HOURS), now)
    return budget


def test_before_any_answer_every_pull_may_go():
    assert PullBudget().may_pull(in_flight=50)


def test_without_headers_pulls_are_unlimited():
    budget = PullBudget()
    budget.observe(None, None, NOW)
    assert budget.may_pull(in_flight=1000)
    assert budget.limit is None
    assert budget.resets_by(NOW) is None


def test_a_limit_without_a_remaining_count_says_nothing():
    budget = PullBudget()
    budget.observe((100, SIX_HOURS), None, NOW)
    assert budget.remaining is None
    assert budget.may_pull(in_flight=1000)


def test_pulls_in_flight_count_against_what_remains():
    budget = observed(100, 3)
    assert budget.may_pull(in_flight=2)
    assert not budget.may_pull(in_flight=3)
    assert not budget.exhausted


def test_a_window_at_zero_is_exhausted():
    budget = observed(100, 0)
    assert budget.exhausted
    assert not budget.may_pull(in_flight=0)


def test_a_late_answer_does_not_give_back_pulls():
    budget = observed(100, 5)
    budget.observe((100, SIX_HOURS), (7, SIX_HOURS), NOW + 1)
    assert budget.remaining == 5


def test_a_429_exhausts_the_window_whatever_was_seen():
    budget = observed(100, 40)
    budget.refused_by_registry(NOW + 5)
    assert budget.exhausted
    assert not budget.may_pull(in_flight=0)
    assert budget.resets_by(NOW + 5) == NOW + 5 + SIX_HOURS


def test_an_exhausted_window_stays_so_for_the_run():
    budget = observed(100, 0)
    budget.observe((100, SIX_HOURS), (100, SIX_HOURS), NOW + SIX_HOURS + 1)
    assert budget.exhausted


def test_the_window_is_whole_again_a_window_after_the_last_counted_pull():
    budget = observed(100, 10, NOW)
    budget.observe((100, SIX_HOURS), (9, SIX_HOURS), NOW + 30)
    assert budget.resets_by(NOW + 60) == NOW + 30 + SIX_HOURS


def test_a_reset_already_past_is_now():
    assert observed(100, 0).resets_by(NOW + 2 * SIX_HOURS) == NOW + 2 * SIX_HOURS


def test_a_429_before_any_limit_was_seen_has_no_reset_estimate():
    budget = PullBudget()
    budget.refused_by_registry(NOW)
    assert budget.resets_by(NOW) is None


def test_the_window_comes_from_remaining_when_limit_omits_it():
    budget = PullBudget()
    budget.observe((100, 0), (3, SIX_HOURS), NOW)
    assert budget.resets_by(NOW) == NOW + SIX_HOURS


def test_a_used_window_is_not_a_loss():
    assert issubclass(PullWindowUsed, IgnoreRequest)


def test_one_budget_a_crawl():
    crawler, other = get_crawler(), get_crawler()
    assert pull_budget(crawler) is pull_budget(crawler)
    assert pull_budget(crawler) is not pull_budget(other)


TOO_MANY = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}'


def test_the_registrys_pull_limit_answer():
    assert too_many_requests(429, TOO_MANY)


def test_the_code_counts_not_the_wording():
    assert too_many_requests(429, b'{"errors":[{"code":"DENIED"},{"code":"TOOMANYREQUESTS","message":"?"}]}')


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, TOO_MANY),
        (503, TOO_MANY),
        (429, b'{"detail":"Rate limit exceeded","error":false}'),
        (429, b"Too Many Requests (HAP429)"),
        (429, b'{"errors":[{"code":"DENIED","message":"TOOMANYREQUESTS"}]}'),
        (429, b'{"errors":"TOOMANYREQUESTS"}'),
        (429, b'["TOOMANYREQUESTS"]'),
        (429, b"\xff"),
    ],
)
def test_other_answers_are_not_the_pull_limit(status, body):
    assert not too_many_requests(status, body)


def test_a_budget_described():
    budget = observed(100, 0)
    budget.made, budget.refused = 37, 5
    assert budget.describe() == "100 pulls per 6 h, 0 left; 37 pulls made, 5 refused"


def test_a_budget_that_knows_no_limit_described():
    assert PullBudget().describe() == "0 pulls made, 0 refused"


def test_a_window_that_is_no_whole_hour_described_in_seconds():
    budget = PullBudget()
    budget.observe((10, 90), (9, 90), NOW)
    assert budget.describe().startswith("10 pulls per 90 s, 9 left")


def answer(headers: dict[str, str]) -> tuple[Request, Response]:
    request = Request("https://registry.example/v2/app/manifests/1", meta={PULL_META: True})
    return request, Response(request.url, status=429, headers=headers, body=TOO_MANY, request=request)


def test_a_429_without_a_time_to_come_back_is_the_pull_limit():
    assert pull_limit_answer(*answer({}))


def test_a_429_that_says_when_to_come_back_is_a_burst_limit_to_wait_out():
    # MCR and distribution answer a burst so; the rate-limit middleware waits it out.
    assert not pull_limit_answer(*answer({"Retry-After": "2"}))


def test_a_hub_api_429_is_not_the_pull_limit():
    request = Request("https://hub.docker.com/v2/repositories/library/")
    assert not pull_limit_answer(request, Response(request.url, status=429, body=TOO_MANY, request=request))

"""The emulator's knobs: rate limits, faults, sign-in, the anonymous depth cap and churn."""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import time
from typing import TYPE_CHECKING, Any

import pytest

from fakehub import HubServer, make_hub
from fakehub.__main__ import make_server, parse_arguments
from fakehub.server import CHURN_TAG_NAME, RateLimiter

if TYPE_CHECKING:
    from email.message import Message

TAGS = "/v2/repositories/library/alpine/tags?page_size=100&ordering=last_updated"
RATE_LIMITED = {"detail": "Rate limit exceeded", "error": False}
CAPPED = {
    "message": "pagination offset too large for anonymous requests; sign in to page further",
    "errinfo": {},
}


def call(
    server: HubServer,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def get_json(server: HubServer, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = call(server, path, headers=headers)
    return status, json.loads(body)


def post_json(server: HubServer, path: str, payload: Any) -> tuple[int, Any]:
    status, _, body = call(server, path, "POST", json.dumps(payload).encode())
    return status, json.loads(body)


def sign_in(server: HubServer, user: str = "alice", secret: str = "pat") -> str:
    status, body = post_json(server, "/v2/auth/token", {"identifier": user, "secret": secret})
    assert status == 200
    return body["access_token"]


# Rate limit


@pytest.mark.e2e
def test_no_rate_limit_headers_by_default():
    with HubServer(make_hub(3, 300)) as server:
        _, headers, _ = call(server, TAGS)
    assert not [name for name in headers if name.lower().startswith("x-ratelimit")]


@pytest.mark.e2e
def test_rate_limit_headers_count_down():
    with HubServer(make_hub(3, 300), rate_limit=5) as server:
        before = time.time()
        answers = [call(server, TAGS) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert [h["X-RateLimit-Limit"] for _, h, _ in answers] == ["5", "5", "5"]
    assert [h["X-RateLimit-Remaining"] for _, h, _ in answers] == ["4", "3", "2"]
    reset = answers[0][1]["X-RateLimit-Reset"]
    assert reset.isdigit()
    assert before + 60 <= int(reset) <= math.ceil(before + 61)
    assert {h["X-RateLimit-Reset"] for _, h, _ in answers} == {reset}


@pytest.mark.e2e
def test_rate_limit_headers_are_on_every_answer():
    with HubServer(make_hub(3, 300), rate_limit=5) as server:
        status, headers, _ = call(server, "/v2/nope")
        post_status, post_headers, _ = call(server, "/v2/nope", "POST", b"{}")
    assert (status, headers["X-RateLimit-Remaining"]) == (404, "4")
    assert (post_status, post_headers["X-RateLimit-Remaining"]) == (404, "3")


@pytest.mark.e2e
def test_over_the_limit_is_429_with_x_retry_after():
    with HubServer(make_hub(3, 300), rate_limit=2) as server:
        call(server, TAGS)
        call(server, TAGS)
        status, headers, body = call(server, TAGS)
        stats = server.stats
    assert status == 429
    assert json.loads(body) == RATE_LIMITED
    assert headers["X-Retry-After"] == headers["X-RateLimit-Reset"]
    assert headers["X-Retry-After"].isdigit()
    assert headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in headers
    assert (stats["429"], stats["status/429"], stats["status/200"], stats["requests"]) == (1, 1, 2, 3)


@pytest.mark.e2e
def test_over_the_limit_is_429_with_retry_after_seconds():
    with HubServer(make_hub(3, 300), rate_limit=1, rate_limit_style="retry-after-seconds") as server:
        call(server, TAGS)
        status, headers, body = call(server, TAGS)
    assert (status, json.loads(body)) == (429, RATE_LIMITED)
    assert 59 <= int(headers["Retry-After"]) <= 60
    assert "X-Retry-After" not in headers


@pytest.mark.e2e
def test_over_the_limit_is_429_with_retry_after_date():
    with HubServer(make_hub(3, 300), rate_limit=1, rate_limit_style="retry-after-date") as server:
        call(server, TAGS)
        status, headers, body = call(server, TAGS)
    assert (status, json.loads(body)) == (429, RATE_LIMITED)
    assert headers["Retry-After"].endswith(" GMT")
    retry_at = email.utils.parsedate_to_datetime(headers["Retry-After"]).timestamp()
    assert retry_at == int(headers["X-RateLimit-Reset"])


@pytest.mark.e2e
def test_over_the_limit_is_a_bare_429():
    with HubServer(make_hub(3, 300), rate_limit=1, rate_limit_style="bare") as server:
        _, allowed_headers, _ = call(server, TAGS)
        status, headers, body = call(server, TAGS)
    assert allowed_headers["X-RateLimit-Remaining"] == "0"
    assert (status, body) == (429, b"Too Many Requests (HAP429)")
    assert headers["Content-Type"] == "text/plain"
    assert not [name for name in headers if "retry" in name.lower() or "ratelimit" in name.lower()]


@pytest.mark.e2e
def test_the_next_window_lets_requests_through_again():
    with HubServer(make_hub(3, 300), rate_limit=2, rate_window=0.5) as server:
        call(server, TAGS)
        call(server, TAGS)
        status, headers, _ = call(server, TAGS)
        assert status == 429
        retry_at = float(headers["X-Retry-After"])
        assert headers["X-Retry-After"] == f"{retry_at:.3f}"
        time.sleep(max(0.0, retry_at - time.time()) + 0.02)
        status, headers, _ = call(server, TAGS)
    assert (status, headers["X-RateLimit-Remaining"]) == (200, "1")
    assert float(headers["X-RateLimit-Reset"]) == pytest.approx(retry_at + 0.5, abs=0.002)


def test_limiter_counts_down_and_refusals_do_not_consume_the_window():
    limiter = RateLimiter(2, 60.0)
    assert limiter.check(1000.0) == (
        True,
        {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1060"},
    )
    assert limiter.check(1001.0)[1]["X-RateLimit-Remaining"] == "0"
    for moment in (1002.0, 1059.9):
        allowed, headers = limiter.check(moment)
        assert not allowed
        assert headers["X-Retry-After"] == "1060"
    assert limiter.check(1060.0) == (
        True,
        {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1120"},
    )


def test_limiter_windows_follow_each_other_or_restart_after_idling():
    limiter = RateLimiter(1, 10.0)
    assert limiter.check(100.5)[1]["X-RateLimit-Reset"] == "111"  # ceil(110.5)
    assert limiter.check(115.0)[1]["X-RateLimit-Reset"] == "121"  # starts where the first ended
    allowed, headers = limiter.check(147.25)  # idle through a whole window: starts now
    assert allowed
    assert headers["X-RateLimit-Reset"] == "158"


def test_limiter_short_windows_have_milliseconds():
    limiter = RateLimiter(1, 0.5)
    assert limiter.check(10.1234)[1]["X-RateLimit-Reset"] == "10.623"
    assert limiter.check(10.2)[1]["X-Retry-After"] == "10.623"


def test_limiter_retry_after_seconds_round_up_to_at_least_one():
    limiter = RateLimiter(1, 60.0, "retry-after-seconds")
    limiter.check(0.0)
    assert limiter.check(1.5)[1]["Retry-After"] == "59"
    assert limiter.check(59.99)[1]["Retry-After"] == "1"


def test_limiter_retry_after_date_is_the_window_end():
    limiter = RateLimiter(1, 60.0, "retry-after-date")
    limiter.check(1_700_000_000.0)
    assert limiter.check(1_700_000_001.0)[1]["Retry-After"] == "Tue, 14 Nov 2023 22:14:20 GMT"


def test_limiter_bare_refusal_has_no_headers():
    limiter = RateLimiter(1, 60.0, "bare")
    limiter.check(0.0)
    assert limiter.check(1.0) == (False, {})


@pytest.mark.parametrize(
    "arguments",
    [{"limit": 0}, {"limit": 1, "window": 0}, {"limit": 1, "style": "polite"}],
)
def test_limiter_rejects_bad_arguments(arguments):
    with pytest.raises(ValueError):  # noqa: PT011
        RateLimiter(**arguments)


# Faults


@pytest.mark.e2e
@pytest.mark.parametrize("fault", ["500", "502", "504"])
def test_server_error_faults(fault):
    with HubServer(make_hub(3, 300), fault_rate=1.0, faults=(fault,)) as server:
        status, headers, body = call(server, TAGS)
        stats = server.stats
    assert status == int(fault)
    assert headers["Content-Type"] == "application/json"
    assert set(json.loads(body)) == {"message"}
    assert stats[f"faults/{fault}"] == 1


@pytest.mark.e2e
def test_reset_fault_resets_the_connection():
    with HubServer(make_hub(3, 300), fault_rate=1.0, faults=("reset",)) as server:
        with pytest.raises(ConnectionResetError):  # RemoteDisconnected is one too
            call(server, TAGS)
        stats = server.stats
    assert stats["faults/reset"] == 1
    assert not [key for key in stats if key.startswith("status/")]


@pytest.mark.e2e
def test_html_fault_is_a_200_html_page():
    with HubServer(make_hub(3, 300), fault_rate=1.0, faults=("html",)) as server:
        status, headers, body = call(server, TAGS)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert body.startswith(b"<!DOCTYPE html>")


@pytest.mark.e2e
def test_truncated_fault_cuts_the_json_but_not_the_http_message():
    host = {"Host": "hub.example"}
    with HubServer(make_hub(3, 300)) as server:
        _, _, whole = call(server, TAGS, headers=host)
    with HubServer(make_hub(3, 300), fault_rate=1.0, faults=("truncated",)) as server:
        status, headers, body = call(server, TAGS, headers=host)
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert int(headers["Content-Length"]) == len(body) == len(whole) // 2
    assert body == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


@pytest.mark.e2e
def test_slow_fault_waits_then_serves():
    with HubServer(make_hub(3, 300), fault_rate=1.0, faults=("slow",), slow_seconds=0.3) as server:
        started = time.monotonic()
        status, body = get_json(server, TAGS)
    assert time.monotonic() - started >= 0.3
    assert (status, len(body["results"])) == (200, 100)


@pytest.mark.e2e
def test_faults_are_deterministic_for_a_seed():
    def statuses(seed: int) -> list[int]:
        faults = ("500", "502", "504")
        with HubServer(make_hub(3, 300), fault_rate=0.5, faults=faults, fault_seed=seed) as server:
            return [call(server, TAGS)[0] for _ in range(24)]

    first = statuses(7)
    assert first == statuses(7)
    assert first != statuses(8)
    assert 200 in first
    assert {500, 502, 504} & set(first)


@pytest.mark.e2e
def test_no_faults_by_default():
    with HubServer(make_hub(3, 300)) as server:
        assert {call(server, TAGS)[0] for _ in range(10)} == {200}
        assert not [key for key in server.stats if key.startswith("faults/")]


@pytest.mark.e2e
def test_faults_come_after_the_rate_limit():
    with HubServer(make_hub(3, 300), rate_limit=1, fault_rate=1.0, faults=("500",)) as server:
        first_status, first_headers, _ = call(server, TAGS)
        second_status, _, _ = call(server, TAGS)
        stats = server.stats
    assert (first_status, first_headers["X-RateLimit-Remaining"]) == (500, "0")
    assert second_status == 429
    assert stats["faults/500"] == 1


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="gremlins"):
        HubServer(make_hub(3, 300), fault_rate=1.0, faults=("gremlins",))


# Sign-in


@pytest.mark.e2e
def test_token_endpoint_issues_opaque_tokens_for_known_users():
    with HubServer(make_hub(3, 300), users={"alice": "pat"}) as server:
        first, second = sign_in(server), sign_in(server)
        stats = server.stats
    assert first != second
    assert len(first) >= 40
    assert stats["auth/tokens_issued"] == 2


@pytest.mark.e2e
@pytest.mark.parametrize(("user", "secret"), [("alice", "wrong"), ("bob", "pat")])
def test_token_endpoint_refuses_bad_credentials(user, secret):
    with HubServer(make_hub(3, 300), users={"alice": "pat"}) as server:
        status, body = post_json(server, "/v2/auth/token", {"identifier": user, "secret": secret})
        stats = server.stats
    assert (status, body) == (401, {"detail": "Incorrect authentication credentials"})
    assert stats["auth/tokens_issued"] == 0


@pytest.mark.e2e
@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"identifier": "alice"}', b'{"identifier": "alice", "secret": 1}', b""]
)
def test_token_endpoint_refuses_malformed_bodies(body):
    with HubServer(make_hub(3, 300), users={"alice": "pat"}) as server:
        status, _, answer = call(server, "/v2/auth/token", "POST", body)
    assert status == 400
    assert "detail" in json.loads(answer)


@pytest.mark.e2e
def test_deprecated_login_route_gives_a_working_token():
    with HubServer(make_hub(3, 3000), users={"alice": "pat"}) as server:
        status, body = post_json(server, "/v2/users/login", {"username": "alice", "password": "pat"})
        assert (status, list(body)) == (200, ["token"])
        status, _ = get_json(server, TAGS + "&page=11", token=body["token"])
        assert status == 200
        bad_status, _ = post_json(server, "/v2/users/login", {"identifier": "alice", "secret": "pat"})
        assert bad_status == 400


@pytest.mark.e2e
def test_expired_and_unknown_tokens_are_401():
    with HubServer(make_hub(3, 300), users={"alice": "pat"}, token_ttl=0.2) as server:
        token = sign_in(server)
        assert get_json(server, TAGS, token=token)[0] == 200
        time.sleep(0.25)
        expired = get_json(server, TAGS, token=token)
        unknown = get_json(server, TAGS, token="made-up")
        stats = server.stats
    assert expired == unknown == (401, {"detail": "Token is expired or invalid"})
    assert (stats["auth/rejected"], stats["auth/signed_in"]) == (2, 1)


@pytest.mark.e2e
def test_unknown_post_path_is_404_json():
    with HubServer(make_hub(3, 300)) as server:
        status, body = post_json(server, "/v2/repositories/library/alpine/tags", {})
        get_status, _ = get_json(server, "/v2/auth/nope")
    assert (status, set(body)) == (404, {"message", "errinfo"})
    assert get_status == 404


# Anonymous depth cap


@pytest.mark.e2e
def test_anonymous_tag_pages_at_offset_1000_are_403_but_served_when_signed_in():
    hub = make_hub(3, 3000)
    assert len(hub.namespaces["library"]["alpine"].tags) > 1100
    with HubServer(hub, users={"alice": "pat"}) as server:
        assert get_json(server, TAGS + "&page=10")[0] == 200
        assert get_json(server, TAGS + "&page=11") == (403, CAPPED)
        assert get_json(server, TAGS.replace("100", "1000") + "&page=11") == (403, CAPPED)
        status, page = get_json(server, TAGS + "&page=11", token=sign_in(server))
        stats = server.stats
    assert (status, len(page["results"])) == (200, 100)
    assert stats["anonymous_capped"] == 2


@pytest.mark.e2e
def test_repository_listings_are_not_capped():
    with HubServer(make_hub(3, 300), anonymous_offset_cap=1) as server:
        assert get_json(server, "/v2/repositories/library/?page_size=1&page=3")[0] == 200
        assert get_json(server, "/v2/repositories/library/alpine/tags?page_size=1&page=2") == (403, CAPPED)


@pytest.mark.e2e
def test_the_cap_can_be_turned_off():
    with HubServer(make_hub(3, 3000), anonymous_offset_cap=None) as server:
        assert get_json(server, TAGS + "&page=11")[0] == 200


# Churn


@pytest.mark.e2e
def test_churn_add_pushes_a_newest_tag_once_after_page_1():
    hub = make_hub(3, 300)
    repository = hub.namespaces["library"]["alpine"]
    before = len(repository.tags)
    assert before > 100
    with HubServer(hub, churn="add") as server:
        _, first = get_json(server, TAGS)
        _, again = get_json(server, TAGS)
        _, third = get_json(server, TAGS)
        _, small = get_json(server, "/v2/repositories/library/python/tags?page_size=100")
        stats = server.stats
    assert first["count"] == before
    assert again["count"] == third["count"] == before + 1
    assert again["results"][0]["name"] == CHURN_TAG_NAME
    assert again["results"][1:] == first["results"][:99]
    assert again["results"][0]["id"] not in {
        tag.tag_id for r in hub.namespaces["library"].values() for tag in r.tags[1:]
    }
    assert small["count"] == len(hub.namespaces["library"]["python"].tags)
    assert stats["churn/add"] == 1
    pushed = [record for record in hub.expected_records() if record["tag"] == CHURN_TAG_NAME]
    assert {record["repository"] for record in pushed} == {"alpine"}
    assert {record["platform"] for record in pushed} == {"linux/amd64", "linux/arm64/v8", None}


@pytest.mark.e2e
def test_churn_remove_deletes_the_tag_at_position_10():
    hub = make_hub(3, 300)
    repository = hub.namespaces["library"]["alpine"]
    before = list(repository.tags)
    removed = before[10]
    with HubServer(hub, churn="remove") as server:
        _, first = get_json(server, TAGS)
        _, second = get_json(server, TAGS + "&page=2")
    assert first["count"] == len(before)
    assert second["count"] == len(before) - 1
    # Offset paging: the tag that was first on page 2 slid onto page 1 and is missed.
    assert second["results"][0]["id"] == before[101].tag_id
    assert removed.name not in {tag.name for tag in repository.tags}
    assert removed.name not in {record["tag"] for record in hub.expected_records(repositories=["alpine"])}


def test_churn_is_refused_for_unknown_modes():
    with pytest.raises(ValueError, match="churn"):
        HubServer(make_hub(3, 300), churn="shuffle")


# Counters and the command line


@pytest.mark.e2e
def test_counters_by_path_and_by_outcome():
    with HubServer(make_hub(3, 300)) as server:
        call(server, TAGS)
        call(server, TAGS)
        call(server, "/v2/nope")
        requests, stats = server.requests, server.stats
    assert requests[TAGS] == 2
    assert (stats["requests"], stats["status/200"], stats["status/404"]) == (3, 2, 1)


@pytest.mark.e2e
def test_command_line_flags_set_the_knobs():
    args = parse_arguments(
        [
            "--port=0",
            "--rate-limit=7",
            "--rate-window=2.5",
            "--rate-limit-style=bare",
            "--fault-rate=0.25",
            "--faults=500,reset",
            "--fault-seed=3",
            "--slow-seconds=0.5",
            "--user=alice:pat:with:colons",
            "--user=bob:x",
            "--token-ttl=30",
            "--anonymous-offset-cap=0",
            "--churn=remove",
        ]
    )
    server = make_server(args, make_hub(3, 300))
    try:
        assert server.rate_limiter is not None
        assert (server.rate_limiter.limit, server.rate_limiter.window) == (7, 2.5)
        assert server.rate_limiter.style == "bare"
        assert (server.fault_injector.rate, server.fault_injector.kinds) == (0.25, ("500", "reset"))
        assert server.slow_seconds == 0.5
        assert server.tokens.users == {"alice": "pat:with:colons", "bob": "x"}
        assert server.tokens.ttl == 30
        assert server.anonymous_offset_cap is None
        assert server.churn == "remove"
    finally:
        server.server_close()


@pytest.mark.e2e
def test_command_line_defaults_keep_the_knobs_off():
    server = make_server(parse_arguments(["--port=0"]), make_hub(3, 300))
    try:
        assert server.rate_limiter is None
        assert server.fault_injector.rate == 0
        assert server.anonymous_offset_cap == 1000
        assert server.churn is None
    finally:
        server.server_close()

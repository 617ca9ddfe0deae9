"""A Docker Hub API emulator: a real HTTP server on loopback serving a generated hub.

Knobs, all off by default but the anonymous depth cap, reproduce what hub-api.md says the
real Hub does on a bad day: rate limits, faults, sign-in with expiring tokens, the anonymous
pagination cap, and tags pushed or deleted while a crawl pages through a listing.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
import secrets
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .data import pushed_tag

if TYPE_CHECKING:
    from typing import Self

    from .data import Hub, Repository, Tag

STATS_PATH = "/_fakehub/stats"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
REPOSITORY_ORDERINGS = {"name", "-name", "last_updated", "-last_updated", "pull_count", "-pull_count"}
TAG_ORDERINGS = {"last_updated", "-last_updated", "name", "-name"}

REPOSITORIES_PATH = re.compile(
    r"^/v2/(?:repositories/(?P<ns1>[^/]+)/?|namespaces/(?P<ns2>[^/]+)/repositories/?)$"
)
TAGS_PATH = re.compile(
    r"^/v2/(?:repositories|namespaces/(?P<ns2>[^/]+)/repositories)/(?:(?P<ns1>[^/]+)/)?(?P<repo>[^/]+)/tags/?$"
)
IMAGES_PATH = re.compile(
    r"^/v2/(?:repositories|namespaces/(?P<ns2>[^/]+)/repositories)/(?:(?P<ns1>[^/]+)/)?(?P<repo>[^/]+)"
    r"/tags/(?P<tag>[^/]+)/images/?$"
)
TOKEN_PATH = "/v2/auth/token"
LOGIN_PATH = "/v2/users/login"

RATE_LIMIT_STYLES = ("x-retry-after", "retry-after-seconds", "retry-after-date", "bare")
RATE_LIMITED_BODY = b'{"detail":"Rate limit exceeded","error":false}'
BARE_RATE_LIMITED_BODY = b"Too Many Requests (HAP429)"

FAULT_KINDS = ("500", "502", "504", "reset", "slow", "html", "truncated")
# Not among the defaults: a page of the wrong shape is refused, not retried, so a crawl that
# meets it loses that page.
WRONG_SHAPE_FAULT = "shape"
WRONG_SHAPE_BODY = {"detail": "object not found"}
FAULT_MESSAGES = {
    "500": "httperror 500: internal server error",
    "502": "httperror 502: bad gateway",
    "504": "httperror 504: gateway timeout",
}
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Docker Hub</title></head>"
    b"<body><h1>Something went wrong</h1><p>Please try again later.</p></body></html>\n"
)

ANONYMOUS_CAP_ERROR = {
    "message": "pagination offset too large for anonymous requests; sign in to page further",
    "errinfo": {},
}
INVALID_TOKEN_ERROR = {"detail": "Token is expired or invalid"}
BAD_CREDENTIALS_ERROR = {"detail": "Incorrect authentication credentials"}
NOT_FOUND_ERROR = {"message": "httperror 404: object not found", "errinfo": {}}

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# What POST /v2/auth/token answers: a token as Hub does, or a 200 that is not one.
TOKEN_ANSWERS = ("token", "html", "no-token")
NO_TOKEN_BODY = {"detail": "signed in", "user": "someone"}

CHURN_MODES = ("add", "remove")
# A listing that lies: `count` at most one page, or more than it has, or `next` going round.
LIES = ("count-low", "count-high", "loop")
CHURN_TAG_NAME = "pushed-during-crawl"
CHURN_REMOVE_POSITION = 10


class RateLimiter:
    """Hub's fixed-window request limit; `now` is passed in so that tests need not sleep."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        style: str = "x-retry-after",
        *,
        reset_ahead: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("rate limit and window must be positive")
        if style not in RATE_LIMIT_STYLES:
            raise ValueError(f"rate limit style must be one of {', '.join(RATE_LIMIT_STYLES)}")
        self.limit = limit
        self.window = window
        self.style = style
        # Hub's answers as seen on a bad day: a reset announced far ahead (Remaining 0 until
        # tomorrow), or a 429 whose Retry-After names its own time, whatever the window.
        self.reset_ahead = reset_ahead
        self.retry_after = retry_after
        self._start: float | None = None
        self._used = 0
        self._lock = threading.Lock()

    def check(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count a request made at unix time `now`: whether to serve it, and the headers to send."""
        with self._lock:
            if self._start is None or now >= self._start + 2 * self.window:
                self._start, self._used = now, 0
            elif now >= self._start + self.window:
                self._start, self._used = self._start + self.window, 0
            allowed = self._used < self.limit
            if allowed:
                # A refused request does not consume the window, as on Hub.
                self._used += 1
            end = self._start + self.window
            remaining = self.limit - self._used
        if not allowed and self.style == "bare":
            return False, {}
        announced_reset = end if self.reset_ahead is None else now + self.reset_ahead
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": self.format_time(announced_reset),
        }
        if allowed:
            return True, headers
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        elif self.style == "x-retry-after":
            headers["X-Retry-After"] = self.format_time(end)
        elif self.style == "retry-after-seconds":
            headers["Retry-After"] = str(max(1, math.ceil(end - now)))
        else:
            # Rounded up, as an HTTP date has whole seconds and a client must not come back early.
            headers["Retry-After"] = email.utils.formatdate(math.ceil(end), usegmt=True)
        return False, headers

    def format_time(self, moment: float) -> str:
        """Whole seconds as on Hub, but milliseconds for the short windows tests use."""
        return str(math.ceil(moment)) if self.window >= 10 else f"{moment:.3f}"


class FaultInjector:
    """Draws faults from one seeded generator, so that a seed replays the same faults in request order."""

    def __init__(self, rate: float = 0.0, kinds: tuple[str, ...] = FAULT_KINDS, seed: int = 0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        if unknown := set(kinds) - {*FAULT_KINDS, WRONG_SHAPE_FAULT}:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        if rate and not kinds:
            raise ValueError("a fault rate needs at least one fault kind")
        self.rate = rate
        self.kinds = tuple(kinds)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def pick(self) -> str | None:
        """The fault for the next request, or None to serve it as it is."""
        if not self.rate:
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            return self._random.choice(self.kinds)


@dataclass(frozen=True, slots=True)
class Redirect:
    """Answer a request whose path (with its query) matches `pattern` with `status` and a
    Location of `location` expanded with the match (`\\g<0>` is the whole path), as a
    proxy or a moved API would: to another host, or within the origin."""

    pattern: str
    location: str
    status: int = 302

    def __post_init__(self) -> None:
        if self.status not in REDIRECT_STATUSES:
            raise ValueError(f"redirect status must be one of {', '.join(map(str, REDIRECT_STATUSES))}")
        re.compile(self.pattern)

    def location_for(self, path: str) -> str | None:
        match = re.search(self.pattern, path)
        return match.expand(self.location) if match else None


class TokenStore:
    """Known users and the opaque tokens issued to them; tokens expire as Hub's do after 10 minutes."""

    def __init__(self, users: dict[str, str] | None = None, ttl: float = 600.0) -> None:
        self.users = dict(users or {})
        self.ttl = ttl
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, identifier: str, secret: str, now: float) -> str | None:
        """A new token for a known pair, None for anything else."""
        if identifier not in self.users or not secrets.compare_digest(self.users[identifier], secret):
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = now
        return token

    @property
    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def is_valid(self, token: str, now: float) -> bool:
        with self._lock:
            issued = self._issued.get(token)
        return issued is not None and now - issued < self.ttl


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read the crawler's log, not the server's."""

    def send_response(self, code: int, message: str | None = None) -> None:
        self.server.count(f"status/{code}")
        super().send_response(code, message)

    def begin(self) -> None:
        """Per-request state: a handler serves every request of its keep-alive connection."""
        self.server.count_request(self.path)
        if "Authorization" in self.headers:
            # So that a test can tell whether a bearer token reached a host it must not.
            self.server.count("received/authorization")
        self.extra_headers: dict[str, str] = {}
        self.truncate = False
        if self.server.latency:
            time.sleep(self.server.latency)

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            # Not Hub's: lets a benchmark in another process read what was asked.
            self.extra_headers, self.truncate = {}, False
            self.send_body(200, json.dumps(self.server.stats_snapshot()).encode())
            return
        self.begin()
        if self.redirected():
            return
        if not self.admit():
            return
        fault = self.server.fault_injector.pick()
        if fault is not None:
            self.server.count(f"faults/{fault}")
            if self.inject(fault):
                return
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        try:
            signed_in = self.authenticate()
            if match := IMAGES_PATH.match(url.path):
                self.send_images(match["ns1"] or match["ns2"], match["repo"], unquote(match["tag"]))
            elif match := TAGS_PATH.match(url.path):
                namespace = match["ns1"] or match["ns2"]
                self.send_tags(namespace, match["repo"], url.path, query, signed_in)
            elif match := REPOSITORIES_PATH.match(url.path):
                self.send_repositories(match["ns1"] or match["ns2"], url.path, query)
            else:
                self.send_json(404, NOT_FOUND_ERROR)
        except _HttpError as error:
            self.send_json(error.status, error.body)

    def do_POST(self) -> None:
        self.begin()
        body = self.read_body()
        if body:
            self.server.record_post(body)
        if self.redirected():
            return
        if not self.admit():
            return
        path = urlsplit(self.path).path.rstrip("/")
        try:
            if path == TOKEN_PATH:
                self.sign_in(body, "identifier", "secret", "access_token")
            elif path == LOGIN_PATH:
                self.sign_in(body, "username", "password", "token")
            else:
                self.send_json(404, NOT_FOUND_ERROR)
        except _HttpError as error:
            self.send_json(error.status, error.body)

    def redirected(self) -> bool:
        """Answer with the configured redirect; False when this request is not redirected."""
        redirect = self.server.redirect
        location = redirect.location_for(self.path) if redirect is not None else None
        if redirect is None or location is None:
            return False
        self.server.count("redirected")
        self.extra_headers = {"Location": location}
        self.send_json(redirect.status, {"message": f"moved to {location}"})
        return True

    def admit(self) -> bool:
        """Apply the rate limit; False when this request was answered 429."""
        if self.server.take_overload():
            self.server.count("429")
            if self.server.retry_after is not None:
                self.extra_headers = {"Retry-After": str(self.server.retry_after)}
            self.send_body(429, RATE_LIMITED_BODY)
            return False
        limiter = self.server.rate_limiter
        if limiter is None:
            return True
        allowed, self.extra_headers = limiter.check(time.time())
        if allowed:
            return True
        self.server.count("429")
        if limiter.style == "bare":
            self.send_body(429, BARE_RATE_LIMITED_BODY, "text/plain")
        else:
            self.send_body(429, RATE_LIMITED_BODY)
        return False

    def inject(self, fault: str) -> bool:
        """Play `fault`; True when it answered (or dropped) the request, False to go on serving it."""
        if fault in FAULT_MESSAGES:
            self.send_json(int(fault), {"message": FAULT_MESSAGES[fault]})
        elif fault == "html":
            self.send_body(200, HTML_ERROR_PAGE, "text/html; charset=utf-8")
        elif fault == WRONG_SHAPE_FAULT:
            self.send_json(200, WRONG_SHAPE_BODY)
        elif fault == "reset":
            self.reset_connection()
        elif fault == "slow":
            time.sleep(self.server.slow_seconds)
            return False
        else:
            self.truncate = True
            return False
        return True

    def reset_connection(self) -> None:
        """Close with SO_LINGER 0, so that the kernel sends RST and the client sees a reset, not an EOF."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket: the descriptor closes only when both are closed.
        self.rfile.close()
        self.connection.close()

    def read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", 0))
        except ValueError:
            length = -1
        if length < 0 or "Transfer-Encoding" in self.headers:
            # A body we cannot delimit would be read as the next request: end the connection instead.
            self.close_connection = True
            return b""
        return self.rfile.read(length)

    def authenticate(self) -> bool:
        """Whether the request is signed in; a bearer token that is not (or no longer) valid is 401."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "jwt") or not token.strip():
            return False
        if not self.server.tokens.is_valid(token.strip(), time.monotonic()):
            self.server.count("auth/rejected")
            raise _HttpError(401, INVALID_TOKEN_ERROR)
        self.server.count("auth/signed_in")
        return True

    def sign_in(self, body: bytes, identifier_key: str, secret_key: str, token_key: str) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get(identifier_key), str)
            and isinstance(payload.get(secret_key), str)
        ):
            raise _HttpError(
                400, {"detail": f"expected a JSON object with {identifier_key} and {secret_key}"}
            )
        token = self.server.tokens.issue(payload[identifier_key], payload[secret_key], time.monotonic())
        if token is None:
            self.server.count("auth/login_failed")
            raise _HttpError(401, BAD_CREDENTIALS_ERROR)
        self.server.count("auth/tokens_issued")
        if self.server.token_answer == "html":
            self.send_body(200, HTML_ERROR_PAGE, "text/html; charset=utf-8")
        elif self.server.token_answer == "no-token":
            self.send_json(200, NO_TOKEN_BODY)
        else:
            self.send_json(200, {token_key: token})

    def send_repositories(self, namespace: str, path: str, query: dict[str, str]) -> None:
        repositories = self.server.hub.namespaces.get(namespace)
        if repositories is None:
            raise _HttpError(
                404, {"message": f"httperror 404: namespace '{namespace}' not found", "errinfo": {}}
            )
        ordering = query.get("ordering", "name")
        if ordering not in REPOSITORY_ORDERINGS:
            raise _HttpError(400, {"message": f"invalid ordering '{ordering}'", "errinfo": {}})
        items = [repository.api() for repository in repositories.values()]
        field = ordering.lstrip("-")
        items.sort(key=lambda item: item[field], reverse=ordering.startswith("-"))
        encoded = [json.dumps(item, separators=(",", ":")).encode() for item in items]
        self.send_body(200, self.page(encoded, path, query))

    def send_tags(
        self, namespace: str, name: str, path: str, query: dict[str, str], signed_in: bool = False
    ) -> None:
        repository = self.server.hub.repository(namespace, name)
        if repository is None:
            raise _HttpError(404, NOT_FOUND_ERROR)
        ordering = query.get("ordering", "last_updated")
        if ordering not in TAG_ORDERINGS:
            raise _HttpError(400, {"message": f"invalid ordering '{ordering}'", "errinfo": {}})
        page, page_size = _page_arguments(query)
        cap = self.server.anonymous_offset_cap
        if cap is not None and not signed_in and (page - 1) * page_size >= cap:
            self.server.count("anonymous_capped")
            raise _HttpError(403, ANONYMOUS_CAP_ERROR)
        tags: list[Tag] = repository.tags
        if ordering == "-last_updated":
            tags = tags[::-1]
        elif ordering in ("name", "-name"):
            tags = sorted(repository.unique_tags, key=lambda tag: tag.name, reverse=ordering == "-name")
        body = self.page([tag.json for tag in tags], path, query)
        if page == 1:
            # Before answering, so that the client's next request already meets the changed listing.
            self.server.churn_once(repository)
        self.send_body(200, body)

    def send_images(self, namespace: str, name: str, tag_name: str) -> None:
        """The UI endpoint: every image of one tag, with its build steps as `layers`."""
        repository = self.server.hub.repository(namespace, name)
        if repository is None:
            raise _HttpError(404, NOT_FOUND_ERROR)
        tag = next((tag for tag in repository.tags if tag.name == tag_name), None)
        if tag is None:
            raise _HttpError(404, {"message": f"httperror 404: tag '{tag_name}' not found", "errinfo": {}})
        self.send_json(200, [image.images_api() for image in tag.build.images])

    def page(self, items: list[bytes], path: str, query: dict[str, str]) -> bytes:
        page, page_size = _page_arguments(query)
        start = (page - 1) * page_size
        if start >= len(items) and page > 1:
            raise _HttpError(404, {"message": "httperror 404: page not found", "errinfo": {}})
        end = start + page_size
        base = f"http://{self.headers.get('Host', '127.0.0.1')}{path}"

        def link(number: int) -> bytes:
            return json.dumps(
                f"{base}?{urlencode(query | {'page': number, 'page_size': page_size})}"
            ).encode()

        next_link = link(page + 1) if end < len(items) else b"null"
        last_page = max(-(-len(items) // page_size), 1)
        if "loop" in self.server.lies and page == max(last_page - 1, 1):
            # A listing that goes round: the page before the last links back to the first.
            next_link = link(1)
        previous_link = link(page - 1) if page > 1 else b"null"
        return b'{"count":%d,"next":%s,"previous":%s,"results":[%s]}' % (
            self.server.told_count(len(items)),
            next_link,
            previous_link,
            b",".join(items[start:end]),
        )

    def send_json(self, status: int, payload: Any) -> None:
        self.send_body(status, json.dumps(payload).encode())

    def send_body(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        if self.truncate:
            # Cut the JSON, not the HTTP message: Content-Length matches what is sent.
            body = body[: len(body) // 2]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _page_arguments(query: dict[str, str]) -> tuple[int, int]:
    """Page number and page size, the size capped silently as Hub does."""
    try:
        page = int(query.get("page", "1"))
        page_size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise _HttpError(400, {"message": "invalid page or page_size", "errinfo": {}}) from None
    if page < 1 or page_size < 1:
        raise _HttpError(400, {"message": "invalid page or page_size", "errinfo": {}})
    return page, min(page_size, MAX_PAGE_SIZE)


class _HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1, quiet about clients that hang up."""

    daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout) closes its end: not the server's error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ServerGroup:
    """Loopback servers started and stopped together, each on a thread: a registry first, then
    its token service (and a CDN). A subclass sets `_servers` and `thread_name`."""

    thread_name = "fakehub"
    _servers: list[LoopbackServer]

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return self._servers[0].url

    @property
    def auth_url(self) -> str:
        return self._servers[1].url

    def start(self) -> Self:
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self.thread_name,
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class HubServer(LoopbackServer):
    """Serves `hub` on 127.0.0.1; `requests` counts what was asked, by path, and `stats` what happened."""

    def __init__(
        self,
        hub: Hub,
        port: int = 0,
        latency: float = 0.0,
        *,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        rate_limit_style: str = "x-retry-after",
        reset_ahead: float | None = None,
        retry_after: int | None = None,
        overload: int = 0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULT_KINDS,
        fault_seed: int = 0,
        slow_seconds: float = 3.0,
        users: dict[str, str] | None = None,
        token_ttl: float = 600.0,
        anonymous_offset_cap: int | None = 1000,
        churn: str | None = None,
        lies: tuple[str, ...] = (),
        redirect: Redirect | None = None,
        token_answer: str = "token",
    ) -> None:
        if unknown_lies := set(lies) - set(LIES):
            raise ValueError(f"unknown lies: {', '.join(sorted(unknown_lies))}")
        if churn is not None and churn not in CHURN_MODES:
            raise ValueError(f"churn must be one of {', '.join(CHURN_MODES)}")
        if token_answer not in TOKEN_ANSWERS:
            raise ValueError(f"token answer must be one of {', '.join(TOKEN_ANSWERS)}")
        # Checked before binding, so that a bad argument leaves no open socket behind.
        self.rate_limiter = (
            RateLimiter(
                rate_limit, rate_window, rate_limit_style, reset_ahead=reset_ahead, retry_after=retry_after
            )
            if rate_limit is not None
            else None
        )
        # The first `overload` requests are answered 429 (with Retry-After: retry_after, if
        # given), as Hub's front end does under load, whatever the rate limit says.
        self.overload = overload
        self.retry_after = retry_after
        self.fault_injector = FaultInjector(fault_rate, faults, fault_seed)
        super().__init__(("127.0.0.1", port), HubRequestHandler)
        self.hub = hub
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.tokens = TokenStore(users, token_ttl)
        self.anonymous_offset_cap = anonymous_offset_cap
        self.churn = churn
        self.lies = frozenset(lies)
        self.redirect = redirect
        self.token_answer = token_answer
        # Request bodies as received: a test checks that no secret reached a host it must not.
        self.posted: list[bytes] = []
        self.requests: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._churned: set[tuple[str, str]] = set()
        self._next_tag_id: int | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def stats_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.stats)

    def count_request(self, path: str) -> None:
        with self._lock:
            self.requests[path] += 1
            self.stats["requests"] += 1

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def take_overload(self) -> bool:
        """Whether this request is one of the first `overload`, to be answered 429."""
        with self._lock:
            if self.overload <= 0:
                return False
            self.overload -= 1
            return True

    def record_post(self, body: bytes) -> None:
        with self._lock:
            self.posted.append(body)

    def told_count(self, count: int) -> int:
        """The `count` a listing page says, which a lying listing gets wrong."""
        if "count-low" in self.lies:
            return min(count, MAX_PAGE_SIZE)
        if "count-high" in self.lies:
            return count + 150
        return count

    def churn_once(self, repository: Repository) -> None:
        """Push or delete a tag of a multi-page repository, once, as happens during a real crawl."""
        if self.churn is None:
            return
        key = (repository.namespace, repository.name)
        with self._lock:
            if key in self._churned:
                return
            if self._next_tag_id is None:
                self._next_tag_id = _max_tag_id(self.hub) + 1
            if churn_repository(repository, self.churn, self._next_tag_id):
                self._churned.add(key)
                self._next_tag_id += 1
                self.stats[f"churn/{self.churn}"] += 1

    def start(self) -> HubServer:
        # A short poll, so that stop() is quick: tests start a server each.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="fakehub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def churn_repository(repository: Repository, mode: str, new_tag_id: int) -> bool:
    """Push a tag to, or delete one from, a repository with more than one full page; False if too small."""
    tags = repository.tags
    if len(tags) <= MAX_PAGE_SIZE:
        return False
    # A new list, not an edit in place: requests being served keep a consistent listing.
    if mode == "add":
        repository.tags = [pushed_tag(repository, CHURN_TAG_NAME, new_tag_id), *tags]
    else:
        repository.tags = tags[:CHURN_REMOVE_POSITION] + tags[CHURN_REMOVE_POSITION + 1 :]
    return True


def _max_tag_id(hub: Hub) -> int:
    return max(
        (tag.tag_id for repos in hub.namespaces.values() for r in repos.values() for tag in r.tags), default=0
    )

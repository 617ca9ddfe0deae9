"""Bearer tokens for the registry, one per repository scope, added at download time only.

The registry names its token service in the challenge of `GET /v2/` (asked once, when the first
request needs a token). The Docker Hub credentials go to that service only when it is on
HUB_REGISTRY_AUTH_URL's origin; any other token service (a mirror's, ECR Public's) is asked
anonymously, so that a registry URL cannot lure the PAT elsewhere. A token is added to a request
on the registry's origin and taken off again with the answer: no request in the scheduler, the
JOBDIR, a redirect to the CDN or a log holds it. Requests without REGISTRY_SCOPE_META (every
`library` crawl request) pass untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
from base64 import b64encode
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from hubspider import stats
from hubspider.config import Credentials, hub_config
from hubspider.downloadermiddlewares.origin import REDIRECT_STATUSES, redirect_target
from hubspider.hub.pages import api_message
from hubspider.origins import same_origin
from hubspider.redaction import redact_in_logs
from hubspider.registry.challenge import Challenge, parse_challenge
from hubspider.registry.meta import REGISTRY_SCOPE_META, TOKEN_REQUEST_META
from hubspider.registry.urls import base_url

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

RETRIED_401_META = "hubspider_registry_retried_401"
#: The distribution spec's lifetime of a token whose answer gives no `expires_in`.
DEFAULT_EXPIRES_IN = 60


class RegistryAuthError(IgnoreRequest):
    """No token for a registry request: the request fails with this one line."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    renew_at: float


def renew_at(obtained_at: float, expires_in: float) -> float:
    """When to ask for a new token: at three quarters of its life, so that one taken just
    before that still outlives a slow download."""
    return obtained_at + max(expires_in, 0) * 0.75


def token_request_url(challenge: Challenge, scope: str) -> str:
    """The realm asked for one scope, keeping any query the realm has."""
    query = urlencode(
        {"service": challenge.service, "scope": scope} if challenge.service else {"scope": scope}
    )
    return f"{challenge.realm}{'&' if '?' in challenge.realm else '?'}{query}"


def token_from_answer(response: Response, now: float) -> Token:
    """The token of a token service's answer; RegistryAuthError (one line) for anything else.
    A redirect is never followed: it could carry the credentials anywhere."""
    where = response.url.split("?")[0]
    if response.status in REDIRECT_STATUSES:
        raise RegistryAuthError(
            f"token service {where} redirected to {redirect_target(response) or 'nowhere'}: refused"
        )
    if response.status != 200:
        said = " ".join((api_message(response) or "").split())[:200]
        refusal = f"token service {where} answered HTTP {response.status}"
        raise RegistryAuthError(f"{refusal}: {said}" if said else refusal)
    try:
        answer = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        raise RegistryAuthError(f"token service {where} answered HTTP 200 without JSON: refused") from None
    if not isinstance(answer, dict):
        raise RegistryAuthError(f"token service {where} answered JSON that is not an object: refused")
    value = answer.get("token") or answer.get("access_token")
    if not isinstance(value, str) or not value:
        raise RegistryAuthError(f"token service {where} answered without a token: refused")
    expires_in = answer.get("expires_in")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return Token(value, renew_at(now, expires_in))


def challenge_from_answer(response: Response) -> Challenge | None:
    """What `GET /v2/` says: a 200 needs no token (None); a 401 names the token service."""
    if response.status == 200:
        return None
    if response.status != 401:
        raise RegistryAuthError(f"registry {response.url} answered HTTP {response.status}, not a challenge")
    header = response.headers.get("WWW-Authenticate")
    if not header:
        raise RegistryAuthError(f"registry {response.url} answered 401 without WWW-Authenticate")
    try:
        return parse_challenge(header.decode("latin-1"))
    except ValueError as error:
        raise RegistryAuthError(f"registry {response.url}: {error}") from None


def basic_authorization(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.token}".encode()
    return f"Basic {b64encode(pair).decode('ascii')}"


class RegistryAuthMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        config = hub_config(crawler)
        self.crawler = crawler
        self.stats = crawler.stats
        self.registry_url = config.registry_url
        self.auth_url = config.registry_auth_url
        self.credentials = config.credentials
        self.clock = time.monotonic
        #: Unknown until the first request needs it; then the challenge, or None for no auth.
        self._challenge: Challenge | None = None
        self._discovered = False
        self._tokens: dict[str, Token] = {}
        #: Why no token can be had (the registry's challenge, or a scope's token service).
        self._failures: dict[str | None, str] = {}
        self._locks: dict[str | None, asyncio.Lock] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get(TOKEN_REQUEST_META):
            self._sign_token_request(request)
            return
        scope = request.meta.get(REGISTRY_SCOPE_META)
        if not scope:
            return
        # A token is for the registry's origin only: not the CDN a blob redirects to.
        request.headers.pop(b"Authorization", None)
        if not same_origin(request.url, self.registry_url):
            return
        token = await self.token_for(scope)
        if token is not None:
            request.headers[b"Authorization"] = f"Bearer {token}"

    def process_response(self, request: Request, response: Response) -> Request | Response:
        meta = request.meta
        if not meta.get(REGISTRY_SCOPE_META) and not meta.get(TOKEN_REQUEST_META):
            return response
        sent = request.headers.pop(b"Authorization", None)
        if response.status != 401 or not sent or meta.get(TOKEN_REQUEST_META) or meta.get(RETRIED_401_META):
            return response
        # Expired early or revoked: drop it, and try once more with a new one.
        self.stats.inc_value(stats.REGISTRY_401)
        scope = meta[REGISTRY_SCOPE_META]
        held = self._tokens.get(scope)
        if held is not None and sent[0].decode("latin-1") == f"Bearer {held.value}":
            del self._tokens[scope]
        retry = request.replace(dont_filter=True)
        retry.meta[RETRIED_401_META] = True
        return retry

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.get(REGISTRY_SCOPE_META) or request.meta.get(TOKEN_REQUEST_META):
            # A retry of this request goes back to the scheduler: without the token.
            request.headers.pop(b"Authorization", None)

    def _sign_token_request(self, request: Request) -> None:
        """The credentials go to HUB_REGISTRY_AUTH_URL's origin only, and only for a crawl of
        Docker Hub's registry (`HubSpider.reads_docker_hub`). Added here, at download time,
        after the Hub sign-in middleware (950), which takes any Authorization off a request
        that is not for the API."""
        request.headers.pop(b"Authorization", None)
        if not getattr(self.crawler.spider, "reads_docker_hub", True):
            return
        if self.credentials is not None and same_origin(request.url, self.auth_url):
            request.headers[b"Authorization"] = basic_authorization(self.credentials)

    async def token_for(self, scope: str) -> str | None:
        """The token for `scope`, asked once even when many requests want it at once; None
        when the registry needs none. RegistryAuthError when none can be had."""
        held = self._tokens.get(scope)
        if held is not None and self.clock() < held.renew_at:
            return held.value
        challenge = await self._discover()
        if challenge is None:
            return None
        async with self._lock(scope):
            held = self._tokens.get(scope)
            if held is not None and self.clock() < held.renew_at:
                return held.value
            self._fail_if_failed(scope)
            try:
                token = await self._fetch_token(challenge, scope)
            except RegistryAuthError as error:
                self._failures[scope] = str(error)
                raise self._failed(str(error)) from None
            self._tokens[scope] = token
            return token.value

    async def _discover(self) -> Challenge | None:
        if self._discovered:
            return self._challenge
        async with self._lock(None):
            if not self._discovered:
                self._fail_if_failed(None)
                try:
                    response = await self._download(Request(base_url(self.registry_url), dont_filter=True))
                    self._challenge = challenge_from_answer(response)
                except RegistryAuthError as error:
                    self._failures[None] = str(error)
                    raise self._failed(str(error)) from None
                self._discovered = True
        return self._challenge

    async def _fetch_token(self, challenge: Challenge, scope: str) -> Token:
        request = Request(
            token_request_url(challenge, scope),
            meta={TOKEN_REQUEST_META: True, "dont_redirect": True},
            dont_filter=True,
        )
        signed_in = self.credentials is not None and same_origin(request.url, self.auth_url)
        response = await self._download(request)
        token = token_from_answer(response, self.clock())
        redact_in_logs(token.value)
        self.stats.inc_value(stats.REGISTRY_TOKENS)
        if signed_in:
            self.stats.inc_value(stats.REGISTRY_TOKENS_SIGNED_IN)
        return token

    async def _download(self, request: Request) -> Response:
        request.meta.setdefault("dont_redirect", True)
        assert self.crawler.engine is not None
        try:
            return await self.crawler.engine.download_async(request)
        except IgnoreRequest as error:
            raise RegistryAuthError(f"{request.url.split('?')[0]}: {error}") from None
        except Exception as error:
            raise RegistryAuthError(f"{request.url.split('?')[0]}: {type(error).__name__}: {error}") from None

    def _lock(self, key: str | None) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _fail_if_failed(self, key: str | None) -> None:
        """A token service that failed once is not asked again for that scope this run: the
        images wait for the next run, rather than each asking again in vain."""
        if (reason := self._failures.get(key)) is not None:
            raise self._failed(reason)

    def _failed(self, reason: str) -> RegistryAuthError:
        self.stats.inc_value(stats.REGISTRY_AUTH_FAILED)
        return RegistryAuthError(f"no registry token: {' '.join(reason.split())}")

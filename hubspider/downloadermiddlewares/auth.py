"""Signing in to Docker Hub with a personal access token, and keeping it secret.

Anonymous tag listings stop at offset 1000; a bearer token lifts that cap. The token is
added to each request at download time, so no stored request, log line, stat or export
ever holds it, and log records are scrubbed of the PAT and every token in case a setting
or an error message carries one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING

from scrapy import Request, signals
from scrapy.exceptions import CloseSpider, NotConfigured

from hubspider import stats
from hubspider.config import Credentials, hub_config
from hubspider.downloadermiddlewares.origin import REDIRECT_STATUSES, redirect_target
from hubspider.hub.pages import api_message
from hubspider.origins import same_origin
from hubspider.redaction import redact_in_logs

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

AUTH_META = "hubspider_sign_in"
RETRIED_401_META = "hubspider_retried_401"
REDACTED = "********"


class SignInError(Exception):
    """Hub did not give a token; the message is one line for the user."""


def token_from(response: Response) -> str:
    """The access token of an answer to POST /v2/auth/token. Anything else fails the sign-in:
    a redirect is never followed (it would carry the PAT to wherever it points), and a 200
    that is not a token (a captive portal, a proxy's page) must not pass for a signed-in crawl."""
    if response.status in REDIRECT_STATUSES:
        target = redirect_target(response) or "nowhere (no Location)"
        raise SignInError(f"HTTP {response.status} redirect to {target}: refused")
    if response.status != 200:
        said = api_message(response) or response.body[:100].decode("utf-8", "replace")
        raise SignInError(f"HTTP {response.status}: {' '.join(said.split())}")
    try:
        answer = json.loads(response.body)
    except ValueError:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0]
        raise SignInError(
            f"HTTP 200 {content_type or 'without a Content-Type'} ({len(response.body)} bytes), "
            "not a token: refused"
        ) from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise SignInError("HTTP 200 JSON without an access_token: refused")
    return token


class HubAuthMiddleware:
    def __init__(self, crawler: Crawler, credentials: Credentials) -> None:
        self.crawler = crawler
        self.credentials = credentials
        self.api_url = hub_config(crawler).api_url
        self.renew_after = crawler.settings.getfloat("HUB_TOKEN_RENEW_AFTER")
        self.token: str | None = None
        self.issued_at = 0.0
        self._renewing: asyncio.Lock | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        credentials = hub_config(crawler).credentials
        if credentials is None:
            raise NotConfigured
        return cls(crawler, credentials)

    async def spider_opened(self) -> None:
        """Sign in before the first request, and stop at once if Hub refuses; not for a spider
        that asks no Hub API (`HubSpider.uses_hub_api`), for which it would be a request for
        nothing, and a failed crawl where Hub cannot be reached."""
        if not getattr(self.crawler.spider, "uses_hub_api", True):
            return
        try:
            await self.renew()
        except SignInError as error:
            logger.error("Sign-in to %s as %r failed: %s", self.api_url, self.credentials.username, error)
            self.crawler.stats.set_value(stats.AUTH_FAILED, 1)
            raise CloseSpider("sign_in_failed") from None
        logger.info("Signed in to %s as %r", self.api_url, self.credentials.username)

    async def renew(self) -> None:
        """Get a new access token, once even when many requests find the old one stale."""
        if self._renewing is None:
            self._renewing = asyncio.Lock()
        async with self._renewing:
            if self.token is not None and not self._expiring():
                return
            self.token = await self._fetch_token()
            self.issued_at = time.monotonic()
            redact_in_logs(self.token)
            self.crawler.stats.inc_value(stats.AUTH_TOKENS)

    def _expiring(self) -> bool:
        return time.monotonic() - self.issued_at > self.renew_after

    async def _fetch_token(self) -> str:
        body = json.dumps({"identifier": self.credentials.username, "secret": self.credentials.token})
        request = Request(
            f"{self.api_url}/v2/auth/token",
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
            # The PAT is in the body: a redirect is a failed sign-in, never followed (token_from).
            meta={AUTH_META: True, "dont_redirect": True},
            dont_filter=True,
        )
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as error:
            raise SignInError(f"{type(error).__name__}: {error}") from None
        return token_from(response)

    async def process_request(self, request: Request) -> None:
        if request.meta.get(AUTH_META) or not same_origin(request.url, self.api_url):
            request.headers.pop(b"Authorization", None)
            return
        if self.token is None or self._expiring():
            await self.renew()
        request.headers[b"Authorization"] = f"Bearer {self.token}"

    def process_response(self, request: Request, response: Response) -> Request | Response:
        sent = request.headers.pop(b"Authorization", None)
        if response.status != 401 or not sent or request.meta.get(RETRIED_401_META):
            return response
        # The token expired early or was revoked: renew it (in process_request) and try once more.
        self.crawler.stats.inc_value(stats.AUTH_401)
        if sent[0].decode().removeprefix("Bearer ") == self.token:
            self.token = None
        retry = request.replace(dont_filter=True)
        retry.meta[RETRIED_401_META] = True
        return retry

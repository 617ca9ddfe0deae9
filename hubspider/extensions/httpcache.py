"""An HTTP cache policy for developing against the real Hub, or a registry, without asking twice.

It stores only good answers: never a 429, a 5xx or any other error, never a 200 whose body
is not a page (Hub sometimes sends HTML), and never the sign-in or a registry token request,
whose answer is a token. Requests reach the cache before the sign-in and registry auth
middlewares add their bearer (settings.DOWNLOADER_MIDDLEWARES: both after the cache's 900),
and those take it off again on the way back, before the cache stores the answer, so no token
is written to the cache.

A registry request (REGISTRY_SCOPE_META) is judged by what it asked: a listing page must be a
JSON object, a manifest or blob may be any body (the spider checks it against its digest), and
a manifest HEAD is worth keeping only with the Docker-Content-Digest the spider reads from it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from scrapy.extensions.httpcache import DummyPolicy
from scrapy.utils.httpobj import urlparse_cached

from hubspider.downloadermiddlewares.auth import AUTH_META
from hubspider.hub.pages import page_problem
from hubspider.origins import same_origin
from hubspider.registry.meta import REGISTRY_SCOPE_META, TOKEN_REQUEST_META

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

LISTING_PATHS = ("/v2/_catalog", "/tags/list")


class GoodPagesPolicy(DummyPolicy):
    def should_cache_request(self, request: Request) -> bool:
        if request.meta.get(TOKEN_REQUEST_META):
            return False
        methods = ("GET", "HEAD") if request.meta.get(REGISTRY_SCOPE_META) else ("GET",)
        return (
            request.method in methods
            and not request.meta.get(AUTH_META)
            and super().should_cache_request(request)
        )

    def should_cache_response(self, response: Response, request: Request) -> bool:
        if request.meta.get(REGISTRY_SCOPE_META):
            return registry_answer_to_keep(response, request)
        return response.status == 200 and page_problem(response) is None


def registry_answer_to_keep(response: Response, request: Request) -> bool:
    """Whether a registry answer may be stored: a 200 the spider can use, for a request that
    holds no Authorization (the registry auth middleware took it off on the way back)."""
    if response.status != 200 or request.headers.get(b"Authorization"):
        return False
    # A blob's answer from the CDN it redirected to sits at a signed URL that the next crawl
    # is not sent to again, and that URL is a credential while it lasts: not stored.
    redirected = request.meta.get("redirect_urls")
    if redirected and not same_origin(request.url, redirected[0]):
        return False
    path = urlparse_cached(request).path
    if request.method == "HEAD":
        return "/manifests/" in path and bool(response.headers.get(b"Docker-Content-Digest"))
    if path.endswith(LISTING_PATHS):
        return is_json_object(response.body)
    return "/manifests/" in path or "/blobs/" in path


def is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, UnicodeDecodeError):
        return False

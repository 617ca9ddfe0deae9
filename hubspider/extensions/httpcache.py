"""An HTTP cache policy for developing against the real Hub without asking it twice.

It stores only good pages: never a 429, a 5xx or any other error, never a 200 whose body
is not a page (Hub sometimes sends HTML), and never the sign-in request, whose answer is
a token. Requests reach the cache before the sign-in middleware adds the bearer, and the
middleware takes it off again on the way back, so no token is written to the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.extensions.httpcache import DummyPolicy

from hubspider.downloadermiddlewares.auth import AUTH_META
from hubspider.hub.pages import page_problem

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response


class GoodPagesPolicy(DummyPolicy):
    def should_cache_request(self, request: Request) -> bool:
        return (
            request.method == "GET"
            and not request.meta.get(AUTH_META)
            and super().should_cache_request(request)
        )

    def should_cache_response(self, response: Response, request: Request) -> bool:
        return response.status == 200 and page_problem(response) is None

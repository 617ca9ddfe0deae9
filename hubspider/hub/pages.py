"""What a page of the Hub API must look like before the spider reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import orjson

if TYPE_CHECKING:
    from scrapy.http import Response

#: Set on requests for API pages: only those are checked, retried and journaled.
PAGE_META = "hubspider_page"


#: How `page_problem` begins when the body is no JSON at all: the one problem worth a retry.
NOT_JSON = "body is not JSON"

_parsed: WeakKeyDictionary[Response, Any] = WeakKeyDictionary()


def read_json(response: Response) -> Any:
    """The body as JSON, parsed once for the middleware that checks it and the spider."""
    try:
        return _parsed[response]
    except KeyError:
        parsed = _parsed[response] = orjson.loads(response.body)
        return parsed


def page_problem(response: Response) -> str | None:
    """Why this response is not a page of the paginated API shape, or None if it is."""
    try:
        page = read_json(response)
    except ValueError as error:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1") or "no Content-Type"
        return f"{NOT_JSON} ({content_type}, {len(response.body)} bytes: {error})"
    if not isinstance(page, dict):
        return f"expected a JSON object, got {type(page).__name__}"
    if not isinstance(page.get("results"), list):
        return "'results' is missing or not a list"
    if not isinstance(page.get("next"), str | None):
        return "'next' is neither a URL nor null"
    if not isinstance(page.get("count"), int | None):
        return "'count' is not a number"
    return None


@dataclass(frozen=True, slots=True)
class ListingPage:
    """A page of a paginated listing, as the crawl's planning reads it."""

    url: str  # where it was read from, after any redirect
    count: int | None
    next: str | None
    results: list[Any]


def listing_page(response: Response) -> ListingPage:
    """The page a response holds, once `page_problem` has found none."""
    page = read_json(response)
    return ListingPage(response.url, page.get("count"), page.get("next") or None, page["results"])


def api_message(response: Response) -> str | None:
    """What an error answer says: the Hub API's `message` (404, 403) or `detail` (401, 429), a
    token service's `details`, or a registry's first `errors` entry (distribution spec)."""
    try:
        body = read_json(response)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    message = body.get("message") or body.get("detail") or body.get("details")
    errors = body.get("errors")
    if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message") or errors[0].get("code")
    return message if isinstance(message, str) else None

"""The registry's listings, `GET /v2/_catalog` and `GET /v2/<name>/tags/list`: each page's names,
and the next page its `Link: <...>; rel="next"` header names (distribution's pagination; the OCI
distribution spec's "Listing Tags")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urljoin

from hubspider.origins import same_origin

# One link-value of an RFC 8288 Link header: <target>; params.
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
# `next` as a whole relation type, not the start of another (`nextpage`).
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?(?:[^";,]*\s)?next(?=[\s";,]|$)', re.IGNORECASE)


class ListingProblem(ValueError):  # noqa: N818
    """A listing page that cannot be read; its message is one line."""


@dataclass(frozen=True, slots=True)
class ListingPage:
    """The names of one page, and the URL of the next page (None on the last)."""

    names: list[str]
    next: str | None


def next_link(header: str | None, page_url: str) -> str | None:
    """The `rel="next"` target of a Link header, resolved against the page's URL (distribution
    sends it relative); None without one."""
    for match in _LINK.finditer(header or ""):
        if _REL_NEXT.search(match.group(2)):
            return urljoin(page_url, match.group(1).strip())
    return None


def read_listing(body: bytes, key: str, link: str | None, page_url: str, asked: set[str]) -> ListingPage:
    """The page's names under `key` (`repositories` or `tags`) and its next page, which must stay
    on the page's origin and not be one asked for already (a loop); else ListingProblem."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ListingProblem(f"not JSON ({len(body)} bytes: {error})") from None
    if not isinstance(document, dict):
        raise ListingProblem(f"expected a JSON object, got {type(document).__name__}")
    names = document.get(key)
    if names is None:
        names = []  # distribution answers `"tags": null` for a repository without tags
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ListingProblem(f"'{key}' is not a list of names")
    following = next_link(link, page_url)
    if following is not None:
        if not same_origin(following, page_url):
            raise ListingProblem(f"its next link leads off the registry, to {following}: refused")
        if following in asked or following == page_url:
            raise ListingProblem(f"its next link {following} is a page already asked for (a loop)")
        if not names:
            raise ListingProblem(f"an empty page with a next link {following}: refused, it would go round")
    return ListingPage(names, following)

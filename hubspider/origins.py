"""Origins (scheme, host and port): every request of a crawl stays on the ones it is for."""

from __future__ import annotations

from urllib.parse import urlsplit


def same_origin(url: str, other: str) -> bool:
    """Whether `url` is on the scheme, host and port of `other`."""
    return origin_of(url) == origin_of(other)


def origin_of(url: str) -> str:
    """`scheme://host:port` of a URL, lower-cased: what a rate limit or a token is for."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"

"""Origins (scheme, host and port): every request of a crawl stays on the ones it is for."""

from __future__ import annotations

from urllib.parse import urlsplit


def same_origin(url: str, api_url: str) -> bool:
    """Whether `url` stays on the API's scheme, host and port."""
    target, api = urlsplit(url), urlsplit(api_url)
    return (target.scheme, target.netloc.lower()) == (api.scheme, api.netloc.lower())

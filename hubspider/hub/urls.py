"""The Hub API's listing URLs, and which page of a listing a URL asks for."""

from __future__ import annotations

from urllib.parse import quote

from w3lib.url import add_or_replace_parameter, canonicalize_url, url_query_parameter

PAGE_SIZE = 100  # the API's maximum


def repositories_url(api_url: str, namespace: str) -> str:
    return f"{api_url}/v2/repositories/{namespace}/?page_size={PAGE_SIZE}"


def tags_url(api_url: str, namespace: str, repository: str) -> str:
    """The first page of a repository's tags, newest first (an incremental crawl relies on that)."""
    return (
        f"{api_url}/v2/repositories/{namespace}/{quote(repository)}/tags"
        f"?page_size={PAGE_SIZE}&ordering=last_updated"
    )


def tag_images_url(api_url: str, namespace: str, repository: str, tag: str) -> str:
    """Every platform image of a tag with its layers and build steps (hub-api.md, "Layers")."""
    return f"{api_url}/v2/repositories/{namespace}/{quote(repository)}/tags/{quote(tag, safe='')}/images"


def page_key(url: str) -> str:
    """Which page of a listing a URL asks for: the first page is `page=1` whether it says so or not."""
    if url_query_parameter(url, "page") is None:
        url = add_or_replace_parameter(url, "page", "1")
    return canonicalize_url(url)


def numbered_pages(next_url: str, last: int) -> list[tuple[int, str]] | None:
    """Pages 2..last, by the page number in a first page's `next` link; None if it has none."""
    if url_query_parameter(next_url, "page") is None:
        return None
    return [(page, add_or_replace_parameter(next_url, "page", str(page))) for page in range(2, last + 1)]

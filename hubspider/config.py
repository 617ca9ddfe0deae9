"""The project's own settings, parsed once per crawl into one object that every component reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from hubspider.addons import PROFILES
from hubspider.arguments import ArgumentError
from hubspider.redaction import REDACTED

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

DEFAULT_REGISTRY_URL = "https://registry-1.docker.io"
DEFAULT_REGISTRY_AUTH_URL = "https://auth.docker.io"
DEFAULT_REGISTRY_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    username: str
    token: str

    def __repr__(self) -> str:
        return f"Credentials({self.username!r}, {REDACTED})"


def credentials_from(settings: BaseSettings) -> Credentials | None:
    """HUB_USERNAME and HUB_TOKEN, or DOCKERHUB_USERNAME and DOCKERHUB_TOKEN from the environment."""
    username = settings.get("HUB_USERNAME") or os.environ.get("DOCKERHUB_USERNAME", "")
    token = settings.get("HUB_TOKEN") or os.environ.get("DOCKERHUB_TOKEN", "")
    if not username and not token:
        return None
    if not username or not token:
        raise ArgumentError(
            "signing in needs both a username and a token: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN "
            "(or the HUB_USERNAME and HUB_TOKEN settings)"
        )
    return Credentials(username, token)


def _parse_url(name: str, value: str, expected: str, *, with_path: bool) -> str:
    """The URL without a trailing slash, or an ArgumentError naming the setting."""
    url = urlsplit(str(value).strip())
    path = url.path.rstrip("/")
    if (
        url.scheme not in ("http", "https")
        or not url.hostname
        or url.query
        or url.fragment
        or (path and not with_path)
    ):
        raise ArgumentError(f"invalid {name} {value!r}: expected {expected}")
    return f"{url.scheme}://{url.netloc}{path}"


def parse_api_url(value: str) -> str:
    """The `HUB_API_URL` origin without a trailing slash, or an ArgumentError."""
    return _parse_url("HUB_API_URL", value, "an origin such as https://hub.docker.com", with_path=True)


def parse_registry_url(value: str) -> str:
    """`HUB_REGISTRY_URL`: an origin and an optional prefix placed after `/v2/` (ECR Public's
    `https://public.ecr.aws/docker`), without a trailing slash; or an ArgumentError."""
    expected = "an origin such as https://registry-1.docker.io, optionally with a path prefix"
    return _parse_url("HUB_REGISTRY_URL", value, expected, with_path=True)


def parse_registry_auth_url(value: str) -> str:
    """`HUB_REGISTRY_AUTH_URL`: the only origin the Docker Hub credentials may go to in a
    registry token request; or an ArgumentError."""
    expected = "an origin (no path) such as https://auth.docker.io"
    return _parse_url("HUB_REGISTRY_AUTH_URL", value, expected, with_path=False)


@dataclass(frozen=True, slots=True)
class HubConfig:
    """What the crawl needs to know of Docker Hub and of the store."""

    api_url: str
    credentials: Credentials | None
    # Anonymous tag listings answer 403 from this offset on; 0: no cap.
    anonymous_cap: int
    profile: str
    store_enabled: bool
    store_path: str
    registry_url: str
    registry_auth_url: str
    #: The `n` of a registry's catalog and tag list pages.
    registry_page_size: int

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> HubConfig:
        """Raises ArgumentError (one line) for a value that cannot work."""
        profile = settings.get("HUB_PROFILE", "polite")
        if profile not in PROFILES:
            raise ArgumentError(f"unknown HUB_PROFILE {profile!r}: expected one of {', '.join(PROFILES)}")
        return cls(
            api_url=parse_api_url(settings.get("HUB_API_URL")),
            credentials=credentials_from(settings),
            anonymous_cap=settings.getint("HUB_ANONYMOUS_OFFSET_CAP"),
            profile=profile,
            store_enabled=settings.getbool("HUB_STORE_ENABLED"),
            store_path=settings.get("HUB_STORE_PATH"),
            registry_url=parse_registry_url(settings.get("HUB_REGISTRY_URL", DEFAULT_REGISTRY_URL)),
            registry_auth_url=parse_registry_auth_url(
                settings.get("HUB_REGISTRY_AUTH_URL", DEFAULT_REGISTRY_AUTH_URL)
            ),
            registry_page_size=settings.getint("HUB_REGISTRY_PAGE_SIZE", DEFAULT_REGISTRY_PAGE_SIZE),
        )

    @property
    def signed_in(self) -> bool:
        return self.credentials is not None


_configs: WeakKeyDictionary[Crawler, HubConfig] = WeakKeyDictionary()


def hub_config(crawler: Crawler) -> HubConfig:
    """The crawl's HubConfig, parsed from its settings the first time a component asks."""
    config = _configs.get(crawler)
    if config is None:
        config = _configs[crawler] = HubConfig.from_settings(crawler.settings)
    return config

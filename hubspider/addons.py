"""Setting profiles, chosen with `-s HUB_PROFILE=NAME`. A profile outranks settings.py (it
sets at "spider" priority) and yields to settings given on the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

PROFILES: dict[str, dict[str, object]] = {
    # The defaults in settings.py: polite for an anonymous crawl of the real Hub.
    "polite": {},
    # Signed in, Hub's limit is higher: keep more requests in flight and let the
    # rate-limit pacing alone decide the pace.
    "signed-in": {"CONCURRENT_REQUESTS": 32, "CONCURRENT_REQUESTS_PER_DOMAIN": 32},
}


class ProfileAddon:
    def update_settings(self, settings: BaseSettings) -> None:
        name = settings.get("HUB_PROFILE", "polite")
        if name not in PROFILES:
            raise ValueError(f"unknown HUB_PROFILE {name!r}: expected one of {', '.join(PROFILES)}")
        for setting, value in PROFILES[name].items():
            settings.set(setting, value, priority="spider")

"""Spider arguments and the API origin, checked before anything is requested."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A path component of an image name, from the distribution reference grammar.
NAME_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
MAX_NAME_LENGTH = 255


class ArgumentError(ValueError):
    """A spider argument or setting that cannot work; its message is one line for the user."""


def _check_name(kind: str, value: str) -> str:
    if not NAME_COMPONENT.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ArgumentError(
            f"invalid {kind} {value!r}: use lowercase letters, digits and single separators (. _ -), "
            f"starting and ending with a letter or digit, at most {MAX_NAME_LENGTH} characters"
        )
    return value


@dataclass(frozen=True, slots=True)
class CrawlArguments:
    namespace: str = "library"
    repositories: tuple[str, ...] | None = None
    # "auto": read only what changed since the store's last complete crawl of each repository.
    since: str | None = None

    KNOWN = ("namespace", "repos", "since")

    @classmethod
    def parse(cls, arguments: dict[str, Any]) -> CrawlArguments:
        """Check `-a` arguments; names starting with `_` are Scrapyd's (`_job`) and pass."""
        unknown = sorted(key for key in arguments if key not in cls.KNOWN and not key.startswith("_"))
        if unknown:
            raise ArgumentError(
                f"unknown spider argument {unknown[0]!r}: expected one of {', '.join(cls.KNOWN)}"
            )
        namespace = _check_name("namespace", str(arguments.get("namespace", "library")).strip())
        since = arguments.get("since")
        if since is not None and since != "auto":
            raise ArgumentError(f"invalid since {since!r}: the one value is auto (refresh from the store)")
        repos = arguments.get("repos")
        if repos is None:
            return cls(namespace, None, since)
        names = [name.strip() for name in str(repos).split(",")]
        if not any(names):
            raise ArgumentError(
                "repos is empty: give repository names separated by commas, e.g. alpine,nginx"
            )
        repositories = tuple(dict.fromkeys(_check_name("repository", name) for name in names))
        return cls(namespace, repositories, since)

    def describe(self) -> dict[str, Any]:
        repositories = list(self.repositories) if self.repositories is not None else None
        return {"namespace": self.namespace, "repositories": repositories, "since": self.since}

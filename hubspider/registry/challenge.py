"""The registry's `WWW-Authenticate` challenge: where its token service is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# auth-param = token "=" ( token / quoted-string ), RFC 9110 11.2
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    service: str | None


def parse_challenge(header: str) -> Challenge:
    """A Bearer challenge's realm (an http(s) URL) and service; ValueError (one line) otherwise."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise ValueError(f"not a Bearer challenge: {header[:100]!r}")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            raise ValueError(f"malformed Bearer challenge: {header[:100]!r}")
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params.setdefault(match.group(1).lower(), value)
        position = match.end()
    realm = params.get("realm", "")
    url = urlsplit(realm)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"Bearer challenge without an http(s) realm: {header[:100]!r}")
    return Challenge(realm=realm, service=params.get("service") or None)

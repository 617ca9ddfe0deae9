"""Request meta keys between the layers spider and the registry middlewares."""

from __future__ import annotations

#: The token scope (registry_scope()) a request on the registry origin needs.
REGISTRY_SCOPE_META = "hubspider_registry_scope"
#: A manifest GET: a pull, counted against the registry's pull limit.
PULL_META = "hubspider_pull"
#: A blob GET whose redirect may go to any http(s) host (the CDN), without Authorization: its
#: content is checked against its digest, so where it comes from does not matter.
CONTENT_ADDRESSED_META = "hubspider_content_addressed"
#: A request to the token service (the realm) that the registry's challenge named.
TOKEN_REQUEST_META = "hubspider_registry_token"

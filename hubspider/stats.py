"""Every stat the project counts, under one prefix: `hubspider/...` in the crawl's stats."""

from __future__ import annotations

PREFIX = "hubspider"

#: Lost data, and per kind under it (`hubspider/lost/page`): see hubspider/losses.py.
LOST = f"{PREFIX}/lost"
#: Per reason under it (`hubspider/skipped/not_a_platform`).
SKIPPED = f"{PREFIX}/skipped"

ANONYMOUS_CAP_REPOSITORIES = f"{PREFIX}/anonymous_cap/repositories"
ANONYMOUS_CAP_TAGS = f"{PREFIX}/anonymous_cap/tags"

AUTH_401 = f"{PREFIX}/auth/401"
AUTH_FAILED = f"{PREFIX}/auth/failed"
AUTH_TOKENS = f"{PREFIX}/auth/tokens"

FEED_PAGES_UNWRITTEN = f"{PREFIX}/feed/pages_unwritten"

INCREMENTAL_STOPPED_EARLY = f"{PREFIX}/incremental/stopped_early"
INCREMENTAL_WHOLE_WALKS = f"{PREFIX}/incremental/whole_walks"

# The `layers` spider.
#: Platform images whose compressed layers the Hub API announced, stored (one per image an answer lists).
LAYERS_ANNOUNCED = f"{PREFIX}/layers/announced"
LAYERS_ANNOUNCE_FAILED = f"{PREFIX}/layers/announce_failed"
LAYERS_CONFIGS = f"{PREFIX}/layers/configs"
LAYERS_DEFERRED = f"{PREFIX}/layers/deferred"
LAYERS_GONE = f"{PREFIX}/layers/gone"
LAYERS_HEADS = f"{PREFIX}/layers/heads"
LAYERS_MANIFESTS = f"{PREFIX}/layers/manifests"
LAYERS_PENDING = f"{PREFIX}/layers/pending"
LAYERS_RECORDS = f"{PREFIX}/layers/records"
LAYERS_REFUSED = f"{PREFIX}/layers/refused"
LAYERS_STORED = f"{PREFIX}/layers/stored"
LAYERS_TAG_IMAGES = f"{PREFIX}/layers/tag_images"

OFFSITE_REFUSED = f"{PREFIX}/offsite/refused"

PAGES = f"{PREFIX}/pages"

# The registry's pull limit (downloadermiddlewares/pulls.py).
PULLS_429 = f"{PREFIX}/pulls/429"
PULLS_BAD_HEADERS = f"{PREFIX}/pulls/bad_headers"
PULLS_LIMIT = f"{PREFIX}/pulls/limit"
PULLS_MADE = f"{PREFIX}/pulls/made"
PULLS_REFUSED = f"{PREFIX}/pulls/refused"
PULLS_REMAINING = f"{PREFIX}/pulls/remaining"
PULLS_RESETS_BY = f"{PREFIX}/pulls/resets_by"

RATELIMIT_429 = f"{PREFIX}/ratelimit/429"
RATELIMIT_BAD_HEADERS = f"{PREFIX}/ratelimit/bad_headers"
RATELIMIT_GAVE_UP = f"{PREFIX}/ratelimit/gave_up"
RATELIMIT_HELD_SECONDS = f"{PREFIX}/ratelimit/held_seconds"
RATELIMIT_HOLDS = f"{PREFIX}/ratelimit/holds"

RECORDS_DUPLICATE = f"{PREFIX}/records/duplicate"
RECORDS_EXPORTED = f"{PREFIX}/records/exported"
RECORDS_PRODUCED = f"{PREFIX}/records/produced"

REDIRECT_REFUSED = f"{PREFIX}/redirect/refused"

# The `registry` spider: what it asked a registry for, and what it found.
REGISTRY_CATALOG_PAGES = f"{PREFIX}/registry/catalog_pages"
REGISTRY_CONFIGS = f"{PREFIX}/registry/configs"
REGISTRY_HEADS = f"{PREFIX}/registry/heads"
REGISTRY_MANIFESTS = f"{PREFIX}/registry/manifests"
#: Content that was not what its digest says: refused, and lost.
REGISTRY_REFUSED = f"{PREFIX}/registry/refused"
#: Repositories the catalog lists that answer 404: nothing to read, nothing lost.
REGISTRY_REPOSITORIES_UNKNOWN = f"{PREFIX}/registry/repositories_unknown"
#: Tags the list named that were deleted before their HEAD.
REGISTRY_TAGS_GONE = f"{PREFIX}/registry/tags_gone"
REGISTRY_TAGS_PAGES = f"{PREFIX}/registry/tags_pages"

# Tokens for the registry (downloadermiddlewares/registryauth.py).
REGISTRY_401 = f"{PREFIX}/registry/401"
REGISTRY_AUTH_FAILED = f"{PREFIX}/registry/auth_failed"
REGISTRY_CONTENT_REDIRECTS = f"{PREFIX}/registry/content_redirects"
REGISTRY_TOKENS = f"{PREFIX}/registry/tokens"
REGISTRY_TOKENS_SIGNED_IN = f"{PREFIX}/registry/tokens_signed_in"

REPOSITORIES = f"{PREFIX}/repositories"
REPOSITORIES_COUNTED = f"{PREFIX}/repositories/counted"
REPOSITORIES_DONE = f"{PREFIX}/repositories/done"
REPOSITORIES_TOTAL = f"{PREFIX}/repositories/total"

RESUME_BROKEN_LINES_REMOVED = f"{PREFIX}/resume/broken_lines_removed"

REWALKS = f"{PREFIX}/rewalks"

SKIPPED_IMAGE_WITHOUT_DIGEST = f"{PREFIX}/skipped/image_without_digest"
SKIPPED_NOT_A_PLATFORM = f"{PREFIX}/skipped/not_a_platform"
SKIPPED_TAG_WITHOUT_DIGEST = f"{PREFIX}/skipped/tag_without_digest"

STORE_RECORDS = f"{PREFIX}/store/records"
STORE_REPOSITORIES_CARRIED_FORWARD = f"{PREFIX}/store/repositories_carried_forward"
STORE_REPOSITORIES_COMPLETE = f"{PREFIX}/store/repositories_complete"
STORE_WRITER_CPU_SECONDS = f"{PREFIX}/store/writer_cpu_seconds"
STORE_WRITER_PEAK_RSS_MB = f"{PREFIX}/store/writer_peak_rss_mb"

TAGS_INVALID = f"{PREFIX}/tags/invalid"
TAGS_RECEIVED = f"{PREFIX}/tags/received"
TAGS_TOTAL = f"{PREFIX}/tags/total"

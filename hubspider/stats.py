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

OFFSITE_REFUSED = f"{PREFIX}/offsite/refused"

PAGES = f"{PREFIX}/pages"

RATELIMIT_429 = f"{PREFIX}/ratelimit/429"
RATELIMIT_BAD_HEADERS = f"{PREFIX}/ratelimit/bad_headers"
RATELIMIT_GAVE_UP = f"{PREFIX}/ratelimit/gave_up"
RATELIMIT_HELD_SECONDS = f"{PREFIX}/ratelimit/held_seconds"
RATELIMIT_HOLDS = f"{PREFIX}/ratelimit/holds"

RECORDS_DUPLICATE = f"{PREFIX}/records/duplicate"
RECORDS_EXPORTED = f"{PREFIX}/records/exported"
RECORDS_PRODUCED = f"{PREFIX}/records/produced"

REDIRECT_REFUSED = f"{PREFIX}/redirect/refused"

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

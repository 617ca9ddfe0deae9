"""hubspider settings. Every one here can be overridden with `-s NAME=VALUE`."""

BOT_NAME = "hubspider"

SPIDER_MODULES = ["hubspider.spiders"]
NEWSPIDER_MODULE = "hubspider.spiders"
# Our `crawl` command: one-line argument errors, and a non-zero exit status on loss.
COMMANDS_MODULE = "hubspider.commands"

# `-s HUB_PROFILE=signed-in` for a signed-in crawl as fast as Hub's limit allows.
HUB_PROFILE = "polite"
ADDONS = {"hubspider.addons.ProfileAddon": 0}

# Where the Hub API lives; point it at the emulator to crawl offline
# (`-s HUB_API_URL=http://127.0.0.1:8080`). Every request stays on this origin.
HUB_API_URL = "https://hub.docker.com"

# Where the `layers` spider reads manifests and config blobs. A path after the host is a prefix
# before <namespace>/<repository>: `https://public.ecr.aws/docker` reads ECR Public's copies of
# the official images. Content is checked against its digest, so any copy is safe to read.
HUB_REGISTRY_URL = "https://registry-1.docker.io"
# The one token service the Docker Hub credentials may be sent to; a registry whose challenge
# names another is asked anonymously.
HUB_REGISTRY_AUTH_URL = "https://auth.docker.io"
# The `n` the `registry` spider asks a registry's catalog and tag lists for: distribution serves
# at most 1000 a page (MCR answers everything at once), and pages on by the Link header.
HUB_REGISTRY_PAGE_SIZE = 1000

USER_AGENT = "hubspider (+https://github.com/hubspider/hubspider)"
# An API, not a website: robots.txt would cost a request and says nothing about /v2/.
ROBOTSTXT_OBEY = False
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
DEFAULT_REQUEST_HEADERS = {"Accept": "application/json"}

# Signing in lifts the anonymous cap of 1000 tags a repository. Leave these empty and set
# the environment variables DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (a personal access
# token): settings given with -s show in process lists and Scrapyd's job list.
HUB_USERNAME = ""
HUB_TOKEN = ""
# Access tokens last 10 minutes; renew a little before.
HUB_TOKEN_RENEW_AFTER = 480
# Anonymous tag listings answer 403 from this offset on.
HUB_ANONYMOUS_OFFSET_CAP = 1000

# One origin: with the two equal, the scheduler's priorities (listings and first pages
# first) decide the order, not a queue inside the downloader.
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
# AutoThrottle adapts to latency but not to 429s or X-RateLimit-*; the pacing below does.
AUTOTHROTTLE_ENABLED = False

# Pace by Hub's X-RateLimit-* headers and wait out 429s, each origin on its own
# (hubspider/downloadermiddlewares/ratelimit.py).
HUB_RATELIMIT_ENABLED = True
# Seconds the whole crawl may be held by an origin's rate limit (429s and empty windows
# together); a hold past that is not waited: the requests it holds are lost and the crawl stops.
HUB_RATELIMIT_MAX_WAIT = 900
# Retries (and bare 429s) wait HUB_BACKOFF_BASE * 2**(n-1) seconds, at most HUB_BACKOFF_MAX.
HUB_BACKOFF_BASE = 1.0
HUB_BACKOFF_MAX = 60.0

RETRY_TIMES = 5
# 429 is left to the rate-limit middleware, which retries it without using up RETRY_TIMES.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
DOWNLOAD_TIMEOUT = 30
# A tags page of 100 is a few hundred KB; anything far bigger is not a page.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024

# Sign-in and pacing sit after the HTTP cache (900): a cached page needs neither, and the
# cache never sees the bearer token.
DOWNLOADER_MIDDLEWARES = {
    "hubspider.downloadermiddlewares.malformed.MalformedPageRetryMiddleware": 540,
    # Just after RedirectMiddleware (600): it judges a redirect before that follows it, so a
    # refusal fails the page asked for, and it stops any request off HUB_API_URL's origin
    # (a redirected one goes through the whole chain again) before cache, sign-in and pacing.
    "hubspider.downloadermiddlewares.origin.OriginMiddleware": 650,
    "hubspider.downloadermiddlewares.auth.HubAuthMiddleware": 950,
    # Between the Hub sign-in (which takes Authorization off anything not for the API) and the
    # rate limit (which sees a 429 first, and leaves a pull-limit one to these). A refused pull
    # costs no token request.
    "hubspider.downloadermiddlewares.pulls.PullLimitMiddleware": 955,
    "hubspider.downloadermiddlewares.registryauth.RegistryAuthMiddleware": 957,
    "hubspider.downloadermiddlewares.ratelimit.RateLimitMiddleware": 960,
}

# For development against the real Hub: `-s HTTPCACHE_ENABLED=True` answers repeated
# crawls from httpcache/, storing only good pages (never 429, 5xx or HTML).
HTTPCACHE_ENABLED = False
HTTPCACHE_POLICY = "hubspider.extensions.httpcache.GoodPagesPolicy"
HTTPCACHE_DIR = "httpcache"
HTTPCACHE_EXPIRATION_SECS = 3600

# With JOBDIR, the journal (hubspider/resume/) resumes the crawl, even after kill -9;
# Scrapy's pickled request queue would not survive one.
SCHEDULER = "hubspider.scheduler.MemoryScheduler"
DUPEFILTER_CLASS = "hubspider.scheduler.MemoryDupeFilter"

# A response gives its next requests and at most one item (its page): parallel item
# processing has nothing to overlap, and Scrapy starts this many asyncio tasks for every
# response whatever it yields (the default 100 cost 70,000 tasks a crawl, and the garbage
# collections their objects trigger).
CONCURRENT_ITEMS = 1
# Scrapy would re-read and parse the callback's source for every response to warn about a
# `return value` in a generator (its cache is keyed by bound method, so it never hits);
# tests/test_speed_settings.py checks once that the spider's callbacks have none.
WARN_ON_GENERATOR_RETURN_VALUE = False

# Each item is a page of up to 100 tags; at DEBUG Scrapy would log every one.
LOG_LEVEL = "INFO"
# Progress (hubspider/extensions/progress.py) every this many seconds; 0 turns it off. It replaces
# Scrapy's LogStats, whose "items" would be pages.
HUB_PROGRESS_INTERVAL = 30
LOGSTATS_INTERVAL = 0

ITEM_PIPELINES = {
    "hubspider.pipelines.ValidatePipeline": 100,
    "hubspider.pipelines.ExplodePipeline": 200,
    # Before dedupe: the store needs every record of a tag, also of one exported before
    # (offset paging, a resumed crawl), to keep its builds whole; its writes are idempotent.
    "hubspider.pipelines.StorePipeline": 250,
    "hubspider.pipelines.DedupePipeline": 300,
}

# Every record also goes into this SQLite store, which keeps the history across crawls and
# answers `scrapy lookup`, `scrapy history` and `scrapy changes`.
HUB_STORE_ENABLED = True
HUB_STORE_PATH = "output/hubspider.sqlite3"

EXTENSIONS = {
    # Scrapy's feed exporter, with write failures as losses and feeds synced for the journal.
    "scrapy.extensions.feedexport.FeedExporter": None,
    "hubspider.extensions.feedexport.FeedExporter": 0,
    "hubspider.extensions.redact.RedactSecretsExtension": 100,
    # After the FeedExporter (0): a page is journaled once it is in every feed.
    "hubspider.extensions.journal.CrawlJournal": 400,
    "hubspider.extensions.report.CrawlReport": 500,
    "hubspider.extensions.progress.Progress": 510,
}

# Every built-in feed format, taught to write a page's records one by one.
FEED_EXPORTERS = {
    "jsonlines": "hubspider.exporters.JsonLinesExporter",
    "jsonl": "hubspider.exporters.JsonLinesExporter",
    "json": "hubspider.exporters.JsonExporter",
    "csv": "hubspider.exporters.CsvExporter",
    "xml": "hubspider.exporters.XmlExporter",
    "pickle": "hubspider.exporters.PickleExporter",
    "marshal": "hubspider.exporters.MarshalExporter",
}
# Without -o/-O, each crawl writes a new timestamped JSON Lines file under output/.
FEEDS = {
    "output/%(name)s-%(time)s.jsonl": {"format": "jsonlines"},
}
FEED_EXPORT_ENCODING = "utf-8"

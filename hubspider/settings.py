"""hubspider settings. Every one here can be overridden with `-s NAME=VALUE`."""

BOT_NAME = "hubspider"

SPIDER_MODULES = ["hubspider.spiders"]
NEWSPIDER_MODULE = "hubspider.spiders"
# Our `crawl` command: one-line argument errors, and a non-zero exit status on loss.
COMMANDS_MODULE = "hubspider.commands"

ADDONS: dict[str, int] = {}

# Where the Hub API lives; point it at the emulator to crawl offline
# (`-s HUB_API_URL=http://127.0.0.1:8080`). Every request stays on this origin.
HUB_API_URL = "https://hub.docker.com"

USER_AGENT = "hubspider (+https://github.com/hubspider/hubspider)"
# An API, not a website: robots.txt would cost a request and says nothing about /v2/.
ROBOTSTXT_OBEY = False
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
DEFAULT_REQUEST_HEADERS = {"Accept": "application/json"}

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0

# Each item is a page of up to 100 tags; at DEBUG Scrapy would log every one.
LOG_LEVEL = "INFO"

ITEM_PIPELINES = {
    "hubspider.pipelines.ValidatePipeline": 100,
    "hubspider.pipelines.ExplodePipeline": 200,
    "hubspider.pipelines.DedupePipeline": 300,
}

EXTENSIONS = {
    "hubspider.extensions.CrawlReport": 500,
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

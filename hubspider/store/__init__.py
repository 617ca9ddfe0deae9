"""The digest store: every record any crawl saw, with when it was first and last seen.

SQLite, one file, no server. The `records` view has a row per (digest, namespace,
repository, tag, platform) with `first_seen` and `last_seen`; underneath, a build's records
are written once and a tag's history is its sightings of builds, so that a crawl that sees
the same again moves only `last_seen`, and a tag that moves to a new digest gets new rows
while its old ones stay. Whether a row is current is decided by the last crawl that read
its repository completely: an interrupted crawl moves `last_seen` of what it saw and
closes nothing.

The modules: `schema` (the tables of each version, and the migrations), `keys` (digests as
32 bytes), `opening` (the file, its version, SQLite's errors as one line), `writes`,
`queries`, `importer` (JSON Lines exports), the layer index (`images` its writes,
`image_queries`, and `pending`: what a layers crawl has left to fetch), `announced` (the
compressed layers the Hub API lists of images not pulled yet), `base_queries` (what `detect`
asks: the official images an image is built on), `store` (all of
these in one `Store`); and for a crawl, `writer` (the process that writes the store),
`process` (the crawl's side of it) and `protocol` (the frames between the two, and when the
writer commits). The layers crawl writes image records through `Store.add_images` itself.
"""

from hubspider.store.importer import MAX_LINE_BYTES, import_jsonl, numbered_lines, parse_record
from hubspider.store.opening import LOCK_TIMEOUT, StoreError, schema_problem, store_problem
from hubspider.store.pending import PendingImage
from hubspider.store.schema import VERSION
from hubspider.store.store import Store

__all__ = [
    "LOCK_TIMEOUT",
    "MAX_LINE_BYTES",
    "VERSION",
    "PendingImage",
    "Store",
    "StoreError",
    "import_jsonl",
    "numbered_lines",
    "parse_record",
    "schema_problem",
    "store_problem",
]

"""The store as the commands and the crawls use it: the file, its writes and its queries."""

from __future__ import annotations

from hubspider.store.announced import StoreAnnounced
from hubspider.store.base_queries import StoreBaseQueries
from hubspider.store.image_queries import StoreImageQueries
from hubspider.store.images import StoreImages
from hubspider.store.queries import StoreQueries
from hubspider.store.writes import StoreWrites


class Store(StoreWrites, StoreQueries, StoreImages, StoreImageQueries, StoreBaseQueries, StoreAnnounced):
    """The store file, opened for writing (a crawl, an import) or read-only (the queries).

    Raises `StoreError` with a one-line message when the file cannot be used (see
    `StoreFile`). Use it as a context manager so that it is closed."""

"""The JSON schemas (draft-07) of what Hub sends and of what hubspider exports.

Reading them needs no Scrapy: the store's writer process imports this package too.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any


def load_schema(name: str) -> dict[str, Any]:
    """Read a schema shipped in this package (works from a Scrapyd egg too)."""
    return json.loads(files(__name__).joinpath(name).read_text(encoding="utf-8"))

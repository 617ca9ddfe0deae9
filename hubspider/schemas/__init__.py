"""The JSON schemas (draft-07) of what Hub sends and of what hubspider exports."""

from __future__ import annotations

import json
import warnings
from importlib.resources import files
from typing import Any

# scrapy-jsonschema 0.5 imports jsonschema's module-level format checkers, which
# jsonschema 4 deprecates; the behaviour it relies on is unchanged.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"Accessing jsonschema\.draft\d_format_checker is deprecated",
        category=DeprecationWarning,
    )
    from scrapy_jsonschema import JsonSchemaItem, JsonSchemaValidatePipeline


def load_schema(name: str) -> dict[str, Any]:
    """Read a schema shipped in this package (works from a Scrapyd egg too)."""
    return json.loads(files(__name__).joinpath(name).read_text(encoding="utf-8"))


__all__ = ["JsonSchemaItem", "JsonSchemaValidatePipeline", "load_schema"]

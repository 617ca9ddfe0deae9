"""scrapy-jsonschema's item and pipeline, imported without the deprecation warning it causes."""

from __future__ import annotations

import warnings

# scrapy-jsonschema 0.5 imports jsonschema's module-level format checkers, which
# jsonschema 4 deprecates; the behaviour it relies on is unchanged.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"Accessing jsonschema\.draft\d_format_checker is deprecated",
        category=DeprecationWarning,
    )
    from scrapy_jsonschema import JsonSchemaItem, JsonSchemaValidatePipeline


__all__ = ["JsonSchemaItem", "JsonSchemaValidatePipeline"]

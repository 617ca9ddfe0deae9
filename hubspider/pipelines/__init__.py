"""One pipeline per concern, ordered in settings.ITEM_PIPELINES: validate, explode, store, dedupe."""

from hubspider.pipelines.dedupe import DedupePipeline
from hubspider.pipelines.explode import ExplodePipeline
from hubspider.pipelines.store import StorePipeline
from hubspider.pipelines.validate import ValidatePipeline

__all__ = ["DedupePipeline", "ExplodePipeline", "StorePipeline", "ValidatePipeline"]

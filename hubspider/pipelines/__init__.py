"""One pipeline per concern, ordered in settings.ITEM_PIPELINES: validate, explode, store, dedupe
(`library`); validate, image store (`layers`, in its custom_settings)."""

from hubspider.pipelines.dedupe import DedupePipeline
from hubspider.pipelines.explode import ExplodePipeline
from hubspider.pipelines.images import ImageStorePipeline
from hubspider.pipelines.store import StorePipeline
from hubspider.pipelines.validate import ValidatePipeline

__all__ = ["DedupePipeline", "ExplodePipeline", "ImageStorePipeline", "StorePipeline", "ValidatePipeline"]

"""What the settings that only make the crawl faster rely on."""

from __future__ import annotations

import inspect

from scrapy.utils.misc import is_generator_with_return_value

from hubspider import settings
from hubspider.spiders.library import LibrarySpider


def test_no_spider_callback_returns_a_value_from_a_generator():
    # Scrapy's check of each response is off (WARN_ON_GENERATOR_RETURN_VALUE): done here once.
    assert settings.WARN_ON_GENERATOR_RETURN_VALUE is False
    functions = [function for _, function in inspect.getmembers(LibrarySpider, inspect.isfunction)]
    assert [f.__qualname__ for f in functions if is_generator_with_return_value(f)] == []


def test_the_check_finds_a_generator_that_returns_a_value():
    def returns_a_value():
        yield 1
        return 2

    assert is_generator_with_return_value(returns_a_value)

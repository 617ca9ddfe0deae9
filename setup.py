"""Packaging for Scrapyd: `scrapyd-deploy` builds an egg of the project from this file."""

from setuptools import find_packages, setup

setup(
    name="hubspider",
    version="1.0",
    packages=find_packages(include=["hubspider", "hubspider.*"]),
    package_data={"hubspider": ["schemas/*.json"]},
    entry_points={"scrapy": ["settings = hubspider.settings"]},
    zip_safe=True,
)

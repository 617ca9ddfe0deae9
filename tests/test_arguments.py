"""Spider arguments and HUB_API_URL follow Docker's naming rules, or fail in one line."""

from __future__ import annotations

import pytest

from hubspider.arguments import ArgumentError, CrawlArguments
from hubspider.config import parse_api_url
from hubspider.origins import same_origin


def test_defaults_to_the_whole_library_namespace():
    assert CrawlArguments.parse({}) == CrawlArguments("library", None)


def test_repos_are_split_trimmed_and_deduplicated():
    parsed = CrawlArguments.parse({"repos": "alpine, nginx,alpine"})
    assert parsed.repositories == ("alpine", "nginx")


@pytest.mark.parametrize("name", ["rocket.chat", "ibm-semeru-runtimes", "a__b", "r-base", "x1"])
def test_real_repository_names_pass(name):
    assert CrawlArguments.parse({"repos": name}).repositories == (name,)


@pytest.mark.parametrize("name", ["Alpine", "-alpine", "alpine-", "al pine", "a..b", "a/b", "x" * 256])
def test_bad_repository_names_fail(name):
    with pytest.raises(ArgumentError, match="invalid repository"):
        CrawlArguments.parse({"repos": name})


@pytest.mark.parametrize("namespace", ["Bitnami", "bit/nami", "", "../library"])
def test_bad_namespaces_fail(namespace):
    with pytest.raises(ArgumentError, match="invalid namespace"):
        CrawlArguments.parse({"namespace": namespace})


def test_empty_repos_fail():
    with pytest.raises(ArgumentError, match="repos is empty"):
        CrawlArguments.parse({"repos": " , "})


def test_unknown_arguments_fail_but_scrapyd_ones_pass():
    with pytest.raises(ArgumentError, match="unknown spider argument 'repo'"):
        CrawlArguments.parse({"repo": "alpine"})
    assert CrawlArguments.parse({"_job": "abc"}).namespace == "library"


def test_error_messages_are_one_line():
    with pytest.raises(ArgumentError) as error:
        CrawlArguments.parse({"repos": "Bad\nName"})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://hub.docker.com", "https://hub.docker.com"),
        ("https://hub.docker.com/", "https://hub.docker.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_api_url_is_an_origin(value, origin):
    assert parse_api_url(value) == origin


@pytest.mark.parametrize("value", ["ftp://hub.docker.com", "hub.docker.com", "https://", "https://h/?q=1"])
def test_bad_api_urls_fail(value):
    with pytest.raises(ArgumentError, match="invalid HUB_API_URL"):
        parse_api_url(value)


def test_same_origin_compares_scheme_host_and_port():
    api = "https://hub.docker.com"
    assert same_origin("https://hub.docker.com/v2/repositories/library/?page=2", api)
    assert same_origin("https://HUB.docker.com/v2/", api)
    assert not same_origin("http://hub.docker.com/v2/", api)
    assert not same_origin("https://hub.docker.com:8443/v2/", api)
    assert not same_origin("https://evil.example/v2/", api)

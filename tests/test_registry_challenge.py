"""The registry's WWW-Authenticate challenge names its token service."""

from __future__ import annotations

import re

import pytest

from hubspider.registry.challenge import Challenge, parse_challenge


def test_docker_hubs_challenge():
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    assert parse_challenge(header) == Challenge("https://auth.docker.io/token", "registry.docker.io")


def test_a_challenge_with_a_scope_and_an_error():
    header = (
        'Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",'
        'scope="aws",error="invalid_token"'
    )
    assert parse_challenge(header) == Challenge("https://public.ecr.aws/token/", "public.ecr.aws")


def test_the_scheme_is_case_insensitive_and_spaces_are_allowed():
    header = 'bearer  realm = "http://127.0.0.1:5001/token" , service = "fake"'
    assert parse_challenge(header) == Challenge("http://127.0.0.1:5001/token", "fake")


def test_a_challenge_without_a_service():
    assert parse_challenge('Bearer realm="https://ghcr.io/token"') == Challenge("https://ghcr.io/token", None)


def test_an_unquoted_value():
    assert parse_challenge("Bearer realm=https://auth.example/token,service=x").service == "x"


def test_an_escaped_quote_in_a_value():
    header = r'Bearer realm="https://auth.example/token",service="a\"b"'
    assert parse_challenge(header).service == 'a"b'


def test_the_first_of_two_realms_counts():
    header = 'Bearer realm="https://one.example/t",realm="https://two.example/t"'
    assert parse_challenge(header).realm == "https://one.example/t"


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ('Basic realm="Registry"', "not a Bearer challenge"),
        ("", "not a Bearer challenge"),
        ("Bearer", "without an http(s) realm"),
        ('Bearer service="x"', "without an http(s) realm"),
        ('Bearer realm="ftp://auth.example/token"', "without an http(s) realm"),
        ('Bearer realm="/token"', "without an http(s) realm"),
        ('Bearer realm="https://auth.example/token', "malformed"),
        ("Bearer garbage garbage", "malformed"),
    ],
)
def test_a_challenge_that_names_no_token_service_is_refused(header, said):
    with pytest.raises(ValueError, match=re.escape(said)) as refusal:
        parse_challenge(header)
    assert "\n" not in str(refusal.value)

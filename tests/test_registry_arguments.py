"""The `registry` spider's arguments, the `layers` spider's `registry=`, and the registry URLs a
crawl whose namespace is a registry host asks for."""

from __future__ import annotations

import pytest

from hubspider.arguments import ArgumentError, LayersArguments, RegistryArguments
from hubspider.registry.urls import (
    blob_url,
    catalog_url,
    is_registry_host,
    manifest_url,
    registry_scope,
    registry_url_of,
    tags_list_url,
)

MCR = "mcr.microsoft.com"
MCR_URL = "https://mcr.microsoft.com"
LOCAL = "127.0.0.1:45717"
LOCAL_URL = "http://127.0.0.1:45717"
ECR_MIRROR = "https://public.ecr.aws/docker"
DIGEST = "sha256:" + "c" * 64


def refused(parse: object, arguments: dict[str, str]) -> str:
    """The one-line message of the ArgumentError `parse(arguments)` raises."""
    assert callable(parse)
    with pytest.raises(ArgumentError) as raised:
        parse(arguments)
    message = str(raised.value)
    assert message
    assert "\n" not in message
    return message


# RegistryArguments: the registry.


def test_a_registry_alone_reads_every_repository() -> None:
    assert RegistryArguments.parse({"registry": MCR}) == RegistryArguments(MCR, None, None)


@pytest.mark.parametrize(
    "host", [MCR, LOCAL, "localhost", "localhost:5000", "[::1]:5000", "ghcr.io", "a-b.c:1"]
)
def test_a_registry_host_is_taken_as_given(host: str) -> None:
    assert RegistryArguments.parse({"registry": host}).registry == host


def test_a_registry_is_lowercased_and_stripped_as_docker_does() -> None:
    assert RegistryArguments.parse({"registry": "  MCR.Microsoft.COM "}).registry == MCR


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (MCR, MCR_URL),
        (LOCAL, LOCAL_URL),
        ("localhost", "http://localhost"),
        ("localhost:5000", "http://localhost:5000"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("[::1]", "http://[::1]"),
        ("127.0.0.2:5000", "https://127.0.0.2:5000"),
        ("localhost.example.com", "https://localhost.example.com"),
        ("ghcr.io:443", "https://ghcr.io:443"),
    ],
)
def test_the_registry_url_is_https_but_http_on_loopback(host: str, url: str) -> None:
    assert RegistryArguments.parse({"registry": host}).url == url
    assert registry_url_of(host) == url


def test_a_registry_is_needed() -> None:
    assert refused(RegistryArguments.parse, {}) == "give the registry to crawl: -a registry=mcr.microsoft.com"


def test_a_registry_is_needed_even_with_repositories() -> None:
    assert "give the registry to crawl" in refused(RegistryArguments.parse, {"repos": "dotnet/runtime"})


@pytest.mark.parametrize(
    "host",
    [
        "https://mcr.microsoft.com",
        "mcr.microsoft.com/dotnet",
        "",
        "   ",
        "mcr..microsoft.com",
        ".mcr.microsoft.com",
        "mcr.microsoft.com:",
        "mcr.microsoft.com:https",
        "mcr microsoft com",
        "user@mcr.microsoft.com",
        "[::1",
        "a" * 256,
    ],
)
def test_what_is_not_a_host_is_refused(host: str) -> None:
    message = refused(RegistryArguments.parse, {"registry": host})
    assert message == (
        f"invalid registry {host!r}: expected a host such as mcr.microsoft.com or localhost:5000"
    )


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"])
def test_docker_hub_is_the_library_spider_s(host: str) -> None:
    message = refused(RegistryArguments.parse, {"registry": host})
    assert message == f"{host.lower()} is Docker Hub: crawl it with the library spider"


# RegistryArguments: repositories and prefix.


def test_repositories_are_paths() -> None:
    arguments = RegistryArguments.parse(
        {"registry": MCR, "repos": "dotnet/runtime,cbl-mariner/base/core,playwright"}
    )
    assert arguments.repositories == ("dotnet/runtime", "cbl-mariner/base/core", "playwright")


def test_repositories_are_stripped_and_once_each_in_order() -> None:
    arguments = RegistryArguments.parse({"registry": MCR, "repos": " dotnet/sdk , dotnet/runtime,dotnet/sdk"})
    assert arguments.repositories == ("dotnet/sdk", "dotnet/runtime")


@pytest.mark.parametrize("repos", ["", " ", ",", " , "])
def test_empty_repositories_are_refused(repos: str) -> None:
    message = refused(RegistryArguments.parse, {"registry": MCR, "repos": repos})
    assert message == "repos is empty: give repository paths separated by commas, e.g. dotnet/runtime"


@pytest.mark.parametrize(
    "name",
    ["Dotnet/Runtime", "dotnet//runtime", "/dotnet", "dotnet/", "dotnet/run time", "dotnet/-runtime", ""],
)
def test_a_repository_that_is_not_a_path_is_refused(name: str) -> None:
    message = refused(RegistryArguments.parse, {"registry": MCR, "repos": f"dotnet/runtime,{name}"})
    assert message == f"invalid repository {name!r}: expected a path such as dotnet/runtime, in lowercase"


def test_a_repository_path_too_long_is_refused() -> None:
    name = "a/" * 127 + "bc"
    assert len(name) == 256
    assert "invalid repository" in refused(RegistryArguments.parse, {"registry": MCR, "repos": name})


@pytest.mark.parametrize(
    "prefix", ["dotnet/", "dotnet", "dotnet/run", "azure-cli", "cbl-mariner/base/", "a_", "a."]
)
def test_a_prefix_is_the_start_of_paths(prefix: str) -> None:
    assert RegistryArguments.parse({"registry": MCR, "prefix": prefix}).prefix == prefix


def test_a_prefix_is_stripped() -> None:
    assert RegistryArguments.parse({"registry": MCR, "prefix": " dotnet/ "}).prefix == "dotnet/"


@pytest.mark.parametrize(
    "prefix", ["", "  ", "/dotnet", "Dotnet/", "dotnet//", "dotnet/*", "-dotnet", "dotnet/.."]
)
def test_a_prefix_that_starts_no_path_is_refused(prefix: str) -> None:
    message = refused(RegistryArguments.parse, {"registry": MCR, "prefix": prefix})
    assert message == (
        f"invalid prefix {prefix.strip()!r}: expected the start of repository paths, e.g. dotnet/"
    )


def test_repositories_and_a_prefix_together() -> None:
    arguments = RegistryArguments.parse({"registry": MCR, "repos": "dotnet/runtime", "prefix": "dotnet/"})
    assert arguments == RegistryArguments(MCR, ("dotnet/runtime",), "dotnet/")


@pytest.mark.parametrize("name", ["namespace", "since", "repo", "Registry"])
def test_an_unknown_argument_is_refused(name: str) -> None:
    message = refused(RegistryArguments.parse, {"registry": MCR, name: "x"})
    assert message == f"unknown spider argument {name!r}: expected one of registry, repos, prefix"


def test_scrapyd_s_arguments_pass() -> None:
    assert RegistryArguments.parse({"registry": MCR, "_job": "abc", "_version": "1"}).registry == MCR


def test_describe_names_what_the_crawl_reads() -> None:
    arguments = RegistryArguments.parse({"registry": LOCAL, "repos": "a/b,c", "prefix": "a/"})
    assert arguments.describe() == {"registry": LOCAL, "repositories": ["a/b", "c"], "prefix": "a/"}
    assert RegistryArguments.parse({"registry": MCR}).describe() == {
        "registry": MCR,
        "repositories": None,
        "prefix": None,
    }


# LayersArguments with a registry.


def test_layers_of_a_registry_take_its_host_as_namespace() -> None:
    arguments = LayersArguments.parse({"registry": LOCAL})
    assert arguments == LayersArguments(LOCAL, None, LOCAL)


def test_layers_of_a_registry_take_repository_paths() -> None:
    arguments = LayersArguments.parse({"registry": "MCR.microsoft.com", "repos": "dotnet/runtime,powershell"})
    assert arguments == LayersArguments(MCR, ("dotnet/runtime", "powershell"), MCR)


def test_layers_of_docker_hub_have_no_registry() -> None:
    assert LayersArguments.parse({}) == LayersArguments("library", None, None)
    assert LayersArguments.parse({"namespace": "bitnami", "repos": "redis"}) == LayersArguments(
        "bitnami", ("redis",), None
    )


def test_layers_of_docker_hub_take_no_path() -> None:
    # A Hub repository is one component: `dotnet/runtime` is a namespace and a repository.
    assert "invalid repository 'dotnet/runtime'" in refused(
        LayersArguments.parse, {"repos": "dotnet/runtime"}
    )


def test_layers_with_both_a_namespace_and_a_registry_are_refused() -> None:
    message = refused(LayersArguments.parse, {"namespace": "library", "registry": MCR})
    assert message == "give namespace (Docker Hub) or registry, not both"


@pytest.mark.parametrize(
    ("registry", "said"),
    [
        ("docker.io", "docker.io is Docker Hub: crawl it with the library spider"),
        ("https://mcr.microsoft.com", "invalid registry 'https://mcr.microsoft.com'"),
    ],
)
def test_layers_of_a_registry_that_is_not_one_are_refused(registry: str, said: str) -> None:
    assert refused(LayersArguments.parse, {"registry": registry}).startswith(said)


def test_layers_of_a_registry_with_a_bad_path_are_refused() -> None:
    message = refused(LayersArguments.parse, {"registry": MCR, "repos": "Dotnet/runtime"})
    assert message.startswith("invalid repository 'Dotnet/runtime'")


def test_layers_take_no_prefix() -> None:
    message = refused(LayersArguments.parse, {"registry": MCR, "prefix": "dotnet/"})
    assert message == "unknown spider argument 'prefix': expected one of namespace, repos, registry"


# registry.urls: is_registry_host.


@pytest.mark.parametrize(
    "name", [MCR, LOCAL, "localhost", "localhost:5000", "[::1]:5000", "ghcr.io", "docker.io"]
)
def test_a_name_with_a_dot_a_port_or_localhost_is_a_registry_host(name: str) -> None:
    assert is_registry_host(name)


@pytest.mark.parametrize("name", ["library", "bitnami", "my-org", "my_org", "localhostx", "dotnet"])
def test_a_docker_hub_namespace_is_no_registry_host(name: str) -> None:
    assert not is_registry_host(name)


# registry.urls: the URLs of a crawl whose namespace is the registry host.


def test_the_catalog_is_at_the_registry_s_origin() -> None:
    assert catalog_url(MCR_URL, 100) == "https://mcr.microsoft.com/v2/_catalog?n=100"
    assert catalog_url(LOCAL_URL, 7) == "http://127.0.0.1:45717/v2/_catalog?n=7"


def test_the_catalog_of_a_prefixed_registry_url_is_the_origin_s() -> None:
    assert catalog_url(ECR_MIRROR, 50) == "https://public.ecr.aws/v2/_catalog?n=50"


def test_a_host_namespace_is_left_out_of_a_tags_list() -> None:
    url = tags_list_url(MCR_URL, MCR, "dotnet/runtime", 50)
    assert url == "https://mcr.microsoft.com/v2/dotnet/runtime/tags/list?n=50"


def test_a_loopback_host_namespace_is_left_out_of_a_tags_list() -> None:
    url = tags_list_url(LOCAL_URL, LOCAL, "cbl-mariner/base/core", 7)
    assert url == "http://127.0.0.1:45717/v2/cbl-mariner/base/core/tags/list?n=7"


def test_a_hub_namespace_is_part_of_a_tags_list() -> None:
    url = tags_list_url("https://registry-1.docker.io", "library", "alpine", 100)
    assert url == "https://registry-1.docker.io/v2/library/alpine/tags/list?n=100"


def test_a_registry_url_prefix_comes_before_the_namespace() -> None:
    assert tags_list_url(ECR_MIRROR, "library", "alpine", 10) == (
        "https://public.ecr.aws/v2/docker/library/alpine/tags/list?n=10"
    )


def test_a_host_namespace_is_left_out_of_a_manifest_url() -> None:
    assert manifest_url(MCR_URL, MCR, "dotnet/runtime", "8.0") == (
        "https://mcr.microsoft.com/v2/dotnet/runtime/manifests/8.0"
    )


def test_a_manifest_by_digest_keeps_its_colon() -> None:
    assert manifest_url(LOCAL_URL, LOCAL, "dotnet/runtime", DIGEST) == (
        f"http://127.0.0.1:45717/v2/dotnet/runtime/manifests/{DIGEST}"
    )


def test_a_host_namespace_is_left_out_of_a_blob_url() -> None:
    assert blob_url(MCR_URL, MCR, "dotnet/runtime", DIGEST) == (
        f"https://mcr.microsoft.com/v2/dotnet/runtime/blobs/{DIGEST}"
    )


def test_a_localhost_namespace_is_left_out_too() -> None:
    assert manifest_url("http://localhost", "localhost", "app", "1") == "http://localhost/v2/app/manifests/1"


def test_a_host_namespace_is_left_out_of_the_scope() -> None:
    assert registry_scope(MCR_URL, MCR, "dotnet/runtime") == "repository:dotnet/runtime:pull"
    assert registry_scope(LOCAL_URL, LOCAL, "powershell") == "repository:powershell:pull"


def test_a_hub_namespace_is_part_of_the_scope() -> None:
    assert (
        registry_scope("https://registry-1.docker.io", "library", "alpine")
        == "repository:library/alpine:pull"
    )


def test_the_scope_names_the_repository_behind_the_prefix() -> None:
    assert registry_scope(ECR_MIRROR, "library", "alpine") == "repository:docker/library/alpine:pull"

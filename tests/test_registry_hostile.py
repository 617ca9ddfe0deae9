"""`scrapy crawl registry` against a registry that misbehaves: each fault ends with what could be
read exported, what could not named as lost, and the right exit status, never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.helpers import CrawlResult, run_crawl, stat
from tests.hostileregistry import Answer, HostileRegistry, json_answer, make_image

if TYPE_CHECKING:
    from pathlib import Path

    from tests.hostileregistry import Image

pytestmark = pytest.mark.e2e

UNUSED_API = "http://127.0.0.1:9"
EXIT_INCOMPLETE = 3
REPOSITORY = "team/app"
TAGS_PAGE = f"/v2/{REPOSITORY}/tags/list?n=1000"


def crawl(
    registry: HostileRegistry, workdir: Path, *arguments: str, env: dict[str, str] | None = None
) -> CrawlResult:
    return run_crawl(
        UNUSED_API,
        workdir,
        "-a",
        f"registry={registry.host}",
        "-a",
        f"repos={REPOSITORY}",
        "-s",
        "RETRY_TIMES=1",
        "-s",
        "HUB_BACKOFF_BASE=0",
        *arguments,
        spider="registry",
        env=env,
    )


def tagged(result: CrawlResult) -> dict[str, str]:
    return {record["tag"]: record["digest"] for record in result.records()}


def last_line(result: CrawlResult) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def registry():
    with HostileRegistry() as server:
        yield server


@pytest.fixture
def image() -> Image:
    return make_image("app 1.0")


def test_a_head_without_a_digest_reads_the_manifest_by_tag(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image, head_digest=False)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]})
    result = crawl(registry, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = result.records()
    assert (record["digest"], record["platform"], record["kind"]) == (image.digest, "linux/amd64", "image")
    assert registry.counts[f"GET /v2/{REPOSITORY}/manifests/1.0"] == 1


def test_content_that_is_not_its_digest_is_refused_and_lost(registry, image, tmp_path) -> None:
    good = make_image("app 2.0")
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.serve_tag(REPOSITORY, "2.0", good)
    # The HEAD names the digest; the GET by digest serves other bytes, as a poisoned mirror would.
    registry.routes[f"/v2/{REPOSITORY}/manifests/{image.digest}"] = Answer(200, good.manifest)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0", "2.0"]})
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert tagged(result) == {"2.0": good.digest}
    assert stat(result, "hubspider/registry/refused") == 1
    assert f"tag {registry.host}/{REPOSITORY}:1.0" in last_line(result)
    assert "refused" in last_line(result)


def test_a_config_that_is_not_its_digest_is_refused(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{image.config_digest}"] = Answer(200, b'{"os":"linux"}')
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]})
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert result.records() == []
    assert f"config {image.config_digest}" in last_line(result)


def test_a_config_that_keeps_failing_loses_its_tags_and_names_them(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.routes[f"/v2/{REPOSITORY}/blobs/{image.config_digest}"] = json_answer({}, 503)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]})
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert "HTTP 503" in last_line(result)
    assert stat(result, "hubspider/lost/tag") == 1


def test_a_next_link_back_to_its_page_is_a_loop_and_a_loss(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    loop = f'<{TAGS_PAGE}>; rel="next"'
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]}, Link=loop)
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert "a loop" in last_line(result)
    assert registry.counts[f"GET {TAGS_PAGE}"] == 1


def test_a_next_link_to_another_host_is_not_followed(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    away = '<http://127.0.0.2:1/v2/team/app/tags/list?n=1000&last=1.0>; rel="next"'
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]}, Link=away)
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert "leads off the registry" in last_line(result)


def test_a_tags_page_redirected_to_another_host_is_refused(registry, tmp_path) -> None:
    registry.routes[TAGS_PAGE] = Answer(302, b"", {"Location": "http://127.0.0.2:1/elsewhere"})
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert "redirected off the registry origin" in last_line(result)


def test_a_tags_page_that_is_not_json_is_lost(registry, tmp_path) -> None:
    registry.routes[TAGS_PAGE] = Answer(200, b"<html>maintenance</html>", {"Content-Type": "text/html"})
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert f"page http://{registry.host}{TAGS_PAGE}: not JSON" in last_line(result)


def test_null_tags_is_an_empty_repository(registry, tmp_path) -> None:
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": None})
    result = crawl(registry, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.records() == []
    assert stat(result, "hubspider/store/repositories_complete") == 1


def test_a_tag_name_that_is_no_tag_is_lost_and_the_others_read(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0", "../../etc"]})
    result = crawl(registry, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert tagged(result) == {"1.0": image.digest}
    assert "not a tag name" in last_line(result)


def test_a_tag_gone_before_its_head_is_counted_not_lost(registry, image, tmp_path) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0", "0.9"]})
    result = crawl(registry, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert tagged(result) == {"1.0": image.digest}
    assert stat(result, "hubspider/registry/tags_gone") == 1
    assert "listed, then gone before its HEAD" in result.stderr


def test_a_registry_without_a_catalog_says_to_name_the_repositories(registry, tmp_path) -> None:
    result = run_crawl(UNUSED_API, tmp_path, "-a", f"registry={registry.host}", spider="registry")
    assert result.returncode == EXIT_INCOMPLETE
    assert "HTTP 404" in last_line(result)
    assert "-a repos=" in last_line(result)


def test_a_catalog_with_a_name_that_is_no_repository_loses_it_and_reads_the_rest(
    registry, image, tmp_path
) -> None:
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]})
    registry.routes["/v2/_catalog?n=1000"] = json_answer({"repositories": [REPOSITORY, "../x"]})
    result = run_crawl(UNUSED_API, tmp_path, "-a", f"registry={registry.host}", spider="registry")
    assert result.returncode == EXIT_INCOMPLETE
    assert tagged(result) == {"1.0": image.digest}
    assert "not a repository name" in last_line(result)


def test_a_registry_that_does_not_answer_is_named_in_the_last_line(tmp_path) -> None:
    result = run_crawl(
        UNUSED_API, tmp_path, "-a", "registry=127.0.0.1:9", "-s", "RETRY_TIMES=0", spider="registry"
    )
    assert result.returncode == EXIT_INCOMPLETE
    assert last_line(result).startswith("Error: no answer from http://127.0.0.1:9: ")


def test_docker_hub_credentials_never_buy_a_token_for_another_registry(registry, image, tmp_path) -> None:
    # The registry's challenge names the token service HUB_REGISTRY_AUTH_URL trusts: a token
    # bought there with the Docker Hub credentials would then be sent to this registry.
    registry.challenge = f"http://{registry.host}/token"
    registry.serve_tag(REPOSITORY, "1.0", image)
    registry.routes[TAGS_PAGE] = json_answer({"name": REPOSITORY, "tags": ["1.0"]})
    secret = "dckr_pat_never_to_be_sent"
    result = crawl(
        registry,
        tmp_path,
        "-s",
        f"HUB_REGISTRY_AUTH_URL=http://{registry.host}",
        env={"DOCKERHUB_USERNAME": "someone", "DOCKERHUB_TOKEN": secret},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert tagged(result) == {"1.0": image.digest}
    token_requests = [value for path, value in registry.authorizations if path.startswith("/token")]
    assert token_requests == []
    assert {value for _, value in registry.authorizations} == {"Bearer hostile-token"}
    assert secret not in result.stderr

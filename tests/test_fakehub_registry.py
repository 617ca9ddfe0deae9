"""The emulated registry, token service and CDN behave as Docker Hub's, with real digests."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from urllib.error import HTTPError
from urllib.request import HTTPRedirectHandler, Request, build_opener, urlopen

import pytest

from fakehub import FakeRegistry, HubServer
from fakehub.content import INDEX_TYPES, OCI_INDEX, OCI_MANIFEST

pytestmark = pytest.mark.e2e

ALL_MANIFESTS = ", ".join(
    [
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(url, *, token=None, method="GET", accept=ALL_MANIFESTS, basic=None, follow=True):
    request = Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if basic:
        request.add_header("Authorization", "Basic " + base64.b64encode(basic.encode()).decode())
    if accept:
        request.add_header("Accept", accept)
    opener = build_opener() if follow else build_opener(_NoRedirect)
    try:
        with opener.open(request) as response:
            return response.status, response.headers, response.read()
    except HTTPError as error:
        return error.code, error.headers, error.read()


def token_for(registry, repository="python", namespace="library", basic=None):
    status, _, body = call(
        f"{registry.auth_url}/token?service=registry.fakehub&scope=repository:{namespace}/{repository}:pull",
        basic=basic,
    )
    assert status == 200
    return json.loads(body)["token"]


def first_index_tag(hub, repository="python"):
    return next(
        tag
        for tag in hub.namespaces["library"][repository].unique_tags
        if tag.build.digest and tag.build.media_type in INDEX_TYPES and tag.build.images
    )


def manifest_url(registry, digest_or_tag, repository="python"):
    return f"{registry.url}/v2/library/{repository}/manifests/{digest_or_tag}"


def test_v2_challenges_then_answers_with_a_token(registry):
    status, headers, _ = call(f"{registry.url}/v2/")
    assert status == 401
    realm = f'Bearer realm="{registry.auth_url}/token",service="registry.fakehub"'
    assert headers["WWW-Authenticate"] == realm
    assert call(f"{registry.url}/v2/", token=token_for(registry))[0] == 200


def test_the_token_service_answers_anonymous_and_signed_in_but_not_wrong_credentials(registry):
    status, _, body = call(
        f"{registry.auth_url}/token?service=registry.fakehub&scope=repository:library/x:pull"
    )
    assert status == 200
    assert set(json.loads(body)) == {"token", "access_token", "expires_in", "issued_at"}
    assert json.loads(body)["expires_in"] == 300
    assert token_for(registry, basic="alice:dckr_pat_alice")
    url = f"{registry.auth_url}/token?service=registry.fakehub&scope=repository:library/python:pull"
    assert call(url, basic="alice:wrong")[0] == 401
    assert registry.counts["token"] == 2  # tokens issued: not the refusal


def test_a_token_is_bound_to_its_scope(registry, hub):
    tag = first_index_tag(hub)
    status, headers, _ = call(manifest_url(registry, tag.name), token=token_for(registry, "alpine"))
    assert status == 401
    assert 'scope="repository:library/python:pull"' in headers["WWW-Authenticate"]
    assert call(manifest_url(registry, tag.name))[0] == 401


def test_tokens_expire(hub):
    with FakeRegistry(hub, token_ttl=0.0) as registry:
        tag = first_index_tag(hub)
        assert call(manifest_url(registry, tag.name), token=token_for(registry))[0] == 401


def test_manifests_by_tag_and_digest_have_the_digests_the_hub_api_names(registry, hub):
    tag = first_index_tag(hub)
    token = token_for(registry)
    status, headers, body = call(manifest_url(registry, tag.name), token=token)
    assert status == 200
    assert headers["Docker-Content-Digest"] == tag.build.digest == sha(body)
    assert headers["Content-Type"] == tag.build.media_type
    assert int(headers["Content-Length"]) == len(body)
    listed = {entry["digest"] for entry in json.loads(body)["manifests"]}
    for image in tag.build.images:
        if image.is_platform:
            assert image.digest in listed
            status, headers, body = call(manifest_url(registry, image.digest), token=token)
            assert status == 200
            assert headers["Docker-Content-Digest"] == image.digest == sha(body)
            assert "ratelimit-limit" not in headers  # no limit, no headers


def test_configs_and_layers_redirect_to_the_cdn_and_are_real(registry, hub):
    tag = first_index_tag(hub)
    image = next(i for i in tag.build.images if i.is_platform)
    token = token_for(registry)
    manifest = json.loads(call(manifest_url(registry, image.digest), token=token)[2])
    config_url = f"{registry.url}/v2/library/python/blobs/{manifest['config']['digest']}"
    status, headers, _ = call(config_url, token=token, follow=False)
    assert status == 307
    assert headers["Location"].startswith(registry.cdn_url + "/")
    assert manifest["config"]["digest"] + "?expires=" in headers["Location"]
    # Followed without the Authorization header, as a client must.
    status, _, config = call(headers["Location"])
    assert status == 200
    assert sha(config) == manifest["config"]["digest"]
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
        _, headers, _ = call(
            f"{registry.url}/v2/library/python/blobs/{layer['digest']}", token=token, follow=False
        )
        _, _, blob = call(headers["Location"])
        assert sha(blob) == layer["digest"]
        assert sha(gzip.decompress(blob)) == diff_id
    assert registry.cdn_authorizations == []
    assert registry.counts["blob_get"] == 1 + len(diff_ids)


def test_the_cdn_records_an_authorization_header_it_should_not_get(registry, hub):
    image = next(i for i in first_index_tag(hub).build.images if i.is_platform)
    token = token_for(registry)
    # urllib keeps the header through a redirect: the CDN must see and record it.
    call(f"{registry.url}/v2/library/python/blobs/{image.content.config_digest}", token=token)
    assert registry.cdn_authorizations == [f"Bearer {token}"]


def test_unknown_manifests_and_blobs_are_404_with_registry_codes(registry, hub):
    token = token_for(registry)
    status, _, body = call(manifest_url(registry, "no-such-tag"), token=token)
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, "MANIFEST_UNKNOWN")
    alpine_image = next(i for i in first_index_tag(hub, "alpine").build.images if i.is_platform)
    status, _, body = call(manifest_url(registry, alpine_image.digest), token=token)
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, "MANIFEST_UNKNOWN")
    status, _, body = call(f"{registry.url}/v2/library/python/blobs/sha256:{'0' * 64}", token=token)
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, "BLOB_UNKNOWN")


def test_an_index_is_not_served_to_a_client_that_does_not_accept_it(registry, hub):
    tag = first_index_tag(hub)
    status, _, body = call(manifest_url(registry, tag.name), token=token_for(registry), accept=OCI_MANIFEST)
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, "MANIFEST_UNKNOWN")


def test_pulls_are_counted_limited_and_refused_with_toomanyrequests(hub):
    tag = first_index_tag(hub)
    image = next(i for i in tag.build.images if i.is_platform)
    with FakeRegistry(hub, pull_limit=2, users={"alice": "pat"}) as registry:
        token = token_for(registry)
        url = manifest_url(registry, image.digest)
        status, headers, _ = call(url, token=token, method="HEAD")
        assert (status, headers["ratelimit-remaining"]) == (200, "2;w=21600")
        remaining = [call(url, token=token)[1]["ratelimit-remaining"] for _ in range(2)]
        assert remaining == ["1;w=21600", "0;w=21600"]
        status, headers, body = call(url, token=token)
        assert status == 429
        assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert headers["ratelimit-limit"] == "2;w=21600"
        assert call(url, token=token, method="HEAD")[0] == 200  # a HEAD is not a pull
        signed_in = token_for(registry, basic="alice:pat")
        status, headers, _ = call(url, token=signed_in)
        assert (status, headers["ratelimit-limit"]) == (200, "4;w=21600")
        assert registry.counts["manifest_get"] == 4
        assert registry.counts["manifest_head"] == 2
        assert registry.counts["pull_429"] == 1
        assert registry.counts["index_get"] == 0
        registry.reset_pulls()
        assert call(url, token=token)[0] == 200


def test_an_index_get_counts_as_an_index_pull(hub):
    tag = first_index_tag(hub)
    with FakeRegistry(hub, pull_limit=10) as registry:
        assert call(manifest_url(registry, tag.name), token=token_for(registry))[0] == 200
        assert (registry.counts["index_get"], registry.counts["manifest_get"]) == (1, 0)


def test_tampered_digests_are_served_with_other_bytes_and_the_same_headers(hub):
    tag = first_index_tag(hub)
    image = next(i for i in tag.build.images if i.is_platform)
    layer = image.content.layers[-1]
    tampered = frozenset({image.digest, image.content.config_digest, layer.digest})
    with FakeRegistry(hub, tampered=tampered) as registry:
        token = token_for(registry)
        status, headers, body = call(manifest_url(registry, image.digest), token=token)
        assert status == 200
        assert headers["Docker-Content-Digest"] == image.digest != sha(body)
        assert len(body) == image.content.size
        json.loads(body)
        for digest in (image.content.config_digest, layer.digest):
            status, _, blob = call(f"{registry.url}/v2/library/python/blobs/{digest}", token=token)
            assert status == 200
            assert sha(blob) != digest
        assert gzip.decompress(blob)  # a tampered layer still gunzips: only its digest tells


def test_a_prefix_puts_repositories_under_it(hub):
    tag = first_index_tag(hub)
    with FakeRegistry(hub, prefix="docker") as registry:
        # A mirror names the repository with its prefix, in the token scope too.
        token = token_for(registry, namespace="docker/library")
        status, headers, _ = call(
            f"{registry.url}/v2/docker/library/python/manifests/{tag.name}", token=token
        )
        assert (status, headers["Docker-Content-Digest"]) == (200, tag.build.digest)
        assert call(manifest_url(registry, tag.name), token=token)[0] == 404


def test_the_images_endpoint_lists_each_image_with_its_build_steps(hub):
    tag = first_index_tag(hub)
    with HubServer(hub) as server:
        with urlopen(f"{server.url}/v2/repositories/library/python/tags/{tag.name}/images") as response:
            images = json.load(response)
        with pytest.raises(HTTPError) as missing:
            urlopen(f"{server.url}/v2/repositories/library/python/tags/no-such-tag/images")
        assert missing.value.code == 404
    assert [image["digest"] for image in images] == [image.digest for image in tag.build.images]
    for entry, image in zip(images, tag.build.images, strict=True):
        if not image.is_platform:
            continue
        assert {"architecture", "os", "variant", "os_version", "size", "status", "last_pushed"} <= set(entry)
        with_digest = [layer for layer in entry["layers"] if "digest" in layer]
        assert [layer["digest"] for layer in with_digest] == [layer.digest for layer in image.content.layers]
        assert [layer["size"] for layer in with_digest] == [layer.size for layer in image.content.layers]
        assert all(layer["size"] == 0 for layer in entry["layers"] if "digest" not in layer)
        assert len(entry["layers"]) > len(with_digest)  # CMD, ENV: steps that made no layer


def test_expected_image_records_agree_with_what_the_servers_serve(registry, hub):
    records = hub.expected_image_records(repositories=["alpine"])
    token = token_for(registry, "alpine")
    for record in records[:10]:
        _, _, body = call(manifest_url(registry, record["digest"], "alpine"), token=token)
        manifest = json.loads(body)
        _, _, config = call(
            f"{registry.url}/v2/library/alpine/blobs/{manifest['config']['digest']}", token=token
        )
        assert record["image_id"] == sha(config)
        assert [layer["digest"] for layer in record["layers"]] == [
            layer["digest"] for layer in manifest["layers"]
        ]
        assert [layer["size"] for layer in record["layers"]] == [
            layer["size"] for layer in manifest["layers"]
        ]
        assert [layer["diff_id"] for layer in record["layers"]] == json.loads(config)["rootfs"]["diff_ids"]
        assert [layer["media_type"] for layer in record["layers"]] == [
            layer["mediaType"] for layer in manifest["layers"]
        ]

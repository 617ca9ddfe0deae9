"""The emulator's content is real: digests are sha256 of bytes that parse as what they claim to be."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from fakehub import make_hub
from fakehub.content import (
    DOCKER_LAYER,
    INDEX_TYPES,
    OCI_LAYER,
    ImageContent,
    chain_ids,
    gzip_stored,
    make_layer,
    tar_file,
)
from fakehub.data import evolve
from fakehub.recipes import BASE_REPOSITORIES, family_of


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_images(hub, repository):
    return [
        image
        for tag in hub.namespaces["library"][repository].unique_tags
        for image in tag.build.images
        if image.is_platform
    ]


def test_a_hand_made_tar_is_read_by_tarfile():
    with tarfile.open(fileobj=io.BytesIO(tar_file("etc/os-release", b"ID=fakehub\n"))) as archive:
        (member,) = archive.getmembers()
        assert (member.name, member.size, member.mtime) == ("etc/os-release", 11, 0)
        assert archive.extractfile(member).read() == b"ID=fakehub\n"


def test_a_tar_member_name_over_100_bytes_is_refused():
    with pytest.raises(ValueError, match="longer than 100"):
        tar_file("x" * 101, b"")


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 200_000])
def test_stored_gzip_is_gzip(size):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert gzip.decompress(gzip_stored(data)) == data


def test_a_layer_digest_is_the_gzip_and_its_diff_id_the_tar():
    layer = make_layer("library/alpine/test")
    blob = layer.blob()
    assert (layer.digest, layer.size) == (sha(blob), len(blob))
    assert layer.diff_id == sha(gzip.decompress(blob)) == sha(layer.tar())
    assert blob[4:8] == b"\0\0\0\0"  # mtime 0: the same bytes on every run


def test_chain_ids_follow_the_oci_image_spec():
    a, b, c = (sha(bytes([n])) for n in range(3))
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []


def test_every_platform_image_digest_is_its_manifest_and_names_its_config_and_layers(hub):
    for image in platform_images(hub, "python"):
        content = image.content
        manifest = json.loads(content.manifest())
        config = json.loads(content.config())
        assert image.digest == sha(content.manifest())
        assert manifest["mediaType"] == content.media_type
        assert manifest["config"] == {
            "mediaType": manifest["config"]["mediaType"],
            "digest": sha(content.config()),
            "size": len(content.config()),
        }
        assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in content.layers]
        assert config["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id for layer in content.layers]}
        assert (config["os"], config["architecture"], config.get("variant")) == (
            image.os,
            image.architecture,
            image.variant,
        )
        assert len(config["history"]) == len(content.recipe.steps)
        assert sum(not step.get("empty_layer", False) for step in config["history"]) == len(
            manifest["layers"]
        )


def test_manifests_follow_the_media_type_family_of_their_build(hub):
    for tag in hub.namespaces["library"]["python"].unique_tags:
        for image in tag.build.images:
            if isinstance(image.content, ImageContent):
                layer_types = {layer["mediaType"] for layer in json.loads(image.content.manifest())["layers"]}
                assert layer_types == {OCI_LAYER if "oci" in image.content.media_type else DOCKER_LAYER}
                if tag.build.media_type in INDEX_TYPES:
                    assert ("oci" in tag.build.media_type) == ("oci" in image.content.media_type)


def test_windows_configs_carry_os_version(hub):
    images = [i for i in platform_images(hub, "python") if i.os == "windows"]
    assert images
    for image in images:
        assert json.loads(image.content.config())["os.version"] == image.os_version


def test_index_digests_are_sha256_of_an_index_listing_the_platform_manifests(hub):
    builds = {
        tag.build.digest: tag.build
        for repository in hub.namespaces["library"].values()
        for tag in repository.unique_tags
        if tag.build.digest and tag.build.media_type in INDEX_TYPES
    }
    attested = 0
    for digest, build in builds.items():
        index = json.loads(build.index())
        assert digest == sha(build.index())
        assert index["mediaType"] == build.media_type
        listed = {entry["digest"]: entry for entry in index["manifests"]}
        for image in build.images:
            if image.is_platform:
                entry = listed[image.digest]
                assert entry["size"] == len(image.content.manifest())
                assert entry["platform"]["architecture"] == image.architecture
            elif image.digest is not None:
                entry = listed[image.digest]
                assert entry["platform"] == {"architecture": "unknown", "os": "unknown"}
                assert entry["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
                assert entry["annotations"]["vnd.docker.reference.digest"] in listed
                assert entry["size"] == len(image.content.manifest())
                attested += 1
    assert attested


def test_single_platform_tag_digests_are_their_image_manifest(hub):
    singles = [
        tag.build
        for repository in hub.namespaces["library"].values()
        for tag in repository.unique_tags
        if tag.build.digest and tag.build.media_type not in INDEX_TYPES
    ]
    assert singles
    for build in singles:
        assert build.digest == build.images[0].digest == sha(build.images[0].content.manifest())


def test_images_built_on_a_base_share_its_layers(hub):
    assert "alpine" in BASE_REPOSITORIES
    alpine = {image.content.layers[0].digest for image in platform_images(hub, "alpine")}
    derived = [i for i in platform_images(hub, "python") if i.content.layers[0].digest in alpine]
    assert derived
    for image in derived:
        assert len(image.content.layers) > 1
    base_diff_ids = {image.content.layers[0].diff_id for image in platform_images(hub, "alpine")}
    assert {image.content.layers[0].diff_id for image in derived} <= base_diff_ids


def test_an_image_shares_base_layers_only_with_the_same_platform(hub):
    by_layer = {}
    for repository in hub.namespaces["library"]:
        for image in platform_images(hub, repository):
            by_layer.setdefault(image.content.layers[0].digest, set()).add(image.platform)
    assert all(len(platforms) == 1 for platforms in by_layer.values())


def test_families_follow_the_tag():
    assert family_of("python", "3.12.1-alpine") == "alpine"
    assert family_of("python", "3.12.1-slim") == "debian-slim"
    assert family_of("python", "3.12.1-windowsservercore-ltsc2022") == "windowsservercore-ltsc2022"
    assert family_of("debian", "12.1-slim") == "debian-slim"
    assert family_of("alpine", "3.20.3") == "alpine"


def test_every_image_and_config_is_unique(hub):
    images = [image for repository in hub.namespaces["library"] for image in platform_images(hub, repository)]
    by_digest = {image.digest: image.content.config_digest for image in images}
    assert len(set(by_digest.values())) == len(by_digest)


def test_expected_image_records_follow_the_content(hub):
    records = hub.expected_image_records(repositories=["python"])
    assert (
        len(records)
        == len({r["digest"] for r in records})
        == len({i.digest for i in platform_images(hub, "python")})
    )
    for record in records:
        assert "seen_at" not in record
        layers = record["layers"]
        assert [layer["chain_id"] for layer in layers] == chain_ids([layer["diff_id"] for layer in layers])
        made = [step for step in record["history"] if not step["empty_layer"]]
        assert [layer["instruction"] for layer in layers] == [step["created_by"] for step in made]
        assert {r["repository"] for r in records} == {"python"}


def test_expected_image_records_match_the_schema(hub):
    jsonschema = pytest.importorskip("jsonschema")
    with open("hubspider/schemas/image_record.json") as file:
        schema = json.load(file)
    validator = jsonschema.Draft7Validator(schema)
    for record in hub.expected_image_records(repositories=["alpine", "python", "rust"]):
        validator.validate(record | {"seen_at": "2026-11-22T14:00:00Z"})


def test_content_is_deterministic():
    first, second = make_hub(5, 300, seed=3), make_hub(5, 300, seed=3)
    assert first.expected_image_records() == second.expected_image_records()
    assert first.expected_image_records() != make_hub(5, 300, seed=4).expected_image_records()


def test_evolved_builds_get_real_content_of_their_own():
    hub = make_hub(12, 1_500, seed=0)
    before = {r["digest"] for r in hub.expected_image_records()}
    evolution = evolve(hub, moved=3, added=2, deleted=0)
    changed = {name for name, _ in evolution.moved + evolution.added}
    for repository in changed:
        for tag in hub.namespaces["library"][repository].unique_tags[:5]:
            for image in tag.build.images:
                if image.is_platform:
                    assert image.digest == sha(image.content.manifest())
            if tag.build.digest and tag.build.media_type in INDEX_TYPES:
                assert tag.build.digest == sha(tag.build.index())
    assert {r["digest"] for r in hub.expected_image_records()} - before

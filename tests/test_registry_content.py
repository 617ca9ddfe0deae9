"""What a registry serves, checked before use: digests, manifests, configs, chain IDs, and the
image record made of them. Real manifests and configs come from the image files in
/work/shared/real-data/images, read in place (never copied into the project)."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from hubspider.registry.content import (
    DOCKER_MANIFEST,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    OCI_MANIFEST,
    DigestMismatch,
    ImageConfig,
    LayerRef,
    Manifest,
    ManifestProblem,
    chain_ids,
    image_record,
    is_index,
    layer_instructions,
    parse_config,
    parse_index,
    parse_manifest,
    verify_digest,
)

REAL_IMAGES = Path("/work/shared/real-data/images")
ALPINE = "ocisave--snyk-containerd-alpine.tar"
STEREOSCOPE = "oci--stereoscope-valid-oci.tar"
BUSYBOX_ATTESTED = "ocisave--snyk-containerd-busybox-attestation.tar"
DIVE = "legacy--dive-test-docker-image.tar"

ALPINE_MANIFEST = "sha256:c8844343d5ccbc9f24a7cca4bdcf5b2d43cde2c83d201b18365c99b1e5f24c80"
ALPINE_CONFIG = "sha256:6dff1269bc79a7c9056a9e9fa9c04850e842b0124a9c73d089ae647b13b0187d"
ALPINE_LAYER = "sha256:d261077062b2aebb9ca8dc61f2b00e7e2b4e44179d3cfbe526c4ee0c5e41b26f"
ALPINE_DIFF_ID = "sha256:625523cb9cce7a1bcc1d03e3038de4843a27af3b92d859004bcefb0027291933"
ALPINE_LIST = "sha256:6cc7fe2dd7a4ee19c589de7371870f9350b6218db31c610939251e189edf2288"
STEREOSCOPE_MANIFEST = "sha256:c1ed04a3da941a5dd09b58b16c37f065557863d382ef97995ddac885a8452ebb"
STEREOSCOPE_CONFIG = "sha256:61ee19e869a529075634f762c1eb191962777e0803598758cbf076edfadfb046"
STEREOSCOPE_LAYER = "sha256:00ffd085e9e7c06d20fdc61119a8d08e5c8bd3c1c320d10494ce6ed86691c06c"
BUSYBOX_ARM64_CONFIG = "sha256:0f7981b59ce1b84d8ab35f636be2d5a3f94c83a9e1759ae8718f0b415285e402"
BUSYBOX_INDEX = "sha256:183b1c266030c632d6d7decc62be45b72509c6a48c81b32a31d5ab58e91cb92a"
DIVE_CONFIG = "75ae28b8ebf89b203319069ddcbecdf5c3838503bbebc0d0d85e4b8589c5de3a.json"
# Computed with `printf '%s %s' "$chain" "$diff_id" | sha256sum`, not with the code under test.
DIVE_CHAIN = [
    "sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a",
    "sha256:feff741eb35964a11ee9328c739beb64f43d0fd1590f0c7e44f69283bd1888ce",
    "sha256:8bbb2ee30155dbf5985e176553f4edc04c52c3c6f109635395614848d864ab25",
]

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def real_member(image_file: str, member: str) -> bytes:
    path = REAL_IMAGES / image_file
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with tarfile.open(path) as archive:
        extracted = archive.extractfile(member)
        assert extracted is not None
        return extracted.read()


def real_blob(image_file: str, digest: str) -> bytes:
    return real_member(image_file, f"blobs/sha256/{digest.removeprefix('sha256:')}")


def manifest_body(**fields: object) -> bytes:
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": A, "size": 10},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": B, "size": 5}
        ],
    }
    manifest.update(fields)
    return json.dumps({key: value for key, value in manifest.items() if value is not None}).encode()


# Digests


def test_a_body_matching_its_digest_passes():
    body = real_blob(ALPINE, ALPINE_MANIFEST)
    assert verify_digest(body, ALPINE_MANIFEST) is None


def test_a_tampered_body_is_refused_with_both_digests():
    body = real_blob(ALPINE, ALPINE_MANIFEST) + b" "
    with pytest.raises(DigestMismatch) as refusal:
        verify_digest(body, ALPINE_MANIFEST)
    message = str(refusal.value)
    assert ALPINE_MANIFEST in message
    assert "sha256:" + hashlib.sha256(body).hexdigest() in message
    assert "\n" not in message


@pytest.mark.parametrize("digest", ["sha512:" + "a" * 128, "sha256:" + "A" * 64, "sha256:abc", ""])
def test_a_digest_that_cannot_be_checked_is_refused(digest):
    with pytest.raises(DigestMismatch, match="cannot check"):
        verify_digest(b"", digest)


# Manifests


def test_a_real_docker_manifest():
    manifest = parse_manifest(real_blob(ALPINE, ALPINE_MANIFEST))
    assert manifest == Manifest(
        media_type=DOCKER_MANIFEST,
        config_digest=ALPINE_CONFIG,
        layers=(LayerRef(ALPINE_LAYER, 2829633, "application/vnd.docker.image.rootfs.diff.tar.gzip"),),
    )


def test_a_real_oci_manifest():
    manifest = parse_manifest(real_blob(STEREOSCOPE, STEREOSCOPE_MANIFEST))
    assert manifest == Manifest(
        media_type=OCI_MANIFEST,
        config_digest=STEREOSCOPE_CONFIG,
        layers=(LayerRef(STEREOSCOPE_LAYER, 120, "application/vnd.oci.image.layer.v1.tar+gzip"),),
    )


def test_an_oci_manifest_without_a_media_type_is_an_oci_manifest():
    assert parse_manifest(manifest_body(mediaType=None)).media_type == OCI_MANIFEST


def test_a_manifest_without_layers_has_none():
    assert parse_manifest(manifest_body(layers=[])).layers == ()


@pytest.mark.parametrize(("image_file", "digest"), [(ALPINE, ALPINE_LIST), (BUSYBOX_ATTESTED, BUSYBOX_INDEX)])
def test_a_real_index_is_refused(image_file, digest):
    with pytest.raises(ManifestProblem, match="an index"):
        parse_manifest(real_blob(image_file, digest))


def test_an_index_without_a_media_type_is_refused():
    with pytest.raises(ManifestProblem, match="an index"):
        parse_manifest(json.dumps({"schemaVersion": 2, "manifests": []}).encode())


def test_a_real_index_lists_its_platforms_and_marks_attestations():
    entries = parse_index(real_blob(BUSYBOX_ATTESTED, BUSYBOX_INDEX))
    platforms = [entry.platform for entry in entries]
    assert platforms.count(None) == 1
    assert [platform for platform in platforms if platform] == ["linux/arm64"]


def test_a_real_manifest_list_names_its_platform():
    assert [entry.platform for entry in parse_index(real_blob(ALPINE, ALPINE_LIST))] == ["linux/amd64"]


def test_a_platform_variant_is_part_of_its_name():
    entry = {"digest": A, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}
    assert parse_index(json.dumps({"manifests": [entry]}).encode())[0].platform == "linux/arm/v7"


def test_indexes_are_told_from_manifests():
    assert is_index(real_blob(ALPINE, ALPINE_LIST))
    assert is_index(json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    assert not is_index(manifest_body())
    assert not is_index(b"not json")


@pytest.mark.parametrize(
    ("entry", "said"),
    [("x", "not an object"), ({"digest": "sha256:12"}, "not a sha256 digest")],
)
def test_a_bad_index_entry_is_refused_in_one_line(entry, said):
    with pytest.raises(ManifestProblem, match=said):
        parse_index(json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode())


def test_an_entry_without_a_platform_is_not_an_image():
    (entry,) = parse_index(json.dumps({"manifests": [{"digest": A, "mediaType": OCI_MANIFEST}]}).encode())
    assert entry.platform is None


def test_a_real_config_names_its_platform():
    config = parse_config(real_blob(BUSYBOX_ATTESTED, BUSYBOX_ARM64_CONFIG))
    assert (config.os, config.architecture, config.variant) == ("linux", "arm64", None)


def test_a_config_without_a_platform_names_none():
    config = parse_config(json.dumps({"rootfs": {"diff_ids": []}, "os": 7}).encode())
    assert (config.os, config.architecture, config.variant) == (None, None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"schemaVersion": 1, "name": "library/alpine", "tag": "3", "fsLayers": [], "history": []},
        {"schemaVersion": 1, "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
    ],
)
def test_a_schema_1_manifest_is_refused(body):
    with pytest.raises(ManifestProblem, match="schema 1"):
        parse_manifest(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>rate limited</html>", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b'"manifest"', "a JSON str, not an object"),
        (manifest_body(schemaVersion=3), "schemaVersion '3'"),
        (manifest_body(mediaType="application/vnd.oci.artifact.manifest.v1+json"), "mediaType"),
        (manifest_body(config=None), "without a config"),
        (manifest_body(layers={"a": 1}), "without a layers list"),
        (manifest_body(config={"digest": "sha256:short"}), "config digest is not a sha256 digest"),
        (manifest_body(layers=["x"]), "layer 0 is not an object"),
        (manifest_body(layers=[{"digest": B, "mediaType": "x"}]), "layer 0 has no valid size"),
        (manifest_body(layers=[{"digest": B, "size": -1, "mediaType": "x"}]), "layer 0 has no valid size"),
        (manifest_body(layers=[{"digest": B, "size": True, "mediaType": "x"}]), "layer 0 has no valid size"),
        (manifest_body(layers=[{"digest": B, "size": 1}]), "layer 0 has no mediaType"),
        (manifest_body(layers=[{"digest": "md5:x", "size": 1, "mediaType": "x"}]), "layer 0 digest"),
    ],
)
def test_what_is_not_a_platform_manifest_is_refused_in_one_line(body, said):
    with pytest.raises(ManifestProblem) as refusal:
        parse_manifest(body)
    assert said in str(refusal.value)
    assert "\n" not in str(refusal.value)


def test_a_huge_manifest_is_refused_before_it_is_parsed():
    body = b" " * MAX_MANIFEST_BYTES + manifest_body()
    with pytest.raises(ManifestProblem, match="larger than"):
        parse_manifest(body)


# Configs


def test_a_real_config_with_an_empty_layer_step():
    config = parse_config(real_blob(ALPINE, ALPINE_CONFIG))
    assert config.diff_ids == (ALPINE_DIFF_ID,)
    assert [step["empty_layer"] for step in config.history] == [False, True]
    assert config.history[1] == {
        "created": "2023-02-11T04:46:59.997430675Z",
        "created_by": '/bin/sh -c #(nop)  CMD ["/bin/sh"]',
        "comment": None,
        "empty_layer": True,
    }


def test_a_real_config_keeps_the_buildkit_comment():
    config = parse_config(real_blob(STEREOSCOPE, STEREOSCOPE_CONFIG))
    assert config.history == (
        {
            "created": "2024-02-07T09:02:36.826417009Z",
            "created_by": "COPY README.md / # buildkit",
            "comment": "buildkit.dockerfile.v0",
            "empty_layer": False,
        },
    )


def test_a_real_diff_id_is_the_sha256_of_the_uncompressed_layer():
    layer = real_blob(STEREOSCOPE, STEREOSCOPE_LAYER)
    diff_ids = parse_config(real_blob(STEREOSCOPE, STEREOSCOPE_CONFIG)).diff_ids
    assert diff_ids == ("sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest(),)


def test_a_config_without_history_has_none():
    body = json.dumps({"rootfs": {"type": "layers", "diff_ids": [A]}}).encode()
    assert parse_config(body) == ImageConfig(diff_ids=(A,), history=())


def test_history_is_normalised_to_its_four_keys():
    body = json.dumps(
        {
            "rootfs": {"diff_ids": []},
            "history": [{"created_by": "x", "author": "me", "empty_layer": "yes", "created": 5}],
        }
    ).encode()
    assert parse_config(body).history == (
        {"created": None, "created_by": "x", "comment": None, "empty_layer": False},
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"rootfs": {"type": "layers"}}, "without rootfs.diff_ids"),
        ({"rootfs": "layers"}, "without rootfs.diff_ids"),
        ({}, "without rootfs.diff_ids"),
        ({"rootfs": {"diff_ids": ["sha256:1"]}}, "diff_id 0 is not a sha256 digest"),
        ({"rootfs": {"diff_ids": []}, "history": {}}, "history is not a list"),
        ({"rootfs": {"diff_ids": []}, "history": [1]}, "history entry 0 is not an object"),
    ],
)
def test_a_config_that_gives_no_layers_is_refused(body, said):
    with pytest.raises(ManifestProblem, match=said):
        parse_config(json.dumps(body).encode())


def test_a_huge_config_is_refused():
    with pytest.raises(ManifestProblem, match=r"config of \d+ bytes is larger than"):
        parse_config(b" " * (MAX_CONFIG_BYTES + 1))


# Chain IDs


def test_the_first_chain_id_is_the_first_diff_id():
    assert chain_ids([A]) == [A]


def test_no_layers_no_chain():
    assert chain_ids([]) == []


def test_chain_ids_of_a_real_image_match_an_independent_computation():
    config = parse_config(real_member(DIVE, DIVE_CONFIG))
    assert len(config.diff_ids) == 14
    assert chain_ids(config.diff_ids)[:3] == DIVE_CHAIN


def test_a_chain_id_depends_on_the_order_of_the_layers():
    assert chain_ids([A, B])[1] != chain_ids([B, A])[1]


# Instructions from the Hub API's images endpoint


IMAGES_ANSWER = [
    {"digest": C, "architecture": "arm64", "layers": [{"digest": A, "size": 3, "instruction": "ADD other"}]},
    {
        "digest": A,
        "architecture": "amd64",
        "layers": [
            {"digest": B, "size": 3, "instruction": "ADD file:abc in /"},
            {"size": 0, "instruction": 'CMD ["/bin/sh"]'},
            {"digest": C, "size": 7, "instruction": "RUN apk add curl"},
            {"digest": "", "size": 0, "instruction": "ENV A=b"},
        ],
    },
]


def test_instructions_are_those_of_the_steps_that_made_a_layer():
    assert layer_instructions(IMAGES_ANSWER, A) == ["ADD file:abc in /", "RUN apk add curl"]


def test_an_image_the_answer_does_not_list_has_no_instructions():
    assert layer_instructions(IMAGES_ANSWER, B) is None


def test_an_image_without_layers_in_the_answer_has_no_instructions():
    assert layer_instructions([{"digest": A}], A) is None


def test_a_step_without_an_instruction_keeps_its_place():
    assert layer_instructions(
        [{"digest": A, "layers": [{"digest": B}, {"digest": C, "instruction": "RUN x"}]}], A
    ) == [
        "",
        "RUN x",
    ]


# The image record


def alpine_record(instructions: list[str] | None) -> dict[str, object]:
    return image_record(
        digest=ALPINE_MANIFEST,
        namespace="library",
        repository="alpine",
        platform="linux/amd64",
        os="linux",
        architecture="amd64",
        variant=None,
        os_version=None,
        image_id=ALPINE_CONFIG,
        manifest=parse_manifest(real_blob(ALPINE, ALPINE_MANIFEST)),
        config=parse_config(real_blob(ALPINE, ALPINE_CONFIG)),
        instructions=instructions,
        seen_at="2026-11-22T14:00:00Z",
    )


def test_the_image_record_of_a_real_image():
    record = alpine_record(["ADD file:a41bb436 in /"])
    assert record["layers"] == [
        {
            "digest": ALPINE_LAYER,
            "diff_id": ALPINE_DIFF_ID,
            "chain_id": ALPINE_DIFF_ID,
            "size": 2829633,
            "media_type": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "instruction": "ADD file:a41bb436 in /",
        }
    ]
    assert len(record["history"]) == 2
    assert list(record) == [
        "digest",
        "image_id",
        "namespace",
        "repository",
        "platform",
        "os",
        "architecture",
        "variant",
        "os_version",
        "layers",
        "history",
        "seen_at",
    ]


def test_the_image_record_matches_its_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).resolve().parent.parent / "hubspider/schemas/image_record.json"
    jsonschema.validate(alpine_record(None), json.loads(schema_path.read_text()))


@pytest.mark.parametrize("instructions", [None, [], ["one", "two"]])
def test_instructions_that_do_not_pair_with_the_layers_are_null(instructions):
    assert [layer["instruction"] for layer in alpine_record(instructions)["layers"]] == [None]


def test_a_manifest_and_config_that_disagree_on_the_layers_are_refused():
    with pytest.raises(ManifestProblem, match="1 layers, its config 2 diff_ids"):
        image_record(
            digest=A,
            namespace="library",
            repository="alpine",
            platform="linux/amd64",
            os="linux",
            architecture="amd64",
            variant=None,
            os_version=None,
            image_id=B,
            manifest=Manifest(DOCKER_MANIFEST, B, (LayerRef(C, 1, "x"),)),
            config=ImageConfig(diff_ids=(A, C), history=()),
            instructions=None,
            seen_at="2026-11-22T14:00:00Z",
        )

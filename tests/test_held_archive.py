"""Saved images read back: every layout docker, skopeo, kaniko, containerd and buildx write gives
the image the writer made (tests/imagefiles.py), and every damaged or foreign file one line."""

from __future__ import annotations

import io
import json
import lzma
import os
import shutil
import tarfile
import threading
from typing import TYPE_CHECKING

import pytest

from hubspider.held import members as members_module
from hubspider.held.archive import read_archive
from hubspider.held.image import HeldImage, InputProblem
from hubspider.held.local import read_local
from hubspider.registry.content import MAX_CONFIG_BYTES, OCI_INDEX
from tests import imagefiles as files

if TYPE_CHECKING:
    from pathlib import Path

BASE = files.image(2, seed="base")
APP = files.derived(BASE, 2, seed="app")
ARM = files.image(2, platform="linux/arm64/v8", seed="base")
ARMV7 = files.image(1, platform="linux/arm/v7", seed="base")


def only(images: list[HeldImage]) -> HeldImage:
    assert len(images) == 1, images
    return images[0]


def refusal(path: Path | str) -> str:
    with pytest.raises(InputProblem) as raised:
        read_archive(str(path))
    message = str(raised.value)
    assert "\n" not in message
    return message


def hexpart(digest: str) -> str:
    return digest.removeprefix("sha256:")


def member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read()


def member_names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


# docker save before Docker 25, skopeo, kaniko -------------------------------------------------------


@pytest.mark.parametrize("style", ["docker", "skopeo"])
def test_a_docker_save_gives_the_config_and_no_compressed_digests(tmp_path, style):
    path = files.write_docker_save(tmp_path / "app.tar", [(APP, ["app:1.0", "app:latest"])], style=style)
    held = only(read_archive(str(path)))
    assert held == HeldImage(
        platform="linux/amd64",
        image_id=APP.image_id,
        diff_ids=APP.diff_ids,
        layer_digests=None,
        digests=(),
        names=("app:1.0", "app:latest"),
    )


def test_a_kaniko_tarball_names_its_layers_by_compressed_digest(tmp_path):
    path = files.write_docker_save(tmp_path / "kaniko.tar", [(APP, ["app:kaniko"])], style="kaniko")
    held = only(read_archive(str(path)))
    assert held.image_id == APP.image_id
    assert held.diff_ids == APP.diff_ids
    assert held.layer_digests == APP.layer_digests


def test_an_outer_gzip_is_told_by_its_bytes_not_its_name(tmp_path):
    path = files.write_docker_save(tmp_path / "looks-plain.tar", [(APP, ["app:1"])], gzip=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert only(read_archive(str(path))).image_id == APP.image_id


def test_an_xz_compressed_save_is_read(tmp_path):
    plain = files.write_docker_save(tmp_path / "plain.tar", [(APP, [])])
    path = tmp_path / "app.tar.xz"
    path.write_bytes(lzma.compress(plain.read_bytes()))
    assert only(read_archive(str(path))).diff_ids == APP.diff_ids


def test_a_zstd_compressed_save_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "app.tar.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    assert "zstd -d" in refusal(path)


def test_a_save_of_several_images_gives_each_in_order(tmp_path):
    path = files.write_docker_save(tmp_path / "both.tar", [(BASE, ["base:1"]), (APP, ["app:1"])])
    images = read_archive(str(path))
    assert [(image.image_id, image.diff_ids, image.names) for image in images] == [
        (BASE.image_id, BASE.diff_ids, ("base:1",)),
        (APP.image_id, APP.diff_ids, ("app:1",)),
    ]


def test_the_image_id_is_the_hash_of_the_config_not_its_file_name(tmp_path):
    tree = files.docker_save_tree([(APP, ["app:1"])])
    stale = "0" * 64 + ".json"
    tree[stale] = tree.pop(f"{hexpart(APP.image_id)}.json")
    tree["manifest.json"] = tree["manifest.json"].replace(
        f"{hexpart(APP.image_id)}.json".encode(), stale.encode()
    )
    path = files.write_tree(tmp_path / "edited.tar", tree)
    assert only(read_archive(str(path))).image_id == APP.image_id


def test_repo_tags_null_or_empty_give_no_names(tmp_path):
    path = files.write_docker_save(tmp_path / "untagged.tar", [(APP, [])])
    assert json.loads(member(path, "manifest.json"))[0]["RepoTags"] is None
    assert only(read_archive(str(path))).names == ()


def test_hard_links_and_dot_slash_names_are_followed(tmp_path):
    tree = files.docker_save_tree([(APP, ["app:1"])])
    # Like GNU tar run in the folder: every name starts with ./, and a second copy is a hard link.
    config = f"{hexpart(APP.image_id)}.json"
    renamed: files.Tree = {f"./{name}": value for name, value in tree.items() if name != config}
    renamed["./original.json"] = tree[config]
    renamed[f"./{config}"] = files.Link("./original.json", hard=True)
    path = files.write_tree(tmp_path / "dotted.tar", renamed)
    assert only(read_archive(str(path))).image_id == APP.image_id


def test_macos_junk_is_ignored(tmp_path):
    tree = files.oci_layout_tree([(APP, ["app:1"])])
    tree["._index.json"] = b"\x00\x05\x16\x07 AppleDouble junk"
    tree[".DS_Store"] = b"\x00\x00\x00\x01Bud1"
    tree[f"blobs/sha256/._{hexpart(APP.manifest_digest)}"] = b"\x00\x05\x16\x07"
    tree["__MACOSX/index.json"] = b"not json"
    path = files.write_tree(tmp_path / "mac.tar", tree)
    assert only(read_archive(str(path))).image_id == APP.image_id
    junk_only = files.write_tree(
        tmp_path / "junk.tar", {".DS_Store": b"Bud1", "._manifest.json": b"\x00\x05"}
    )
    assert refusal(junk_only).endswith("holds no image: it is empty (no files in it)")


def test_a_manifest_with_fewer_layers_than_diff_ids_gives_no_compressed_digests(tmp_path):
    tree = files.docker_save_tree([(APP, [])], style="kaniko")
    entries = json.loads(tree["manifest.json"])
    entries[0]["Layers"] = entries[0]["Layers"][:1]
    tree["manifest.json"] = files.compact(entries)
    held = only(read_archive(str(files.write_tree(tmp_path / "trimmed.tar", tree))))
    assert (held.diff_ids, held.layer_digests) == (APP.diff_ids, None)


# Docker 25+ saves --------------------------------------------------------------------------------


def test_a_docker_25_classic_save_gives_its_manifest_and_tags(tmp_path):
    path = files.write_docker_save_oci(tmp_path / "classic.tar", [(APP, ["app:1.0"])], store="classic")
    held = only(read_archive(str(path)))
    assert held == HeldImage(
        platform="linux/amd64",
        image_id=APP.image_id,
        diff_ids=APP.diff_ids,
        # The classic store saves layers uncompressed: their digests are the diff_ids.
        layer_digests=None,
        digests=(files.sha256_digest(files.classic_manifest(APP)),),
        names=("docker.io/library/app:1.0", "app:1.0"),
    )


def test_a_docker_25_save_by_id_is_named_by_manifest_json_only(tmp_path):
    path = files.write_docker_save_oci(tmp_path / "by-id.tar", [(APP, [])], store="classic")
    assert json.loads(member(path, "index.json"))["manifests"] is None
    held = only(read_archive(str(path)))
    assert (held.image_id, held.diff_ids, held.digests, held.names) == (APP.image_id, APP.diff_ids, (), ())


def test_a_containerd_save_holds_one_platform_of_an_index_of_three(tmp_path):
    busybox = files.build(BASE, ARM, ARMV7)
    path = files.write_docker_save_oci(
        tmp_path / "busybox.tar",
        [(busybox, ["busybox:latest"])],
        store="containerd",
        platforms_present=["linux/arm/v7"],
    )
    held = only(read_archive(str(path)))
    assert held == HeldImage(
        platform="linux/arm/v7",
        image_id=ARMV7.image_id,
        diff_ids=ARMV7.diff_ids,
        layer_digests=ARMV7.layer_digests,
        digests=(ARMV7.manifest_digest, busybox.digest),
        names=("docker.io/library/busybox:latest", "busybox:latest"),
    )


def test_a_containerd_save_of_a_single_manifest(tmp_path):
    path = files.write_docker_save_oci(tmp_path / "one.tar", [(APP, ["me/app:2"])], store="containerd")
    held = only(read_archive(str(path)))
    assert (held.image_id, held.layer_digests, held.digests) == (
        APP.image_id,
        APP.layer_digests,
        (APP.manifest_digest,),
    )
    assert held.names == ("docker.io/me/app:2", "me/app:2")


def test_attestation_manifests_are_not_images(tmp_path):
    path = files.write_docker_save_oci(
        tmp_path / "attested.tar", [(files.build(ARM), ["a:1"])], store="containerd"
    )
    names = member_names(path)
    attestation = files.Attestation(ARM.manifest_digest)
    assert f"blobs/sha256/{hexpart(attestation.digest)}" in names
    assert [image.image_id for image in read_archive(str(path))] == [ARM.image_id]


# OCI layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tar", [True, False], ids=["tar", "directory"])
def test_an_oci_layout_of_two_platforms_gives_both(tmp_path, tar):
    multi = files.build(BASE, ARM)
    path = files.write_oci_layout(tmp_path / "multi", [(multi, ["multi:latest"])], tar=tar)
    images = read_archive(str(path))
    assert [
        (image.platform, image.image_id, image.diff_ids, image.layer_digests, image.digests)
        for image in images
    ] == [
        (
            "linux/amd64",
            BASE.image_id,
            BASE.diff_ids,
            BASE.layer_digests,
            (BASE.manifest_digest, multi.digest),
        ),
        (
            "linux/arm64/v8",
            ARM.image_id,
            ARM.diff_ids,
            ARM.layer_digests,
            (ARM.manifest_digest, multi.digest),
        ),
    ]
    assert all(image.names == ("multi:latest",) for image in images)


def test_an_index_json_without_media_type_and_docker_media_types_inside(tmp_path):
    docker_image = files.image(2, media="docker", seed="docker")
    listed = files.build(docker_image, attestations=False, media="docker")
    path = files.write_oci_layout(tmp_path / "docker.tar", [(listed, ["3.14"])], index_media_type=False)
    assert "mediaType" not in json.loads(member(path, "index.json"))
    held = only(read_archive(str(path)))
    assert (held.image_id, held.layer_digests, held.digests) == (
        docker_image.image_id,
        docker_image.layer_digests,
        (docker_image.manifest_digest, listed.digest),
    )


def test_descriptors_without_media_type_are_told_by_their_shape(tmp_path):
    tree = files.oci_layout_tree([(files.build(BASE, attestations=False), [])])
    index = json.loads(tree["index.json"])
    del index["manifests"][0]["mediaType"]
    tree["index.json"] = files.compact(index)
    assert only(read_archive(str(files.write_tree(tmp_path / "bare.tar", tree)))).image_id == BASE.image_id


def test_nested_indexes_give_every_index_digest_nearest_first(tmp_path):
    inner = files.build(APP, attestations=False)
    outer = files.compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_INDEX, "digest": inner.digest, "size": len(inner.index)}],
        }
    )
    tree = files.oci_layout_tree([(inner, [])])
    tree[f"blobs/sha256/{hexpart(files.sha256_digest(outer))}"] = outer
    index = json.loads(tree["index.json"])
    index["manifests"] = [{"mediaType": OCI_INDEX, "digest": files.sha256_digest(outer), "size": len(outer)}]
    tree["index.json"] = files.compact(index)
    held = only(read_archive(str(files.write_tree(tmp_path / "nested", tree, "dir"))))
    assert held.digests == (APP.manifest_digest, inner.digest, files.sha256_digest(outer))


def test_a_manifest_under_two_refs_is_one_image_with_both_names(tmp_path):
    path = files.write_oci_layout(tmp_path / "two-refs.tar", [(APP, ["app:1", "app:latest"])])
    assert only(read_archive(str(path))).names == ("app:1", "app:latest")


def test_a_ref_pinned_by_digest_adds_that_digest(tmp_path):
    pinned = f"docker.io/library/app@{APP.manifest_digest}"
    path = files.write_oci_layout(tmp_path / "pinned.tar", [(files.build(APP, attestations=False), [pinned])])
    held = only(read_archive(str(path)))
    assert held.names == (pinned,)
    assert APP.manifest_digest in held.digests


def test_platforms_whose_blobs_are_absent_are_not_present(tmp_path):
    multi = files.build(BASE, ARM, ARMV7)
    path = files.write_oci_layout(
        tmp_path / "partial.tar", [(multi, [])], platforms_present=["linux/arm64/v8"]
    )
    assert [image.platform for image in read_archive(str(path))] == ["linux/arm64/v8"]


def test_a_manifest_whose_config_is_absent_is_not_present(tmp_path):
    tree = files.oci_layout_tree([(files.build(BASE, ARM, attestations=False), [])])
    del tree[f"blobs/sha256/{hexpart(ARM.image_id)}"]
    assert [image.platform for image in read_archive(str(files.write_tree(tmp_path / "x.tar", tree)))] == [
        "linux/amd64"
    ]


# What is not an image, or not one any more ------------------------------------------------------


def test_an_index_whose_blobs_are_all_absent(tmp_path):
    multi = files.build(BASE, ARM)
    path = files.write_oci_layout(tmp_path / "none.tar", [(multi, [])], platforms_present=[])
    message = refusal(path)
    assert "holds no image: the blobs its index names are missing" in message
    assert f"blobs/sha256/{hexpart(BASE.manifest_digest)[:12]}" in message


def test_a_helm_chart_is_an_artifact_not_an_image(tmp_path):
    config = b"{}"
    manifest = files.compact(
        {
            "schemaVersion": 2,
            "config": {
                "mediaType": "application/vnd.cncf.helm.config.v1+json",
                "digest": files.sha256_digest(config),
                "size": 2,
            },
            "layers": [],
        }
    )
    tree: files.Tree = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": files.compact(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": files.OCI_MANIFEST,
                        "digest": files.sha256_digest(manifest),
                        "size": len(manifest),
                    }
                ],
            }
        ),
        f"blobs/sha256/{hexpart(files.sha256_digest(manifest))}": manifest,
        f"blobs/sha256/{hexpart(files.sha256_digest(config))}": config,
    }
    message = refusal(files.write_tree(tmp_path / "chart", tree, "dir"))
    assert message.endswith("holds an OCI artifact (application/vnd.cncf.helm.config.v1+json), not an image")


def test_only_unknown_media_types(tmp_path):
    tree = files.oci_layout_tree([(APP, [])])
    index = json.loads(tree["index.json"])
    index["manifests"][0]["mediaType"] = "application/badmedia+json"
    tree["index.json"] = files.compact(index)
    assert "only unknown media types (application/badmedia+json)" in refusal(
        files.write_tree(tmp_path / "b", tree, "dir")
    )


@pytest.mark.parametrize("damaged", ["manifest", "config"])
def test_a_blob_that_does_not_match_its_digest_is_damage(tmp_path, damaged):
    tree = files.oci_layout_tree([(APP, ["app:1"])])
    digest = APP.manifest_digest if damaged == "manifest" else APP.image_id
    name = f"blobs/sha256/{hexpart(digest)}"
    body = tree[name]
    assert isinstance(body, bytes)
    tree[name] = body.replace(b"{", b"{ ", 1)
    message = refusal(files.write_tree(tmp_path / "damaged.tar", tree))
    assert message.endswith(
        f"blobs/sha256/{hexpart(digest)[:12]}… does not match its digest: the file is damaged"
    )


def test_an_oversized_config_is_refused_unread(tmp_path):
    tree = files.docker_save_tree([(APP, [])])
    tree[f"{hexpart(APP.image_id)}.json"] = files.Sparse(MAX_CONFIG_BYTES + 1)
    assert "more than a config may be" in refusal(files.write_tree(tmp_path / "big-config.tar", tree))


@pytest.mark.parametrize(
    ("manifest_json", "expected"),
    [
        (b"null", "manifest.json is null, not a list of images"),
        (b"{}", "manifest.json is a JSON dict, not a list of images"),
        (b"[1]", "manifest.json entry 0 is not an object"),
        (b'[{"Config": 5}]', "manifest.json entry 0 has no Config file name and Layers list"),
        (b"[{", "manifest.json is not JSON"),
        (b'["\xc3\x28"]', "manifest.json is not UTF-8 text"),
        (b"[]", "holds no image: its manifest.json is an empty list"),
    ],
)
def test_a_broken_manifest_json(tmp_path, manifest_json, expected):
    path = files.write_tree(tmp_path / "broken.tar", {"manifest.json": manifest_json})
    assert expected in refusal(path)


def test_a_config_named_but_missing(tmp_path):
    tree = files.docker_save_tree([(APP, [])])
    del tree[f"{hexpart(APP.image_id)}.json"]
    message = refusal(files.write_tree(tmp_path / "no-config.tar", tree))
    assert message.endswith(f"{hexpart(APP.image_id)}.json, the config manifest.json names, is missing")


def test_a_config_that_is_not_an_image_config(tmp_path):
    tree = files.docker_save_tree([(APP, [])])
    tree[f"{hexpart(APP.image_id)}.json"] = b'{"architecture": "amd64", "os": "linux"}'
    assert "is not an image config (no rootfs.diff_ids)" in refusal(
        files.write_tree(tmp_path / "c.tar", tree)
    )


def test_an_index_json_that_is_not_json(tmp_path):
    tree = files.oci_layout_tree([(APP, [])])
    tree["index.json"] = b"foobar"
    assert "index.json is not JSON (Expecting value at line 1 column 1)" in refusal(
        files.write_tree(tmp_path / "bad-index", tree, "dir")
    )


def test_a_save_from_before_docker_1_10(tmp_path):
    v1 = "ab" * 32
    tree: files.Tree = {f"{v1}/json": b'{"id": "x"}', f"{v1}/layer.tar": b"", f"{v1}/VERSION": b"1.0"}
    tree["repositories"] = b'{"old": {"latest": "' + v1.encode() + b'"}}'
    assert "a docker save from Docker before 1.10 (no image config): not supported" in refusal(
        files.write_tree(tmp_path / "v1.tar", tree)
    )


def test_a_plain_tar_of_other_files(tmp_path):
    path = files.write_tree(tmp_path / "notes.tar", {"./notes.txt": b"hello", "./readme.txt": b"hi"})
    assert refusal(path) == f"{path} holds no image: no manifest.json or index.json"


def test_an_empty_tar(tmp_path):
    path = tmp_path / "empty.tar"
    path.write_bytes(b"\0" * 10240)
    assert refusal(path) == f"{path} holds no image: it is empty (no files in it)"


def test_an_empty_file(tmp_path):
    path = tmp_path / "zero.tar"
    path.write_bytes(b"")
    assert "is empty (0 bytes)" in refusal(path)


def test_a_file_that_is_not_a_tar(tmp_path):
    path = tmp_path / "photo.tar"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    assert "is not a tar file" in refusal(path)


def test_a_truncated_tar(tmp_path):
    path = files.write_docker_save(tmp_path / "cut.tar", [(APP, ["app:1"])])
    files.truncate(path, os.path.getsize(path) // 2 + 100)
    assert "truncated" in refusal(path)


@pytest.mark.parametrize("into_header", [0, 100])
def test_a_tar_cut_at_a_member_boundary_is_truncated_not_foreign(tmp_path, into_header):
    """tarfile takes a cut between members for the end of the archive: the missing end blocks tell."""
    path = files.write_docker_save(tmp_path / "cut.tar", [(APP, ["app:1"])])
    with tarfile.open(path) as tar:
        offset = tar.getmember("manifest.json").offset
    files.truncate(path, offset + into_header)
    assert refusal(path) == f"{path} is truncated: the tar stops before its end"
    with pytest.raises(InputProblem, match=r"^standard input is truncated"):
        read_local("-", io.BytesIO(path.read_bytes()))


@pytest.mark.parametrize("cut", [3000, 1024])
def test_a_tar_cut_after_its_metadata_is_refused_too(tmp_path, cut):
    """Cut in its last member (3000) or in its end blocks (1024): not the file that was saved."""
    tree = files.docker_save_tree([(APP, ["app:1"])])
    tree["zz-extra-layer.tar"] = b"x" * 4096
    path = files.write_tree(tmp_path / "cut.tar", tree)
    files.truncate(path, os.path.getsize(path) - cut)
    assert refusal(path).startswith(f"{path} is truncated: ")


def test_a_truncated_gzip(tmp_path):
    path = files.write_docker_save(tmp_path / "cut.tar.gz", [(APP, ["app:1"])], gzip=True)
    files.truncate(path, os.path.getsize(path) - 200)
    assert "truncated" in refusal(path)


def test_a_missing_path(tmp_path):
    assert refusal(tmp_path / "nothing.tar") == f"no such file or directory: {tmp_path / 'nothing.tar'}"


def test_a_directory_that_is_not_a_layout(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print()")
    assert refusal(tmp_path / "src").endswith("holds no image: no manifest.json or index.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file(tmp_path):
    path = files.write_docker_save(tmp_path / "secret.tar", [(APP, [])])
    path.chmod(0)
    assert "permission denied" in refusal(path).lower()


def test_a_file_name_with_a_newline_still_gives_one_line(tmp_path):
    path = tmp_path / "two\nlines.tar"
    path.write_bytes(b"\0" * 10240)
    assert "two\\nlines.tar" in refusal(path)


# Reading what is needed, and nothing else -----------------------------------------------------------


def test_a_2_gb_layer_is_never_read(tmp_path, monkeypatch):
    if shutil.disk_usage(tmp_path).free < 64 * 2**20:
        pytest.skip("not enough disk for the metadata around a sparse 2 GB member")
    tree = files.docker_save_tree([(APP, ["app:1"])])
    huge = next(name for name in tree if name.endswith("/layer.tar"))
    tree[huge] = files.Sparse(2 * 2**30)
    path = files.write_tree(tmp_path / "huge.tar", tree)
    extracted: list[str] = []
    original = tarfile.TarFile.extractfile

    def recording(self, member):
        extracted.append(member if isinstance(member, str) else member.name)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", recording)
    held = only(read_archive(str(path)))
    assert held.diff_ids == APP.diff_ids
    assert os.path.getsize(path) > 2 * 2**30
    assert sorted(extracted) == sorted(["manifest.json", f"{hexpart(APP.image_id)}.json"])


# Standard input and pipes --------------------------------------------------------------------------


@pytest.mark.parametrize("gzip", [False, True])
def test_a_save_piped_to_stdin(tmp_path, gzip):
    path = files.write_docker_save(tmp_path / "app.tar", [(BASE, ["base:1"]), (APP, ["app:1"])], gzip=gzip)
    images = read_local("-", io.BytesIO(path.read_bytes()))
    assert [(image.image_id, image.diff_ids, image.names) for image in images] == [
        (BASE.image_id, BASE.diff_ids, ("base:1",)),
        (APP.image_id, APP.diff_ids, ("app:1",)),
    ]


def test_an_oci_save_piped_to_stdin_follows_the_index(tmp_path):
    multi = files.build(BASE, ARM)
    path = files.write_docker_save_oci(
        tmp_path / "multi.tar", [(multi, ["m:1"])], store="containerd", platforms_present=["linux/amd64"]
    )
    held = only(read_local("-", io.BytesIO(path.read_bytes())))
    assert (held.image_id, held.layer_digests, held.digests) == (
        BASE.image_id,
        BASE.layer_digests,
        (BASE.manifest_digest, multi.digest),
    )


def test_a_tar_stream_keeps_no_more_than_its_metadata_budget(tmp_path, monkeypatch):
    path = files.write_docker_save(tmp_path / "app.tar", [(APP, ["app:1"])])
    monkeypatch.setattr(members_module, "MAX_STREAM_METADATA", 100)
    with pytest.raises(InputProblem, match="of metadata in a tar stream: save it to a file"):
        read_local("-", io.BytesIO(path.read_bytes()))


def test_a_truncated_tar_stream(tmp_path):
    path = files.write_docker_save(tmp_path / "app.tar", [(APP, ["app:1"])])
    with pytest.raises(InputProblem, match="truncated"):
        read_local("-", io.BytesIO(path.read_bytes()[:3000]))


def test_empty_stdin():
    with pytest.raises(InputProblem, match="standard input is empty"):
        read_local("-", io.BytesIO(b""))


def test_a_named_pipe_is_read_as_a_stream(tmp_path):
    source = files.write_docker_save(tmp_path / "app.tar", [(APP, ["app:1"])])
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as writer:
            writer.write(source.read_bytes())

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        held = only(read_local(str(fifo), io.BytesIO()))
    finally:
        feeder.join(timeout=10)
    assert held.image_id == APP.image_id


def test_read_local_reads_a_directory_and_a_tar(tmp_path):
    directory = files.write_oci_layout(tmp_path / "layout", [(APP, [])], tar=False)
    tar = files.write_docker_save(tmp_path / "app.tar", [(APP, [])])
    assert only(read_local(str(directory), io.BytesIO())).image_id == APP.image_id
    assert only(read_local(str(tar), io.BytesIO())).image_id == APP.image_id


def test_read_local_of_a_missing_path(tmp_path):
    with pytest.raises(InputProblem, match=r"^no such file or directory: .*gone\.tar$"):
        read_local(str(tmp_path / "gone.tar"), io.BytesIO())


def test_an_image_rebuilt_from_what_a_registry_serves_saves_like_the_original(tmp_path):
    served = files.from_registry(APP.config, APP.manifest, APP.blobs())
    assert served == APP
    path = files.write_docker_save_oci(tmp_path / "served.tar", [(served, ["app:1"])], store="classic")
    held = only(read_archive(str(path)))
    assert (held.image_id, held.diff_ids) == (APP.image_id, APP.diff_ids)


def test_a_build_rebuilt_from_a_served_index_keeps_its_index_digest(tmp_path):
    served = files.build(BASE, ARM)
    rebuilt = files.from_registry_index(served.index, [BASE, ARM])
    path = files.write_docker_save_oci(
        tmp_path / "pulled.tar",
        [(rebuilt, ["m:1"])],
        store="containerd",
        platforms_present=["linux/arm64/v8"],
    )
    held = only(read_archive(str(path)))
    assert held.digests == (ARM.manifest_digest, served.digest)

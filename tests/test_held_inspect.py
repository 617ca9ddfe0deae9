"""`docker image inspect` and `podman image inspect` output read back into the image it describes."""

from __future__ import annotations

import io
import json

import pytest

from hubspider.held.image import HeldImage, InputProblem
from hubspider.held.inspect import read_inspect
from hubspider.held.local import read_local
from tests import imagefiles as files

BASE = files.image(2, seed="base")
APP = files.derived(BASE, 1, seed="app")
ARM = files.image(1, platform="linux/arm64/v8", seed="arm")
REPO_DIGEST = f"me/app@{APP.manifest_digest}"


def refusal(text: str | bytes, source: str = "inspect.json") -> str:
    with pytest.raises(InputProblem) as raised:
        read_inspect(text.encode() if isinstance(text, str) else text, source)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_docker_with_the_classic_store_names_the_config():
    images = read_inspect(files.docker_inspect(APP, ["me/app:1"], [REPO_DIGEST]).encode(), "x")
    assert images == [
        HeldImage(
            platform="linux/amd64",
            image_id=APP.image_id,
            diff_ids=APP.diff_ids,
            layer_digests=None,
            digests=(APP.manifest_digest,),
            names=("me/app:1",),
        )
    ]


def test_docker_with_the_containerd_store_names_the_manifest():
    output = files.docker_inspect(APP, ["me/app:1"], [REPO_DIGEST], containerd_store=True)
    (held,) = read_inspect(output.encode(), "x")
    assert held.image_id is None
    assert held.digests == (APP.manifest_digest,)
    assert held.diff_ids == APP.diff_ids


def test_an_id_that_differs_from_the_descriptor_is_the_image_id():
    document = json.loads(files.docker_inspect(APP, containerd_store=True))
    document[0]["Id"] = APP.image_id
    (held,) = read_inspect(json.dumps(document).encode(), "x")
    assert (held.image_id, held.digests) == (APP.image_id, ())


def test_podman_ids_are_bare_hex_with_the_manifest_digest_beside():
    other = "sha256:" + "b" * 64
    output = files.podman_inspect(APP, ["registry.example/app:1"], [f"registry.example/app@{other}"])
    (held,) = read_inspect(output.encode(), "x")
    assert held.image_id == APP.image_id
    assert held.digests == (APP.manifest_digest, other)
    assert held.names == ("registry.example/app:1",)


def test_a_variant_is_part_of_the_platform():
    (held,) = read_inspect(files.docker_inspect(ARM).encode(), "x")
    assert held.platform == "linux/arm64/v8"


def test_one_object_rather_than_an_array():
    document = json.loads(files.docker_inspect(APP))[0]
    (held,) = read_inspect(json.dumps(document).encode(), "x")
    assert held.diff_ids == APP.diff_ids


def test_several_images_in_one_output():
    output = json.loads(files.docker_inspect(BASE)) + json.loads(files.docker_inspect(ARM))
    images = read_inspect(json.dumps(output).encode(), "x")
    assert [(held.image_id, held.platform) for held in images] == [
        (BASE.image_id, "linux/amd64"),
        (ARM.image_id, "linux/arm64/v8"),
    ]


def test_a_container_inspect_says_what_to_run_instead():
    message = refusal(files.container_inspect(APP), "c.json")
    assert message == (
        f"c.json is a container's inspect output: run docker image inspect {APP.image_id[7:19]} and give that"
    )


def test_invalid_json_names_the_line_and_column():
    text = files.docker_inspect(APP).replace('"Cmd"', '"C\\$md"', 1)
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "\\$" in content)
    message = refusal(text)
    assert message.startswith("inspect.json is not JSON (Invalid \\escape at line ")
    assert f"at line {line} column" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda image: image["RootFS"].pop("Layers"), "has no RootFS.Layers"),
        (lambda image: image["RootFS"].update(Layers=[]), "has no RootFS.Layers"),
        (lambda image: image["RootFS"].update(Layers=["abc"]), "RootFS.Layers[0] is not a sha256 digest"),
        (lambda image: image.pop("Os"), "has no Os and Architecture"),
        (lambda image: image.pop("Id"), "is not docker image inspect output (no image Id)"),
    ],
)
def test_inspect_output_without_what_a_match_needs(change, expected):
    document = json.loads(files.docker_inspect(APP))
    change(document[0])
    assert expected in refusal(json.dumps(document))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "is an empty list"),
        ("[1]", "is not docker image inspect output (a JSON int)"),
        ('"sha256:abc"', "is not docker image inspect output (a JSON str)"),
    ],
)
def test_json_that_is_no_inspect_output(text, expected):
    assert expected in refusal(text)


def test_bytes_that_are_not_utf8():
    assert refusal(b'[{"Id": "\xff"}]') == "inspect.json is not UTF-8 text: not JSON"


# Through read_local: files and standard input ------------------------------------------------------


def test_a_json_file_is_read_as_inspect_output(tmp_path):
    path = tmp_path / "app.json"
    path.write_text("\n  " + files.podman_inspect(APP))
    (held,) = read_local(str(path), io.BytesIO())
    assert held.image_id == APP.image_id


def test_inspect_output_on_stdin_with_a_byte_order_mark():
    data = b"\xef\xbb\xbf" + files.docker_inspect(APP).encode()
    assert read_local("-", io.BytesIO(data))[0].image_id == APP.image_id


def test_a_utf16_file_as_windows_powershell_writes_it(tmp_path):
    path = tmp_path / "app.json"
    path.write_bytes(files.docker_inspect(APP).encode("utf-16"))
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    (held,) = read_local(str(path), io.BytesIO())
    assert held.diff_ids == APP.diff_ids


def test_a_mangled_file_on_stdin_names_standard_input():
    with pytest.raises(InputProblem, match=r"^standard input is not JSON \(Expecting"):
        read_local("-", io.BytesIO(b'[{"Id": }]'))

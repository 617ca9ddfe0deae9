"""`scrapy lookup` of what a user holds: an image ID, a compressed layer digest, a diff_id or a
chain ID, answered from the layer index with the images' current tags from the digest records."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hubspider.store import VERSION, Store
from tests.helpers import run_command
from tests.test_store_images import (
    ALPINE,
    FIRST,
    NEW_ALPINE,
    PY_AMD,
    PY_ARM,
    PYTHON,
    PYTHON_ARM,
    SECOND,
    THIRD,
    crawl,
    sha,
)

# Every test here runs `scrapy lookup` in a subprocess.
pytestmark = pytest.mark.e2e


@pytest.fixture
def store_path(tmp_path):
    """alpine:latest and python:3.12 (alias 3) crawled, then indexed; python:3.11 once held the
    arm64 image and no longer exists."""
    path = tmp_path / "store.sqlite3"
    with Store(path) as store:
        crawl(store, FIRST, {("python", "3.11"): (sha("py 3.11"), [PY_ARM], "2026-10-01T00:00:00Z")})
        crawl(
            store,
            SECOND,
            {
                ("alpine", "latest"): (sha("new index"), [NEW_ALPINE], "2026-10-20T00:00:00Z"),
                ("python", "3.12"): (sha("python index"), [PY_AMD], "2026-10-11T00:00:00Z"),
                ("python", "3"): (sha("python index"), [PY_AMD], "2026-10-11T00:00:00Z"),
            },
        )
        store.add_images([ALPINE, PYTHON, PYTHON_ARM], THIRD)
    return path


def lookup(tmp_path, store_path, *arguments):
    return run_command(tmp_path, "lookup", "--store", str(store_path), *arguments)


def test_a_shared_base_layer_names_both_images_and_its_position(tmp_path, store_path):
    base = PYTHON["layers"][0]["digest"]
    result = lookup(tmp_path, store_path, "--json", base[:19])
    assert result.returncode == 0, result.stderr
    shown = [
        (match["kind"], match["repository"], match["image_digest"], match["position"], match["layer_count"],
         [tag["image"] for tag in match["tags"]])
        for match in json.loads(result.stdout)
    ]  # fmt: skip
    assert shown == [
        ("layer", "alpine", ALPINE["digest"], 1, 1, ["alpine:latest"]),
        ("layer", "python", PYTHON["digest"], 1, 3, ["python:3.12", "python:3"]),
    ]


def test_a_diff_id_in_text_says_which_layer_of_which_image(tmp_path, store_path):
    result = lookup(tmp_path, store_path, PYTHON["layers"][1]["diff_id"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{PYTHON['layers'][1]['diff_id']}  diff_id (uncompressed layer)",
        f"  layer 2 of 3 in library/python  linux/amd64  {PYTHON['digest']}",
        "    python:3.12, python:3",
    ]


def test_an_image_id_names_its_image_and_one_without_a_current_tag_says_so(tmp_path, store_path):
    result = lookup(tmp_path, store_path, PYTHON_ARM["image_id"][:20])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{PYTHON_ARM['image_id']}  image ID (config digest)",
        f"  library/python  linux/arm64/v8  {PYTHON_ARM['digest']}  (2 layers)",
        "    no current tag",
    ]


def test_a_chain_id_is_found_by_json_with_the_image_id(tmp_path, store_path):
    chain = PYTHON["layers"][2]["chain_id"]
    result = lookup(tmp_path, store_path, "--json", chain)
    (match,) = json.loads(result.stdout)
    assert match == {
        "digest": chain,
        "kind": "chain_id",
        "namespace": "library",
        "repository": "python",
        "platform": "linux/amd64",
        "image_digest": PYTHON["digest"],
        "image_id": PYTHON["image_id"],
        "position": 3,
        "layer_count": 3,
        "tags": [
            {"tag": "3.12", "image": "python:3.12", "current": True},
            {"tag": "3", "image": "python:3", "current": True},
        ],
    }


def test_a_manifest_digest_is_still_answered_from_the_digest_records(tmp_path, store_path):
    result = lookup(tmp_path, store_path, "--json", PYTHON["digest"])
    assert result.returncode == 0, result.stderr
    (match,) = json.loads(result.stdout)
    assert (match["kind"], match["platform"]) == ("image", "linux/amd64")
    assert [tag["tag"] for tag in match["tags"]] == ["3.12", "3"]


def test_a_digest_neither_holds_exits_1(tmp_path, store_path):
    result = lookup(tmp_path, store_path, sha("nothing")[:19])
    assert result.returncode == 1
    assert result.stderr.startswith("Error: unknown digest")


def test_a_version_2_store_is_upgraded_by_a_lookup_and_answers_as_before(tmp_path, store_path):
    db = sqlite3.connect(store_path)
    for table in ("image_repositories", "image_layers", "chains", "layers", "images"):
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version = 2")
    db.close()
    result = lookup(tmp_path, store_path, "--json", PYTHON["digest"])
    assert result.returncode == 0, result.stderr
    assert [tag["tag"] for tag in json.loads(result.stdout)[0]["tags"]] == ["3.12", "3"]
    with Store(store_path, read_only=True) as store:
        assert store.find_in_images(PYTHON["image_id"]) == []
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == VERSION

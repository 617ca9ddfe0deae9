"""`scrapy detect` of an image built on an official image the layers crawl could not pull yet: a
`library` crawl, then a `layers` crawl whose pull window runs out almost at once, so that most
images are deferred; their compressed layers, which the Hub API announced, still find them as
bases of an input that carries compressed digests (an OCI layout), and not of one that carries
diff_ids alone (`docker inspect`). The truth is the emulator's data; the store is asked only
which images the crawl pulled."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from fakehub import HubServer, make_hub
from fakehub.registry import FakeRegistry
from hubspider.held.image import same_platform
from tests import imagefiles
from tests.helpers import run_crawl, run_layers, stat
from tests.test_detect import (
    HUB_SHAPE,
    STORE,
    Indexed,
    Official,
    as_image,
    base_truth,
    comparable,
    detect,
    detected,
    officials_of,
    tag_images,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

PULL_LIMIT = 3


@dataclass
class Deferred:
    indexed: Indexed
    #: Platform manifest digests the layers crawl pulled (the layer index holds them).
    pulled: set[str]


def compressed(official: Official) -> tuple[str, ...]:
    return tuple(layer.digest for layer in official.content.layers)


@pytest.fixture(scope="module")
def deferred(tmp_path_factory: pytest.TempPathFactory) -> Deferred:
    hub = make_hub(**HUB_SHAPE)
    workdir = tmp_path_factory.mktemp("announced")
    with HubServer(hub) as api:
        library = run_crawl(api.url, workdir, output=None)
        assert library.returncode == 0, library.stderr[-2000:]
        with FakeRegistry(hub, pull_limit=PULL_LIMIT) as registry:
            layers = run_layers(api.url, registry, workdir)
    assert layers.returncode == 0, layers.stderr[-3000:]
    assert "WARNING" in layers.stderr
    assert "wait for the next run" in layers.stderr
    assert stat(layers, "hubspider/lost") == 0
    officials = list(officials_of(hub).values())
    pulled = set(stored_digests(workdir / STORE, "images"))
    assert 0 < len(pulled) <= PULL_LIMIT
    # Every other image was announced, though not pulled: the export holds the pulled ones only.
    assert {record["digest"] for record in layers.records()} == pulled
    assert set(stored_digests(workdir / STORE, "announced")) == {official.digest for official in officials}
    assert stat(layers, "hubspider/layers/announced") >= len(officials) - len(pulled)
    states = tag_images(hub)
    return Deferred(Indexed(hub, workdir, officials, states, states), pulled)


def stored_digests(path: Path, table: str) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return ["sha256:" + row[0].hex() for row in db.execute(f"SELECT digest FROM {table}")]
    finally:
        db.close()


def unpulled_built_on_another(deferred: Deferred) -> Official:
    """An official image the crawl did not pull, built FROM another official image."""
    officials = deferred.indexed.officials
    for official in officials:
        if official.digest in deferred.pulled:
            continue
        below = [
            other
            for other in officials
            if 0 < len(other.diff_ids) < len(official.diff_ids)
            and official.diff_ids[: len(other.diff_ids)] == other.diff_ids
        ]
        if below:
            return official
    raise AssertionError("every official image built on another was pulled")


def expected_bases(deferred: Deferred, app: imagefiles.Image, *, by_compressed: bool) -> list[dict[str, Any]]:
    """The bases the rule gives: pulled images by diff_ids; the rest by compressed digests, only
    when the input carries them, and with no image ID (unknown until pulled)."""
    layer_digests = app.layer_digests
    bases = []
    for official in deferred.indexed.officials:
        depth = len(official.diff_ids)
        if not depth or not same_platform(official.platform, app.platform):
            continue
        if official.digest in deferred.pulled:
            if official.diff_ids == app.diff_ids[:depth]:
                bases.append(base_truth(deferred.indexed, official, depth))
        elif by_compressed and compressed(official) == layer_digests[:depth]:
            bases.append(base_truth(deferred.indexed, official, depth) | {"image_id": None})
    return sorted(
        bases, key=lambda base: (-base["matched_layers"], base["repository"], base["tags"][0], base["digest"])
    )


def test_an_oci_layout_finds_its_unpulled_base_by_compressed_digests(
    deferred: Deferred, tmp_path: Path
) -> None:
    official = unpulled_built_on_another(deferred)
    app = imagefiles.derived(as_image(official), 2)
    layout = imagefiles.write_oci_layout(tmp_path / "app.oci.tar", [(app, ["1.0"])])
    answer = detected(detect(deferred.indexed.workdir, str(layout), "--json"))
    (first, *_) = answer["bases"]
    assert (first["digest"], first["image_id"], first["matched_layers"]) == (
        official.digest,
        None,
        len(official.diff_ids),
    )
    assert first["repository"] == official.repository
    truth = expected_bases(deferred, app, by_compressed=True)
    assert comparable(answer["bases"]) == truth
    assert len(truth) >= 2  # the base it is built on is found too


def test_docker_inspect_of_the_same_image_finds_no_unpulled_base(deferred: Deferred, tmp_path: Path) -> None:
    official = unpulled_built_on_another(deferred)
    app = imagefiles.derived(as_image(official), 2)
    inspected = imagefiles.docker_inspect(app, ["app:1.0"]).encode()
    result = detect(deferred.indexed.workdir, "-", "--json", stdin=inspected)
    answer = detected(result)
    assert official.digest not in {base["digest"] for base in answer["bases"]}
    assert None not in {base["image_id"] for base in answer["bases"]}
    assert comparable(answer["bases"]) == expected_bases(deferred, app, by_compressed=False)
    assert result.returncode == (0 if answer["bases"] else 1)

"""evolve() changes the emulated hub as Docker Hub changes between two crawls, for incremental-crawl tests."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.request import urlopen

import pytest

from fakehub import HubServer, make_hub
from fakehub.data import (
    DRIFT_POSITION,
    EVOLVE_FIRST_PAGE,
    EVOLVE_NEWEST,
    MANIFEST_MEDIA_TYPES,
    evolve,
)

if TYPE_CHECKING:
    from fakehub import Hub
    from fakehub.data import Tag

NOW = datetime(2026, 12, 1, tzinfo=UTC)
NOW_ISO = "2026-12-01T00:00:00.000000Z"


def fresh_hub() -> Hub:
    """A hub of its own: the session `hub` fixture is shared and must not change."""
    return make_hub()


def library_tags(hub: Hub) -> dict[str, list[Tag]]:
    return {name: list(repository.tags) for name, repository in hub.namespaces["library"].items()}


def tag_named(hub: Hub, repository: str, name: str) -> Tag:
    (tag,) = [tag for tag in hub.namespaces["library"][repository].unique_tags if tag.name == name]
    return tag


def by_tag(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault((record["repository"], record["tag"]), []).append(record)
    return grouped


def test_the_same_seed_makes_the_same_changes():
    first, second = fresh_hub(), fresh_hub()
    assert evolve(first, seed=7, now=NOW) == evolve(second, seed=7, now=NOW)
    served = [[tag.json for tag in tags] for tags in library_tags(first).values()]
    assert served == [[tag.json for tag in tags] for tags in library_tags(second).values()]


def test_another_seed_makes_other_changes():
    assert evolve(fresh_hub(), seed=1, now=NOW) != evolve(fresh_hub(), seed=2, now=NOW)


@pytest.mark.parametrize(("moved", "added", "deleted"), [(3, 2, 1), (0, 0, 0), (5, 4, 3), (1, 0, 2)])
def test_counts_of_changes(moved, added, deleted):
    evolution = evolve(fresh_hub(), moved=moved, added=added, deleted=deleted, now=NOW)
    assert len(evolution.moved) == len(set(evolution.moved)) == moved
    assert len(evolution.added) == len(set(evolution.added)) == added
    assert len(evolution.deleted) == len(set(evolution.deleted)) == deleted
    assert set(evolution.old_digests) == set(evolution.moved)


def test_changes_only_library_and_leaves_the_other_namespace_alone():
    hub = fresh_hub()
    other = {name: list(r.tags) for name, r in hub.namespaces["bitnami"].items()}
    evolve(hub, moved=5, added=5, deleted=3, now=NOW)
    assert {name: r.tags for name, r in hub.namespaces["bitnami"].items()} == other


def test_moves_spread_over_different_repositories_with_more_than_one_page():
    hub = fresh_hub()
    multi_page = {name for name, r in hub.namespaces["library"].items() if len(r.unique_tags) > 100}
    evolution = evolve(hub, moved=3, now=NOW)
    repositories = [repository for repository, _ in evolution.moved]
    assert len(set(repositories)) == 3
    assert set(repositories) <= multi_page


def test_moved_tags_were_recent_and_are_now_first_with_a_new_build():
    hub = fresh_hub()
    before = {name: r.unique_tags for name, r in hub.namespaces["library"].items()}
    evolution = evolve(hub, moved=3, added=0, deleted=0, now=NOW)
    for repository, name in evolution.moved:
        old = next(tag for tag in before[repository] if tag.name == name)
        assert old in before[repository][:EVOLVE_NEWEST]
        tags = hub.namespaces["library"][repository].tags
        new = tags[0]
        assert new.name == name
        assert new.tag_id == old.tag_id
        assert [tag.name for tag in tags].count(name) == 1
        assert new.build.digest not in (None, evolution.old_digests[(repository, name)])
        assert new.build.media_type == old.build.media_type
        assert [i.platform for i in new.build.images] == [i.platform for i in old.build.images]
        assert not {i.digest for i in new.build.images} & {i.digest for i in old.build.images}
        assert new.last_updated >= NOW_ISO
        assert new.build.pushed == new.last_updated
        assert {image.last_pushed for image in new.build.images} <= {new.last_updated}


def test_moving_every_recent_tag_keeps_single_platform_digests_equal_to_their_image():
    hub = fresh_hub()
    recent = sum(min(EVOLVE_NEWEST, len(r.unique_tags)) for r in hub.namespaces["library"].values())
    evolution = evolve(hub, moved=recent, added=0, deleted=0, now=NOW)
    tags = [tag_named(hub, repository, name) for repository, name in evolution.moved]
    single = [tag for tag in tags if tag.build.media_type in MANIFEST_MEDIA_TYPES]
    assert single
    for tag in single:
        assert tag.build.digest == tag.build.images[0].digest
    with pytest.raises(ValueError, match="too few tags to move"):
        evolve(fresh_hub(), moved=recent + 1, now=NOW)


def test_added_tags_are_on_top_with_new_ids_and_names():
    hub = fresh_hub()
    ids_before = {tag.tag_id for repos in hub.namespaces.values() for r in repos.values() for tag in r.tags}
    names_before = {name: {tag.name for tag in r.tags} for name, r in hub.namespaces["library"].items()}
    evolution = evolve(hub, moved=0, added=4, deleted=0, now=NOW)
    added = [tag_named(hub, repository, name) for repository, name in evolution.added]
    assert len({tag.tag_id for tag in added}) == 4
    assert not {tag.tag_id for tag in added} & ids_before
    for (repository, name), tag in zip(evolution.added, added, strict=True):
        assert name not in names_before[repository]
        assert "-new" in name
        assert hub.namespaces["library"][repository].tags[0] is tag
        assert tag.last_updated >= NOW_ISO
        assert tag.build.digest is not None


def test_changed_tags_top_their_repository_newest_last():
    hub = fresh_hub()
    evolution = evolve(hub, moved=5, added=4, deleted=0, now=NOW)
    changed = evolution.moved + evolution.added
    for repository in {repository for repository, _ in changed}:
        mine = [name for r, name in changed if r == repository]
        tags = hub.namespaces["library"][repository].tags
        assert [tag.name for tag in tags[: len(mine)]] == mine[::-1]
        stamps = [tag.last_updated for tag in tags]
        assert stamps == sorted(stamps, reverse=True)


def test_deleted_tags_were_behind_the_first_page_and_are_gone():
    hub = fresh_hub()
    before = {name: r.unique_tags for name, r in hub.namespaces["library"].items()}
    counts = {name: len(r.tags) for name, r in hub.namespaces["library"].items()}
    evolution = evolve(hub, moved=0, added=0, deleted=3, now=NOW)
    deleted_per_repository = Counter(repository for repository, _ in evolution.deleted)
    for repository, name in evolution.deleted:
        position = [tag.name for tag in before[repository]].index(name)
        assert EVOLVE_FIRST_PAGE <= position < len(before[repository]) - 1
        assert name not in [tag.name for tag in hub.namespaces["library"][repository].tags]
    for repository, removed in deleted_per_repository.items():
        assert len(hub.namespaces["library"][repository].tags) == counts[repository] - removed


def test_the_drift_duplicate_stays_once_at_the_page_boundary():
    hub = fresh_hub()
    drifting = [name for name, r in hub.namespaces["library"].items() if len(r.tags) != len(r.unique_tags)]
    assert drifting
    evolution = evolve(hub, moved=6, added=6, deleted=6, now=NOW)
    touched = {repository for repository, _ in evolution.moved + evolution.added + evolution.deleted}
    assert set(drifting) <= touched
    for name in drifting:
        tags = hub.namespaces["library"][name].tags
        assert tags[DRIFT_POSITION] is tags[DRIFT_POSITION + 1]
        assert len(tags) == len({id(tag) for tag in tags}) + 1
        assert len(tags) == len({tag.tag_id for tag in tags}) + 1


def test_expected_records_give_the_new_ground_truth():
    hub = fresh_hub()
    before = by_tag(hub.expected_records())
    evolution = evolve(hub, moved=4, added=3, deleted=2, now=NOW)
    after = by_tag(hub.expected_records())
    for key in evolution.moved:
        old_digest = evolution.old_digests[key]
        assert all(record["tag_digest"] == old_digest for record in before[key])
        new_digest = tag_named(hub, *key).build.digest
        assert after[key]
        assert all(record["tag_digest"] == new_digest != old_digest for record in after[key])
        assert all(record["last_pushed"] >= NOW_ISO for record in after[key])
        old_digests = {record["digest"] for record in before[key]}
        assert not old_digests & {record["digest"] for record in after[key]}
    for key in evolution.added:
        assert key not in before
        assert after[key]
    for key in evolution.deleted:
        assert before[key]
        assert key not in after
    unchanged = set(before) - set(evolution.moved) - set(evolution.deleted)
    assert {key: after[key] for key in unchanged} == {key: before[key] for key in unchanged}
    assert set(after) == unchanged | set(evolution.moved) | set(evolution.added)


def test_new_digests_are_unique_over_repeated_evolutions():
    hub = fresh_hub()
    seen = {record["digest"] for record in hub.expected_records()}
    for day in range(1, 4):
        evolution = evolve(hub, seed=1, now=NOW.replace(day=day))
        changed = set(evolution.moved) | set(evolution.added)
        new = {
            record["digest"]
            for record in hub.expected_records()
            if (record["repository"], record["tag"]) in changed
        }
        assert not new & seen
        seen |= new


@pytest.mark.e2e
def test_serving_after_evolve_shows_the_change_on_the_first_page():
    hub = fresh_hub()
    path = "/v2/repositories/library/{}/tags?page_size=100&ordering=last_updated"
    with HubServer(hub) as server:
        evolution_repository = "bash"
        with urlopen(server.url + path.format(evolution_repository)) as response:
            before = json.load(response)  # also fills the tags' cached JSON
        evolution = evolve(hub, moved=1, added=0, deleted=1, now=NOW)
        assert evolution.moved[0][0] == evolution.deleted[0][0] == evolution_repository
        with urlopen(server.url + path.format(evolution_repository)) as response:
            after = json.load(response)
    moved_name = evolution.moved[0][1]
    first = after["results"][0]
    assert first["name"] == moved_name
    assert first["digest"] == tag_named(hub, evolution_repository, moved_name).build.digest
    assert first["digest"] != evolution.old_digests[evolution.moved[0]]
    assert first["last_updated"] >= NOW_ISO
    assert after["count"] == before["count"] - 1
    assert after["results"][1:] == [tag for tag in before["results"] if tag["name"] != moved_name][:99]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"now": datetime(2026, 10, 1, tzinfo=UTC)}, "later than the newest tag"),
        ({"now": datetime(2026, 12, 1)}, "timezone-aware"),
        ({"moved": -1, "now": NOW}, "negative"),
    ],
)
def test_refuses_changes_it_cannot_make_truthfully(arguments, message):
    with pytest.raises(ValueError, match=message):
        evolve(fresh_hub(), **arguments)


def test_refuses_deletions_when_no_repository_has_a_second_page():
    with pytest.raises(ValueError, match="too few tags to delete"):
        evolve(make_hub(3, 90), deleted=1, now=NOW)

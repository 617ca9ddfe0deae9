"""The tag schema split in two, and the images of alias tags judged once a page."""

from __future__ import annotations

import copy

import fastjsonschema
import pytest

from hubspider.items import TagItem
from hubspider.pipelines.validate import TagAcceptor, same_json, split_images_schema
from tests.helpers import load_response

SCHEMA = TagItem.jsonschema
DIGEST = "sha256:" + "a" * 64
# Values that probe each rule of the schema: types (True is no integer, 1.0 is one), lengths
# in characters, patterns anchored at the very end (no trailing newline), minimum.
PROBES = [
    None, True, False, 0, -1, 1, 1.0, 1.5, "", "x", "x" * 128, "x" * 129, "é" * 128, "é" * 129,
    "x" * 255, "x" * 256, DIGEST, DIGEST + "\n", DIGEST.upper(), "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00.123Z", "2024-01-01T00:00:00Z\n", "-bad", "_ok", [], {}, ["x"], {"a": 1},
]  # fmt: skip
MISSING = object()


def alpine_tag() -> dict:
    return load_response("tags_alpine.json")["results"][0]


def with_value(tag: dict, path: tuple, value: object) -> dict:
    changed = copy.deepcopy(tag)
    *parents, key = path
    target = changed
    for part in parents:
        target = target[part]
    if value is MISSING:
        del target[key]
    else:
        target[key] = value
    return changed


def probed_tags():
    tag = alpine_tag()
    image_fields = SCHEMA["properties"]["images"]["items"]["properties"]
    paths = [(field,) for field in [*SCHEMA["properties"], "other"]]
    paths += [("images", 1, field) for field in [*image_fields, "other"]]
    paths += [("images", 1)]
    for path in paths:
        for value in [*PROBES, MISSING]:
            if value is not MISSING or path[-1] != "other":
                yield with_value(tag, path, value)
    yield from PROBES


WHOLE_SCHEMA = fastjsonschema.compile(SCHEMA)


def whole_schema_accepts(tag: object) -> bool:
    try:
        WHOLE_SCHEMA(tag)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def test_the_two_halves_accept_exactly_what_the_whole_schema_accepts():
    acceptor = TagAcceptor(SCHEMA)
    verdicts = [(acceptor.for_one_page()(tag), whole_schema_accepts(tag)) for tag in probed_tags()]
    assert all(split == whole for split, whole in verdicts)
    assert {whole for _, whole in verdicts} == {True, False}


def test_the_split_leaves_the_schema_itself_unchanged():
    before = copy.deepcopy(SCHEMA)
    fields, images = split_images_schema(SCHEMA)
    assert before == SCHEMA
    assert "items" not in fields["properties"]["images"]
    assert images == SCHEMA["properties"]["images"]


def counting_acceptor() -> tuple[TagAcceptor, list[object]]:
    acceptor = TagAcceptor(SCHEMA)
    judged: list[object] = []
    accepts_images = acceptor.accepts_images

    def counted(images: object) -> object:
        judged.append(images)
        return accepts_images(images)

    acceptor.accepts_images = counted
    return acceptor, judged


def test_alias_images_are_judged_once_a_page():
    acceptor, judged = counting_acceptor()
    aliases = load_response("tags_alpine.json")["results"][:4]  # latest, 3, 3.20, 3.20.3
    accepts = acceptor.for_one_page()
    assert all(accepts(tag) for tag in aliases)
    assert len(judged) == 1
    accepts_next_page = acceptor.for_one_page()
    assert accepts_next_page(aliases[0])
    assert len(judged) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", True),  # == 1 in Python, but no integer to the schema
        ("size", -1),
        ("digest", "sha256:xyz"),
        ("last_pushed", "yesterday"),
    ],
)
def test_an_alias_with_other_images_is_judged_again(field, value):
    first = alpine_tag()
    first["images"][0]["size"] = 1
    alias = with_value(first, ("images", 0, field), value)
    alias["name"] = "alias"
    accepts = TagAcceptor(SCHEMA).for_one_page()
    assert accepts(first)
    assert not accepts(alias)


def test_a_tag_with_bad_fields_is_refused_although_its_images_were_accepted():
    first = alpine_tag()
    alias = first | {"name": "not a tag name"}
    accepts = TagAcceptor(SCHEMA).for_one_page()
    assert accepts(first)
    assert not accepts(alias)


def test_same_json_tells_types_apart_that_python_finds_equal():
    assert same_json([{"a": 1, "b": None}], [{"a": 1, "b": None}])
    assert not same_json([{"a": 1}], [{"a": True}])
    assert not same_json([{"a": 1}], [{"a": 1.0}])
    assert not same_json([{"a": 1, "b": 2}], [{"b": 2, "a": 1}])  # another order: judged again


def test_same_json_of_what_json_cannot_hold_is_false():
    assert not same_json([2**70], [2**70])

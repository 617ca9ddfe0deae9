"""A registry's listings (`_catalog`, `tags/list`): the names of a page, and the next page its
Link header names, refused where following it would leave the registry or go round."""

from __future__ import annotations

import json

import pytest

from hubspider.registry.listing import ListingPage, ListingProblem, next_link, read_listing

REGISTRY = "https://mcr.microsoft.com"
PAGE = f"{REGISTRY}/v2/dotnet/runtime/tags/list?n=2"
NEXT = f"{REGISTRY}/v2/dotnet/runtime/tags/list?last=8.0&n=2"
RELATIVE_NEXT = '</v2/dotnet/runtime/tags/list?last=8.0&n=2>; rel="next"'


def tags_body(*tags: str) -> bytes:
    return json.dumps({"name": "dotnet/runtime", "tags": list(tags)}).encode()


def read(
    body: bytes, link: str | None = None, asked: set[str] | None = None, key: str = "tags"
) -> ListingPage:
    return read_listing(body, key, link, PAGE, set() if asked is None else asked)


# next_link: the rel="next" target of a Link header.


def test_a_relative_target_is_resolved_against_the_page() -> None:
    # What distribution sends.
    assert next_link(RELATIVE_NEXT, PAGE) == NEXT


def test_an_absolute_target_is_kept() -> None:
    assert next_link(f'<{NEXT}>; rel="next"', PAGE) == NEXT


def test_a_target_relative_to_the_page_s_folder() -> None:
    assert next_link('<list?last=8.0&n=2>; rel="next"', PAGE) == NEXT


def test_rel_next_without_quotes() -> None:
    assert next_link("</v2/dotnet/runtime/tags/list?last=8.0&n=2>; rel=next", PAGE) == NEXT


def test_rel_is_read_whatever_its_case_and_spacing() -> None:
    assert next_link('</v2/dotnet/runtime/tags/list?last=8.0&n=2> ;  REL = "Next"', PAGE) == NEXT


def test_next_among_several_relation_types() -> None:
    # RFC 8288: rel may list several types, separated by spaces.
    assert next_link('</v2/dotnet/runtime/tags/list?last=8.0&n=2>; rel="prefetch next"', PAGE) == NEXT
    assert next_link('</v2/dotnet/runtime/tags/list?last=8.0&n=2>; rel="next last"', PAGE) == NEXT


def test_next_among_several_link_values() -> None:
    header = f'</v2/dotnet/runtime/tags/list?n=2>; rel="first", {RELATIVE_NEXT}, </v2/x>; rel="last"'
    assert next_link(header, PAGE) == NEXT


def test_next_after_other_parameters() -> None:
    header = '</v2/dotnet/runtime/tags/list?last=8.0&n=2>; title="more"; rel="next"'
    assert next_link(header, PAGE) == NEXT


def test_the_first_next_link_value_wins() -> None:
    header = f'{RELATIVE_NEXT}, </v2/other>; rel="next"'
    assert next_link(header, PAGE) == NEXT


@pytest.mark.parametrize(
    "header",
    [
        '</v2/dotnet/runtime/tags/list?n=2>; rel="prev"',
        '</v2/dotnet/runtime/tags/list?n=2>; rel="first", </v2/x>; rel="last"',
        '</v2/dotnet/runtime/tags/list?n=2>; rel="nextpage"',
        '</v2/dotnet/runtime/tags/list?n=2>; rel="next-page"',
        "</v2/dotnet/runtime/tags/list?n=2>; rel=nexts",
        '</v2/dotnet/runtime/tags/list?n=2>; rel="previous"',
        "</v2/dotnet/runtime/tags/list?n=2>",
        '</v2/dotnet/runtime/tags/list?n=2>; title="next"',
    ],
)
def test_other_relations_are_no_next_page(header: str) -> None:
    assert next_link(header, PAGE) is None


@pytest.mark.parametrize("header", [None, "", "   ", "not a link header"])
def test_no_link_is_no_next_page(header: str | None) -> None:
    assert next_link(header, PAGE) is None


def test_spaces_around_the_target_are_dropped() -> None:
    assert next_link('< /v2/dotnet/runtime/tags/list?last=8.0&n=2 >; rel="next"', PAGE) == NEXT


# read_listing: the page's names.


def test_a_tags_page_gives_its_names() -> None:
    assert read(tags_body("8.0", "9.0")) == ListingPage(["8.0", "9.0"], None)


def test_a_catalog_page_gives_its_repositories() -> None:
    body = json.dumps({"repositories": ["dotnet/runtime", "mssql/server"]}).encode()
    assert read(body, key="repositories").names == ["dotnet/runtime", "mssql/server"]


def test_names_keep_the_order_of_the_page() -> None:
    assert read(tags_body("9.0", "8.0", "latest")).names == ["9.0", "8.0", "latest"]


def test_null_tags_are_none() -> None:
    # distribution's answer for a repository without tags.
    assert read(b'{"name":"azure-cli/preview","tags":null}') == ListingPage([], None)


def test_a_missing_key_is_no_names() -> None:
    assert read(b'{"name":"azure-cli/preview"}').names == []


def test_an_empty_list_is_no_names() -> None:
    assert read(tags_body()).names == []


def test_the_other_key_is_not_read() -> None:
    assert read(tags_body("8.0"), key="repositories").names == []


def test_a_last_page_has_no_next() -> None:
    assert read(tags_body("8.0")).next is None


def test_a_page_with_a_next_link_names_it() -> None:
    assert read(tags_body("8.0"), RELATIVE_NEXT).next == NEXT


# read_listing: what is refused, in one line.


def refusal(body: bytes, link: str | None = None, asked: set[str] | None = None) -> str:
    with pytest.raises(ListingProblem) as raised:
        read(body, link, asked)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("body", [b"<html>Service Unavailable</html>", b"", b'{"tags": [', b"\xff\xfe{}"])
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    assert refusal(body).startswith(f"not JSON ({len(body)} bytes")


@pytest.mark.parametrize(
    ("body", "kind"), [(b'["8.0"]', "list"), (b'"8.0"', "str"), (b"3", "int"), (b"null", "NoneType")]
)
def test_json_that_is_not_an_object_is_refused(body: bytes, kind: str) -> None:
    assert refusal(body) == f"expected a JSON object, got {kind}"


@pytest.mark.parametrize(
    "tags", ['"8.0"', "{}", "[1, 2]", '["8.0", null]', '[["8.0"]]', "true", '["8.0", {"name": "9.0"}]']
)
def test_names_that_are_not_a_list_of_strings_are_refused(tags: str) -> None:
    assert refusal(f'{{"tags": {tags}}}'.encode()) == "'tags' is not a list of names"


def test_a_next_link_to_another_host_is_refused() -> None:
    message = refusal(tags_body("8.0"), '<https://evil.example/v2/x/tags/list>; rel="next"')
    assert message == "its next link leads off the registry, to https://evil.example/v2/x/tags/list: refused"


def test_a_next_link_to_another_scheme_is_refused() -> None:
    link = '<http://mcr.microsoft.com/v2/dotnet/runtime/tags/list?last=8.0>; rel="next"'
    assert "leads off the registry" in refusal(tags_body("8.0"), link)


def test_a_next_link_to_another_port_is_refused() -> None:
    link = '<https://mcr.microsoft.com:8443/v2/dotnet/runtime/tags/list?last=8.0>; rel="next"'
    assert "leads off the registry" in refusal(tags_body("8.0"), link)


def test_a_protocol_relative_next_link_to_another_host_is_refused() -> None:
    assert "leads off the registry" in refusal(tags_body("8.0"), '<//evil.example/v2/x>; rel="next"')


def test_a_next_link_back_to_the_page_itself_is_a_loop() -> None:
    message = refusal(tags_body("8.0"), f'<{PAGE}>; rel="next"')
    assert message == f"its next link {PAGE} is a page already asked for (a loop)"


def test_a_next_link_back_to_a_page_asked_for_is_a_loop() -> None:
    earlier = f"{REGISTRY}/v2/dotnet/runtime/tags/list?last=7.0&n=2"
    message = refusal(tags_body("8.0"), '</v2/dotnet/runtime/tags/list?last=7.0&n=2>; rel="next"', {earlier})
    assert message == f"its next link {earlier} is a page already asked for (a loop)"


def test_a_next_link_not_yet_asked_for_is_followed() -> None:
    earlier = f"{REGISTRY}/v2/dotnet/runtime/tags/list?last=7.0&n=2"
    assert read(tags_body("8.0"), RELATIVE_NEXT, {earlier}).next == NEXT


def test_an_empty_page_with_a_next_link_is_refused() -> None:
    message = refusal(tags_body(), RELATIVE_NEXT)
    assert message == f"an empty page with a next link {NEXT}: refused, it would go round"


def test_a_null_page_with_a_next_link_is_refused() -> None:
    assert "an empty page with a next link" in refusal(b'{"tags": null}', RELATIVE_NEXT)


def test_read_listing_does_not_record_what_it_was_asked() -> None:
    # The spider adds the next page to `asked` once it asks for it.
    asked: set[str] = set()
    read(tags_body("8.0"), RELATIVE_NEXT, asked)
    assert asked == set()


def test_a_listing_problem_is_a_value_error() -> None:
    assert issubclass(ListingProblem, ValueError)

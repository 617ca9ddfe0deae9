"""`scrapy lookup sha256:...`: which official images a digest is or was, and, from the layer
index, which images an image ID is or a layer (compressed digest, diff_id, chain ID) is in."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from hubspider.cli import EXIT_NOT_FOUND, StoreCommand, fail
from hubspider.records import image_reference
from hubspider.versions import newest_in_track, specificity_key

if TYPE_CHECKING:
    import argparse
    import sqlite3

    from hubspider.store import Store

DIGEST = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})$")


class Command(StoreCommand):
    def syntax(self) -> str:
        return "[--json] DIGEST"

    def short_desc(self) -> str:
        return "Tell which official images a digest, image ID or layer is, was or is in"

    def run_on_store(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1 or not (match := DIGEST.match(args[0].strip().lower())):
            fail("give one digest: sha256: and at least 12 of its hex characters")
        prefix = f"sha256:{match[1]}"
        with self.open_store(opts) as store:
            matches = describe(store, store.find_digest(prefix))
            in_images = describe_images(store, store.find_in_images(prefix))
        if not matches and not in_images:
            fail(f"unknown digest {args[0]}: no crawl in {store.path} has seen it", EXIT_NOT_FOUND)
        if opts.json:
            print(json.dumps(matches + in_images, indent=2))
        else:
            print("\n".join(text for text in (render(matches), render_images(in_images)) if text))


def describe(store: Store, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    """Rows grouped by digest, repository and platform, their alias tags most specific first."""
    groups: dict[tuple[str, ...], list[sqlite3.Row]] = defaultdict(list)
    for row in rows:
        groups[(row["digest"], row["namespace"], row["repository"], row["platform"], row["kind"])].append(row)
    matches = []
    for (digest, namespace, repository, platform, kind), members in groups.items():
        current_tags = store.current_tags(namespace, repository)
        tags = []
        for row in sorted(members, key=lambda row: specificity_key(row["tag"])):
            now = store.tag_target_now(namespace, repository, row["tag"])
            current = bool(row["current"])
            tags.append(
                {
                    "tag": row["tag"],
                    "image": image_reference(namespace, repository, row["tag"]),
                    "current": current,
                    "moved_to": None if current or now is None else now,
                    "gone": now is None,
                    "newer_in_track": newest_in_track(row["tag"], current_tags),
                    "first_seen": row["first_seen"],
                    "last_seen": row["last_seen"],
                }
            )
        matches.append(
            {
                "digest": digest,
                "namespace": namespace,
                "repository": repository,
                "platform": platform or None,
                "kind": kind,
                "tags": tags,
            }
        )
    return matches


def render(matches: list[dict[str, Any]]) -> str:
    lines = []
    for match in matches:
        where = match["platform"] or "index (all platforms)"
        lines.append(f"{match['digest']}  {where}")
        lines.append(f"  {', '.join(tag['image'] for tag in match['tags'])}")
        for tag in match["tags"]:
            if tag["current"]:
                state = "current"
            elif tag["gone"]:
                state = "tag deleted"
            else:
                state = f"moved on to {tag['moved_to']}"
            newer = f"; newer in its track: {tag['newer_in_track']}" if tag["newer_in_track"] else ""
            lines.append(
                f"    {tag['tag']:<24} {state}; seen {tag['first_seen']} .. {tag['last_seen']}{newer}"
            )
    return "\n".join(lines)


# What each kind of layer index match is, for the text output.
MATCH_KINDS = {
    "image_id": "image ID (config digest)",
    "layer": "compressed layer digest",
    "diff_id": "diff_id (uncompressed layer)",
    "chain_id": "chain ID (a layer and those below it)",
}


def describe_images(store: Store, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The layer index's matches, each with its image's current tags, most specific first.
    `position` counts layers from 1, the base; `kind` says what the digest is."""
    current = store.current_tags_of([match["image_digest"] for match in found])
    described = []
    for match in found:
        namespace, repository = match["namespace"], match["repository"]
        tags = sorted(current.get((match["image_digest"], namespace, repository), []), key=specificity_key)
        described.append(
            {
                "digest": match["matched"],
                "kind": match["kind"],
                "namespace": namespace,
                "repository": repository,
                "platform": match["platform"],
                "image_digest": match["image_digest"],
                "image_id": match["image_id"],
                "position": None if match["position"] is None else match["position"] + 1,
                "layer_count": match["layer_count"],
                "tags": [
                    {"tag": tag, "image": image_reference(namespace, repository, tag), "current": True}
                    for tag in tags
                ],
            }
        )
    return described


def render_images(matches: list[dict[str, Any]]) -> str:
    lines = []
    heading = None
    for match in matches:
        if (match["digest"], match["kind"]) != heading:
            heading = (match["digest"], match["kind"])
            lines.append(f"{match['digest']}  {MATCH_KINDS[match['kind']]}")
        where = f"{match['namespace']}/{match['repository']}  {match['platform']}  {match['image_digest']}"
        if match["position"] is None:
            lines.append(f"  {where}  ({match['layer_count']} layers)")
        else:
            lines.append(f"  layer {match['position']} of {match['layer_count']} in {where}")
        tags = ", ".join(tag["image"] for tag in match["tags"]) or "no current tag"
        lines.append(f"    {tags}")
    return "\n".join(lines)

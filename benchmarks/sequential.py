"""What a user writes first: one `requests` session, one page at a time, following `next`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime

import requests

from hubspider.records import tag_records


def main(api_url: str, output: str, namespace: str = "library") -> None:
    seen_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    session = requests.Session()
    skipped: Counter[str] = Counter()
    names, url = [], f"{api_url}/v2/repositories/{namespace}/?page_size=100"
    while url:
        page = session.get(url, timeout=30).json()
        names += [repository["name"] for repository in page["results"]]
        url = page["next"]
    with open(output, "w", encoding="utf-8") as file:
        for name in names:
            url = f"{api_url}/v2/repositories/{namespace}/{name}/tags?page_size=100&ordering=last_updated"
            while url:
                page = session.get(url, timeout=30).json()
                for tag in page["results"]:
                    for record in tag_records(tag, namespace, name, seen_at, skipped):
                        file.write(json.dumps(record) + "\n")
                url = page["next"]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

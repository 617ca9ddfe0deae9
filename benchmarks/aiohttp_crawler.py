"""The raw-speed reference: asyncio + aiohttp, N requests in flight, following `next`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime

import aiohttp

from hubspider.records import tag_records


async def crawl(api_url: str, output: str, concurrency: int, namespace: str = "library") -> None:
    seen_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    skipped: Counter[str] = Counter()
    in_flight = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> dict:
            async with in_flight, session.get(url) as response:
                return await response.json(content_type=None)

        names, url = [], f"{api_url}/v2/repositories/{namespace}/?page_size=100"
        while url:
            page = await get(url)
            names += [repository["name"] for repository in page["results"]]
            url = page["next"]
        with open(output, "w", encoding="utf-8") as file:

            async def repository(name: str) -> None:
                url = f"{api_url}/v2/repositories/{namespace}/{name}/tags?page_size=100&ordering=last_updated"
                while url:
                    page = await get(url)
                    lines = [
                        json.dumps(record) + "\n"
                        for tag in page["results"]
                        for record in tag_records(tag, namespace, name, seen_at, skipped)
                    ]
                    file.write("".join(lines))
                    url = page["next"]

            await asyncio.gather(*(repository(name) for name in names))


if __name__ == "__main__":
    asyncio.run(crawl(sys.argv[1], sys.argv[2], int(sys.argv[3])))

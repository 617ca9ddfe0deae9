"""Run the emulator on its own: `python -m tests.fakehub --port 8080`."""

from __future__ import annotations

import argparse
import json
import sys

from .data import make_hub
from .server import HubServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakehub", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--repositories", type=int, default=12, help="repositories in library")
    parser.add_argument("--tags", type=int, default=1_500, help="tags shared by those repositories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--truth",
        metavar="NAMESPACE",
        help="print the records a complete crawl of NAMESPACE exports, and exit",
    )
    args = parser.parse_args(argv)
    hub = make_hub(args.repositories, args.tags, args.seed)
    if args.truth:
        for record in hub.expected_records(args.truth):
            sys.stdout.write(json.dumps(record) + "\n")
        return
    server = HubServer(hub, port=args.port, latency=args.latency)
    print(f"fakehub serving {hub.tag_count} tags on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == "__main__":
    main()

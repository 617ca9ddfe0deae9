"""Run the emulator on its own: `python -m fakehub --port 8080`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import TYPE_CHECKING

from .data import make_hub
from .distribution import DistributionRegistry, make_distribution
from .registry import FakeRegistry
from .server import (
    CHURN_MODES,
    FAULT_KINDS,
    LIES,
    RATE_LIMIT_STYLES,
    REDIRECT_STATUSES,
    TOKEN_ANSWERS,
    WRONG_SHAPE_FAULT,
    HubServer,
    Redirect,
    churn_repository,
)

if TYPE_CHECKING:
    from .data import Hub


def _fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    if unknown := set(kinds) - {*FAULT_KINDS, WRONG_SHAPE_FAULT}:
        raise argparse.ArgumentTypeError(f"unknown faults: {', '.join(sorted(unknown))}")
    return kinds


def _user(text: str) -> tuple[str, str]:
    name, colon, secret = text.partition(":")
    if not (name and colon and secret):
        raise argparse.ArgumentTypeError("expected NAME:SECRET")
    return name, secret


def _add_distribution_arguments(parser: argparse.ArgumentParser) -> None:
    distribution = parser.add_argument_group("OCI distribution registry (as mcr.microsoft.com)")
    distribution.add_argument(
        "--distribution",
        action="store_true",
        help="serve an OCI distribution registry and its token service instead of the Hub API",
    )
    distribution.add_argument(
        "--catalog-page-cap",
        "--page-size-cap",
        type=int,
        metavar="N",
        help="answer at most N repositories or tags a page (default: as many as n asks)",
    )
    distribution.add_argument(
        "--catalog-all-at-once", action="store_true", help="the whole catalog in one page, as MCR today"
    )
    distribution.add_argument("--burst-limit", type=int, metavar="K", help="429 past K requests a window")
    distribution.add_argument("--burst-window", type=float, default=1.0, metavar="S")


def _check_distribution_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.catalog_page_cap is not None and args.catalog_page_cap < 1:
        parser.error("--catalog-page-cap must be positive")
    if args.burst_limit is not None and (args.burst_limit < 1 or args.burst_window <= 0):
        parser.error("--burst-limit and --burst-window must be positive")
    if args.tags is None:
        args.tags = 300 if args.distribution else 1_500


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakehub", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--repositories", type=int, default=12, help="repositories in library")
    parser.add_argument(
        "--tags", type=int, help="tags shared by those repositories (default: 1500; 300 with --distribution)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--truth",
        metavar="NAMESPACE",
        help="print the records a complete crawl of NAMESPACE exports, and exit",
    )
    parser.add_argument(
        "--image-truth",
        metavar="NAMESPACE",
        help="print the image records a complete layers crawl after a crawl of NAMESPACE exports, and exit",
    )
    registry = parser.add_argument_group("registry")
    registry.add_argument(
        "--registry", action="store_true", help="also serve a registry, its token service and a blob CDN"
    )
    registry.add_argument(
        "--pull-limit", type=int, metavar="N", help="anonymous pulls per window (default: none)"
    )
    registry.add_argument("--pull-window", type=int, default=21600, metavar="S")
    registry.add_argument(
        "--registry-prefix", default="", metavar="PATH", help="serve under /v2/PATH/, as ECR"
    )
    _add_distribution_arguments(parser)
    limits = parser.add_argument_group("rate limit")
    limits.add_argument("--rate-limit", type=int, metavar="N", help="requests per window (default: none)")
    limits.add_argument("--rate-window", type=float, default=60.0, metavar="S", help="window in seconds")
    limits.add_argument("--rate-limit-style", choices=RATE_LIMIT_STYLES, default="x-retry-after")
    limits.add_argument(
        "--reset-ahead", type=float, metavar="S", help="announce X-RateLimit-Reset S seconds ahead"
    )
    limits.add_argument("--retry-after", type=int, metavar="S", help="429s say Retry-After: S")
    limits.add_argument("--overload", type=int, default=0, metavar="N", help="answer the first N 429")
    faults = parser.add_argument_group("faults")
    faults.add_argument("--fault-rate", type=float, default=0.0, help="share of GETs that meet a fault")
    faults.add_argument(
        "--faults",
        type=_fault_kinds,
        default=FAULT_KINDS,
        help=f"comma separated, of {','.join((*FAULT_KINDS, WRONG_SHAPE_FAULT))}",
    )
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument("--slow-seconds", type=float, default=3.0, help="delay of the 'slow' fault")
    auth = parser.add_argument_group("sign-in")
    auth.add_argument(
        "--user", type=_user, action="append", default=[], metavar="NAME:SECRET", help="repeatable"
    )
    auth.add_argument("--token-ttl", type=float, default=600.0, metavar="S")
    auth.add_argument(
        "--anonymous-offset-cap",
        type=int,
        default=1000,
        metavar="N",
        help="403 for anonymous tag pages at this offset or deeper (0 disables)",
    )
    auth.add_argument(
        "--token-answer", choices=TOKEN_ANSWERS, default="token", help="what a good sign-in is answered"
    )
    parser.add_argument("--churn", choices=CHURN_MODES, help="push or delete a tag after a listing's page 1")
    parser.add_argument(
        "--lie", choices=LIES, action="append", default=[], help="make listings lie this way (repeatable)"
    )
    redirects = parser.add_argument_group("redirects")
    redirects.add_argument(
        "--redirect-pattern", metavar="REGEX", help="redirect requests whose path and query match"
    )
    redirects.add_argument(
        "--redirect-to",
        metavar="LOCATION",
        help=r"the Location, expanded with the match: http://127.0.0.1:8081\g<0> (default: none)",
    )
    redirects.add_argument("--redirect-status", type=int, choices=REDIRECT_STATUSES, default=302)
    args = parser.parse_args(argv)
    if (args.redirect_pattern is None) != (args.redirect_to is None):
        parser.error("--redirect-pattern and --redirect-to go together")
    _check_distribution_arguments(parser, args)
    return args


def make_server(args: argparse.Namespace, hub: Hub) -> HubServer:
    return HubServer(
        hub,
        port=args.port,
        latency=args.latency,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        rate_limit_style=args.rate_limit_style,
        reset_ahead=args.reset_ahead,
        retry_after=args.retry_after,
        overload=args.overload,
        fault_rate=args.fault_rate,
        faults=args.faults,
        fault_seed=args.fault_seed,
        slow_seconds=args.slow_seconds,
        users=dict(args.user) or None,
        token_ttl=args.token_ttl,
        anonymous_offset_cap=args.anonymous_offset_cap or None,
        churn=args.churn,
        lies=tuple(args.lie),
        redirect=(
            Redirect(args.redirect_pattern, args.redirect_to, args.redirect_status)
            if args.redirect_pattern is not None
            else None
        ),
        token_answer=args.token_answer,
    )


def make_distribution_registry(args: argparse.Namespace) -> DistributionRegistry:
    """The OCI distribution registry `--distribution` serves, from the same arguments."""
    try:
        distribution = make_distribution(args.repositories, args.tags, args.seed)
    except ValueError as error:
        raise SystemExit(f"fakehub: {error}") from None
    return DistributionRegistry(
        distribution,
        port=args.port,
        page_size_cap=args.catalog_page_cap,
        catalog_all_at_once=args.catalog_all_at_once,
        burst_limit=args.burst_limit,
        burst_window=args.burst_window,
        latency=args.latency,
    )


def serve_distribution(args: argparse.Namespace) -> None:
    registry = make_distribution_registry(args)
    print(
        f"fakehub distribution serving {registry.distribution.tag_count} tags on {registry.url}", flush=True
    )
    print(f"auth {registry.auth_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        registry.serve_forever()


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    if args.distribution:
        serve_distribution(args)
        return
    hub = make_hub(args.repositories, args.tags, args.seed)
    if args.truth:
        if args.churn:
            # A complete crawl serves page 1 of every listing, so every multi-page repository churns.
            next_id = 1 + max(
                t.tag_id for repos in hub.namespaces.values() for r in repos.values() for t in r.tags
            )
            for offset, repository in enumerate(hub.namespaces.get(args.truth, {}).values()):
                churn_repository(repository, args.churn, next_id + offset)
        for record in hub.expected_records(args.truth):
            sys.stdout.write(json.dumps(record) + "\n")
        return
    if args.image_truth:
        for record in hub.expected_image_records(args.image_truth):
            sys.stdout.write(json.dumps(record) + "\n")
        return
    server = make_server(args, hub)
    print(f"fakehub serving {hub.tag_count} tags on {server.url}", flush=True)
    registry = None
    if args.registry:
        registry = FakeRegistry(
            hub,
            pull_limit=args.pull_limit,
            window=args.pull_window,
            users=dict(args.user) or None,
            prefix=args.registry_prefix,
        ).start()
        print(f"registry {registry.url}", flush=True)
        print(f"auth {registry.auth_url}", flush=True)
        print(f"cdn {registry.cdn_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
        if registry is not None:
            registry.stop()


if __name__ == "__main__":
    main()

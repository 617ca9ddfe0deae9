"""The base of the store commands (`lookup`, `history`, `changes`, `import`): the store, its
option, and one-line errors. Outside `hubspider.commands`, where Scrapy would take it for a command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from scrapy.commands import ScrapyCommand

from hubspider.store import Store

if TYPE_CHECKING:
    import argparse

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2


class StoreCommand(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--store", metavar="PATH", help="the SQLite store (default: HUB_STORE_PATH)")
        parser.add_argument("--json", action="store_true", help="print JSON, for machines")

    def open_store(self, opts: argparse.Namespace) -> Store:
        assert self.settings is not None
        return Store(opts.store or self.settings.get("HUB_STORE_PATH"))


def fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(status)

"""The base of the store commands (`lookup`, `history`, `changes`, `import`): the store, its
option, and one-line errors. Outside `hubspider.commands`, where Scrapy would take it for a command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from scrapy.commands import ScrapyCommand

from hubspider.store import LOCK_TIMEOUT, Store, StoreError

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

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # A store that is missing, locked, damaged or not a store is one line and exit 2.
        try:
            self.run_on_store(args, opts)
        except StoreError as error:
            fail(str(error))

    def run_on_store(self, args: list[str], opts: argparse.Namespace) -> None:
        raise NotImplementedError

    def open_store(self, opts: argparse.Namespace, *, read_only: bool = True) -> Store:
        """The store, read-only unless the command writes: a query never creates or changes a file."""
        assert self.settings is not None
        try:
            # How long to wait for another writer of the store; the tests shorten it.
            timeout = self.settings.getfloat("HUB_STORE_TIMEOUT", LOCK_TIMEOUT)
        except ValueError:
            fail(f"invalid HUB_STORE_TIMEOUT {self.settings.get('HUB_STORE_TIMEOUT')!r}: expected seconds")
        return Store(opts.store or self.settings.get("HUB_STORE_PATH"), read_only=read_only, timeout=timeout)


def fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(status)

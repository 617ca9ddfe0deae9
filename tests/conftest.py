"""Fixtures: the emulator, built once and served once for the whole session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fakehub import Hub, HubServer, make_hub

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def hub() -> Hub:
    return make_hub()


@pytest.fixture(scope="session")
def hub_server(hub: Hub) -> Iterator[HubServer]:
    with HubServer(hub) as server:
        yield server

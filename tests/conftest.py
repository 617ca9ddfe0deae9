"""Fixtures: the emulator, built once and served once for the whole session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fakehub import FakeRegistry, Hub, HubServer, make_hub

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def hub() -> Hub:
    return make_hub()


@pytest.fixture(scope="session")
def hub_server(hub: Hub) -> Iterator[HubServer]:
    with HubServer(hub) as server:
        yield server


@pytest.fixture
def registry(hub: Hub) -> Iterator[FakeRegistry]:
    """A registry for the session's hub, fresh for each test: its counts and pull windows start at 0."""
    with FakeRegistry(hub, users={"alice": "dckr_pat_alice"}) as server:
        yield server

"""The project's own Docker Hub emulator, for tests and benchmarks."""

from .data import Hub, make_hub
from .registry import FakeRegistry
from .server import HubServer, Redirect

__all__ = ["FakeRegistry", "Hub", "HubServer", "Redirect", "make_hub"]

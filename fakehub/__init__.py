"""The project's own Docker Hub emulator, for tests and benchmarks."""

from .data import Hub, make_hub
from .server import HubServer, Redirect

__all__ = ["Hub", "HubServer", "Redirect", "make_hub"]

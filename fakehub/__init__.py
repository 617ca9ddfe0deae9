"""The project's own Docker Hub emulator, for tests and benchmarks."""

from .data import Hub, make_hub
from .distribution import Distribution, DistributionRegistry, make_distribution
from .registry import FakeRegistry
from .server import HubServer, Redirect

__all__ = [
    "Distribution",
    "DistributionRegistry",
    "FakeRegistry",
    "Hub",
    "HubServer",
    "Redirect",
    "make_distribution",
    "make_hub",
]

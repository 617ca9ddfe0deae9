"""How official images are built: FROM a base image (alpine, debian, ubuntu, Windows), then their own steps.

Images built on a base share its layers, as real ones do: python:3.12-alpine starts with the
layer of an alpine image of the same platform. The bases themselves are repositories of the hub.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from functools import lru_cache

from .content import BUILDKIT, ImageContent, Layer, Recipe, Step, make_image, make_layer, shared_layer

BASE_REPOSITORIES = frozenset({"alpine", "debian", "ubuntu"})
# Images built FROM a base use one of its newest builds: a base repository's first builds of
# each family are these, so that their layers are shared.
RECENT_BASES = 3
_BASE_EPOCH = datetime(2026, 10, 1)
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def family_of(repository: str, name: str) -> str:
    """The base an image of `repository` tagged `name` is built FROM (a base repository: itself)."""
    if "windowsservercore" in name:
        return "windowsservercore-ltsc2022"
    if "nanoserver" in name:
        return "nanoserver-1809"
    if repository in BASE_REPOSITORIES:
        return "debian-slim" if repository == "debian" and "slim" in name else repository
    if "alpine" in name:
        return "alpine"
    if "slim" in name:
        return "debian-slim"
    return "ubuntu" if zlib.crc32(repository.encode()) % 3 == 0 else "debian"


def _version(name: str) -> tuple[str, str]:
    """The version and its major.minor, from a build name such as 3.12.1-slim."""
    version = name.split("-", maxsplit=1)[0]
    return version, ".".join(version.split(".")[:2])


@lru_cache(maxsize=1 << 12)
def _base_created(generation: int) -> str:
    return (_BASE_EPOCH - timedelta(days=7 * generation)).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=1 << 12)
def _base_steps(family: str, created: str, rootfs: str) -> tuple[Step, Step]:
    """A base image's steps, as the classic builder recorded them: no comment, `#(nop)`."""
    shell = "cmd" if family.startswith(("windows", "nano")) else "/bin/sh"
    return (
        Step(created, f"/bin/sh -c #(nop) ADD file:{rootfs}.tar.gz in / "),
        Step(created, f'/bin/sh -c #(nop)  CMD ["{shell}"]', empty_layer=True),
    )


class BuildRecipe:
    """One build of `repository`:`name`: the steps its platform images share, and their layers.

    `build_key` makes the build's own layers and configs unlike any other's. A build of a base
    repository takes `base_generation`, its place among the newest builds of its family: the
    first RECENT_BASES are the bases other images are built FROM; older ones have layers of their own.
    """

    def __init__(
        self,
        *,
        namespace: str,
        repository: str,
        name: str,
        build_key: str,
        pushed: str,
        base_generation: int | None = None,
    ) -> None:
        self.namespace = namespace
        self.repository = repository
        self.build_key = build_key
        self.family = family_of(repository, name)
        self.is_base = repository in BASE_REPOSITORIES and namespace == "library"
        env = (_PATH, f"FAKEHUB_BUILD={build_key}")
        if self.is_base:
            self.generation = base_generation if base_generation is not None else RECENT_BASES
            shared = self.generation < RECENT_BASES
            created = _base_created(self.generation) if shared else pushed
            rootfs = f"{self.family}-{self.generation if shared else build_key.replace('/', '-')}"
            self.recipe = Recipe.of(_base_steps(self.family, created, rootfs), env)
            return
        self.generation = zlib.crc32(build_key.encode()) % RECENT_BASES
        self.version, self.minor = _version(name)
        self.has_entrypoint = zlib.crc32(repository.encode()) % 2 == 1
        own = [
            Step(pushed, "ENV LANG=C.UTF-8", BUILDKIT, empty_layer=True),
            Step(pushed, f"RUN /bin/sh -c set -eux; fetch-deps {repository} {self.minor}", BUILDKIT),
            Step(
                pushed,
                f"ENV {repository.upper().replace('-', '_').replace('.', '_')}_VERSION={self.version}",
                BUILDKIT,
                empty_layer=True,
            ),
            Step(pushed, f"RUN /bin/sh -c set -eux; build-{repository} {self.version}", BUILDKIT),
        ]
        if self.has_entrypoint:
            own.append(Step(pushed, "COPY docker-entrypoint.sh /usr/local/bin/ # buildkit", BUILDKIT))
        own.append(Step(pushed, f'CMD ["{repository}"]', BUILDKIT, empty_layer=True))
        base = _base_steps(self.family, _base_created(self.generation), f"{self.family}-{self.generation}")
        self.recipe = Recipe.of((*base, *own), env)

    def layers(self, platform: str) -> tuple[Layer, ...]:
        if self.is_base and self.generation >= RECENT_BASES:
            return (make_layer(f"base/{self.family}/{self.build_key}/{platform}"),)
        base = shared_layer(f"base/{self.family}/{self.generation}/{platform}")
        if self.is_base:
            return (base,)
        prefix = f"{self.namespace}/{self.repository}"
        layers = [
            base,
            shared_layer(f"{prefix}/deps/{self.family}/{self.minor}/{platform}"),
            make_layer(f"{self.build_key}/{platform}"),
        ]
        if self.has_entrypoint:
            layers.append(shared_layer(f"{prefix}/entrypoint/{platform}"))
        return tuple(layers)

    def image(
        self, *, media_type: str, os: str, architecture: str, variant: str | None, os_version: str | None
    ) -> ImageContent:
        platform = "/".join(part for part in (os, architecture, variant) if part)
        return make_image(
            media_type=media_type,
            os=os,
            architecture=architecture,
            variant=variant,
            os_version=os_version,
            recipe=self.recipe,
            layers=self.layers(platform),
        )

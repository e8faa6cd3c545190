"""Discovery for our declarative registries (actions, trigger kinds): every subclass of
`base` with a `slug`, defined in a module of `package`. Adding one is adding a module."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import TypeVar

C = TypeVar("C")


def discover(package: ModuleType, base: type[C], *, what: str) -> dict[str, type[C]]:
    found: dict[str, type[C]] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, base)
                and value.__module__ == module.__name__
                and getattr(value, "slug", None)
            ):
                slug: str = getattr(value, "slug")  # noqa: B009 - `base` need not declare it
                if slug in found:
                    raise RuntimeError(f"Two {what} declare the slug {slug!r}")
                found[slug] = value
    return found

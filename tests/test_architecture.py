"""The layers of ARCHITECTURE.md, enforced: a lower layer never imports a higher one, and the
engine's modules import each other without a cycle.

Read from the source with `ast`, so function-level imports (the usual way to hide an arrow
that points the wrong way) count exactly like module-level ones.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own layer and the layers before it, never after.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("twilioflow.core",)),
    ("workspaces", ("workspaces",)),
    ("connections", ("connections",)),
    ("actions", ("actions",)),
    ("compliance", ("compliance",)),
    ("workflows", ("workflows",)),
    ("triggers", ("triggers",)),
    ("voice", ("voice",)),
    ("campaigns", ("campaigns",)),
    ("api", ("api",)),
    ("staff", ("staff",)),
    # settings, urls, wsgi and the django-q2 alias package: they wire everything together.
    ("project", ("twilioflow",)),
]
RANK = {name: index for index, (name, _) in enumerate(LAYERS)}
SKIPPED_PARTS = {"migrations", "__pycache__"}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, by its longest matching package prefix."""
    best: tuple[int, str] | None = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), name)
    return best[1] if best else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str) -> list[tuple[str, int]]:
    """Every module this file imports (absolute and relative, at any depth), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from pkg import submodule` imports pkg.submodule too.
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return found


def project_files() -> list[Path]:
    files = []
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            folder = ROOT / prefix.replace(".", "/")
            files.extend(
                p for p in folder.rglob("*.py") if not SKIPPED_PARTS & set(p.relative_to(ROOT).parts)
            )
    return sorted(set(files))


def test_every_app_package_belongs_to_a_layer():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")}
    assert apps, "no Django apps found at the top level"
    for app in apps:
        assert layer_of(app) is not None, f"{app}/ has no layer: add it to LAYERS and ARCHITECTURE.md"


def test_no_lower_layer_imports_a_higher_one():
    upward = []
    for path in project_files():
        module = module_name(path)
        source = layer_of(module)
        assert source is not None
        for target, line in imported_modules(path, module):
            target_layer = layer_of(target)
            if target_layer is not None and RANK[target_layer] > RANK[source]:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({source}) imports {target} ({target_layer})")
    assert not upward, "Imports that point up the layers:\n" + "\n".join(sorted(set(upward)))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


@pytest.mark.parametrize("package", ["workflows.engine"])
def test_no_import_cycle_inside(package):
    folder = ROOT / package.replace(".", "/")
    if not folder.is_dir():
        pytest.skip(f"{package} is not a package")
    modules = {
        module_name(p): p for p in folder.rglob("*.py") if not SKIPPED_PARTS & set(p.relative_to(ROOT).parts)
    }
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for target, _ in imported_modules(path, module):
            if target in modules and target != module:
                graph[module].add(target)
    cycles = _cycles(graph)
    assert not cycles, "Import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)

"""Imports run one way: core ← services ← app, never back, never sideways, no cycles.

The layer map is ``[tool.fittingroom.layers]`` in pyproject.toml and the folders
come from its ``package-dir``; every ``import`` in every module, including the
lazy ones inside functions, is read with :mod:`ast` (nothing is imported).
"""

from __future__ import annotations

import ast
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=None)
def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_dirs() -> dict[str, Path]:
    return {name: ROOT / folder for name, folder in _pyproject()["tool"]["setuptools"]["package-dir"].items()}


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    """Every module of the project by dotted name (generated protobuf code excluded)."""
    dirs = _package_dirs()
    found: dict[str, Path] = {}
    for package, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            # A sub-package mapped to its own folder belongs to that mapping.
            owner = max((p for p in dirs if name == p or name.startswith(p + ".")), key=len)
            if owner == package and "v1" not in parts:
                found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    """Dotted names of the ``fittingroom`` modules ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level if path.name != "__init__.py" else len(module.split("."))]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "fittingroom" or n.startswith("fittingroom.")}


def layer_of(module: str) -> str:
    """``"app"``, ``"service:<name>"`` or ``"core"`` for a dotted module name."""
    layers = _pyproject()["tool"]["fittingroom"]["layers"]
    for app in layers["app"]:
        if module == app or module.startswith(app + "."):
            return "app"
    for service in layers["services"]:
        if module == service or module.startswith(service + "."):
            return f"service:{service}"
    return "core"


def allowed(src: str, dst: str) -> bool:
    """Whether a module in layer ``src`` may import one in layer ``dst``."""
    if src == "app" or dst == "core":
        return True
    return src == dst


@lru_cache(maxsize=None)
def dependency_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (names resolved to real modules)."""
    mods = modules()
    graph = {}
    for name, path in mods.items():
        graph[name] = {n for n in _imports(path, name) if n in mods and n != name}
    return graph


def test_every_layer_is_populated():
    layers = {layer_of(m) for m in modules()}
    assert "core" in layers and "app" in layers
    assert sum(layer.startswith("service:") for layer in layers) == 5


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_run_one_way(module):
    src = layer_of(module)
    wrong = sorted(dst for dst in dependency_graph()[module] if not allowed(src, layer_of(dst)))
    assert not wrong, f"{module} ({src}) imports {wrong}"


def test_no_import_cycles():
    graph = dependency_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from fittingroom.compositing.stage import composite_garment\n")
    found = _imports(bad, "fittingroom.segmentation.bad")
    assert "fittingroom.compositing.stage" in found
    assert not allowed(layer_of("fittingroom.segmentation.bad"), layer_of("fittingroom.compositing.stage"))
    assert not allowed("core", layer_of("fittingroom.cli.main"))


def test_every_error_type_lives_in_the_errors_module():
    """Transports map errors; only ``fittingroom.errors`` defines them."""
    strays = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])]
            if isinstance(node, ast.ClassDef) and any(b.endswith(("Error", "Exception")) for b in bases):
                if name != "fittingroom.errors":
                    strays.append(f"{name}.{node.name}")
    assert not strays, f"error types outside fittingroom.errors: {strays}"

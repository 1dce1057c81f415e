"""Model builders as data: a manifest's ``architecture`` names a builder and its kwargs.

Every model kind keeps a ``BUILDERS`` table (name → builder function, in the
torchvision style); these two helpers turn a builder choice into the dict a
manifest stores and rebuild a network from it, with one error message for an
unknown name.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping


def check_builder(builders: Mapping[str, Callable[..., Any]], kind: str, name: str | None) -> Callable[..., Any]:
    """The builder called ``name``; ValueError naming the known ones otherwise."""
    if name not in builders:
        raise ValueError(f"unknown {kind} builder '{name}'; known: {', '.join(builders)}")
    return builders[name]


def architecture(builders: Mapping[str, Callable[..., Any]], kind: str, builder: str, **kwargs: Any) -> dict[str, Any]:
    """The manifest ``architecture`` dict: ``{"builder": name, "kwargs": {...}}``."""
    check_builder(builders, kind, builder)
    return {"builder": builder, "kwargs": dict(kwargs)}


def build(builders: Mapping[str, Callable[..., Any]], kind: str, spec: Mapping[str, Any]) -> Any:
    """A freshly initialised network from a manifest ``architecture`` dict."""
    return check_builder(builders, kind, spec.get("builder"))(**spec.get("kwargs", {}))

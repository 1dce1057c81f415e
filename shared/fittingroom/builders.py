"""Model builders as data: a manifest's ``architecture`` names a builder and its kwargs.

Every model family keeps a ``BUILDERS`` table (name → builder function, in the
torchvision style) and exposes the same three names on top of these helpers:
``model_architecture(builder, **kwargs)`` (the dict a manifest stores),
``build_model(spec)`` (a fresh network from it) and
``load_model(registry, ref, device)`` (a registered model by ``name[:version]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from fittingroom.registry import parse_model_ref

if TYPE_CHECKING:
    from fittingroom.registry import ModelManifest, ModelRegistry


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


def load_built(
    registry: "ModelRegistry", kind: str, builders: Mapping[str, Callable[..., Any]], ref: str, device: Any = "cpu",
) -> tuple[Any, "ModelManifest"]:
    """A registered model of ``kind`` by ``name[:version]``: rebuilt, weights loaded, on ``device``, in eval mode."""
    name, version = parse_model_ref(ref)
    state, manifest = registry.load(kind, name, version)
    model = build(builders, kind, manifest.architecture)
    model.load_state_dict(state)
    return model.to(device).eval(), manifest

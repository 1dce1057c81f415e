"""``fittingroom tryon``: the main job, embedded mode (one process, no servers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from tqdm import tqdm

from fittingroom.cli.errors import EXIT_REJECTED, cli_errors
from fittingroom.errors import FittingroomError
from fittingroom.images import read_image, write_image
from fittingroom.registry import ModelRegistry
from fittingroom.settings import GARMENT_POLICIES_HELP, STYLE_FALLBACKS_HELP, Settings
from fittingroom.storage import LocalFolderStore

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def build_pipeline(settings: Settings):
    """An embedded pipeline over the local store, falling back to the starter models."""
    from fittingroom.cli.pipeline import TryOnPipeline

    registry = ModelRegistry.with_starter_models(LocalFolderStore(settings.store_dir))
    return TryOnPipeline(registry, settings)


def write_sheet(path: Path, person, style, result) -> Path:
    """The contact sheet PNG of one try-on."""
    from fittingroom.cli.sheet import contact_sheet, mask_overlay

    label = result.style.label
    return write_image(
        path,
        contact_sheet(
            [
                ("person", person),
                ("style", style),
                (f"person mask: {result.person_garment.category_name}", mask_overlay(person, result.person_garment)),
                (f"style mask: {label.key} ({label.confidence:.2f})", mask_overlay(style, result.style.garment)),
                ("garment 256x256", result.translation_input),
                (f"translated: {result.style.translation_key}", result.translated),
                (result_caption(result), result.image),
            ]
        ),
    )


def applied_steps(result) -> list[str]:
    """The optional steps that ran on this try-on: exact colour, exact pattern."""
    return [name for name, ran in (("exact colour", result.exact_colour), ("exact pattern", result.exact_pattern)) if ran]


def result_caption(result) -> str:
    """``result``, naming the exact-colour / exact-pattern steps that ran."""
    steps = applied_steps(result)
    return f"result ({', '.join(steps)})" if steps else "result"


def result_manifest(person: Path, style: Path, result) -> dict:
    """What produced a try-on: the input files, then the services' result manifest (models, style, steps, timings)."""
    return {"person": str(person), "style": str(style), **result.manifest}


def write_result(out: Path, person: Path, style: Path, result) -> None:
    """The try-on image and, beside it, its manifest (``<out>.json``).

    A ``.png`` gets the bytes the compositing stage encoded, as a service returns
    them; any other suffix is encoded from the pixels.
    """
    if out.suffix.lower() == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(result.png)
    else:
        write_image(out, result.image)
    manifest = out.with_suffix(".json")
    manifest.write_text(json.dumps(result_manifest(person, style, result), indent=1) + "\n")


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _run_one(pipeline, person_path: Path, style_path: Path, out: Path, sheet: Optional[Path], settings: Settings):
    limits = settings.image_limits()
    person = read_image(person_path, **limits)
    style = read_image(style_path, **limits)
    result = pipeline.run(person, style)
    write_result(out, person_path, style_path, result)
    if sheet is not None:
        write_sheet(sheet, person, style, result)
    return result


def tryon(
    person: Optional[Path] = typer.Option(None, help="Shopper photo."),
    style: Path = typer.Option(..., help="Product photo, or a folder of them with --person-dir."),
    out: Optional[Path] = typer.Option(None, help="Where to write the try-on (PNG/JPEG by suffix)."),
    sheet: Optional[Path] = typer.Option(None, help="Also write a contact sheet PNG here."),
    person_dir: Optional[Path] = typer.Option(None, help="Folder mode: every photo in it is tried on."),
    out_dir: Optional[Path] = typer.Option(None, help="Folder mode: results (and sheets) go here."),
    garment: Optional[str] = typer.Option(None, help=f"Garment to replace: {GARMENT_POLICIES_HELP}."),
    fallback: Optional[str] = typer.Option(None, help=f"Unknown style class: {STYLE_FALLBACKS_HELP}."),
    feather: Optional[float] = typer.Option(None, help="Feather the garment's inner edge (pixels)."),
    exact_colour: Optional[bool] = typer.Option(None, "--exact-colour/--no-exact-colour", help="Move the garment to the product's measured colour after translation (default FITTINGROOM_EXACT_COLOUR, on)."),
    exact_pattern: Optional[bool] = typer.Option(None, "--exact-pattern/--no-exact-pattern", help="Patterned products: tile the product's own fabric over the garment, shaded by its folds (default FITTINGROOM_EXACT_PATTERN, on)."),
    store: Optional[Path] = typer.Option(None, help="Local object store (default FITTINGROOM_STORE_DIR)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
) -> None:
    """Dress the shopper in the product's colour and pattern."""
    with cli_errors():
        settings = Settings.from_env(
            garment_policy=garment, style_fallback=fallback, feather_px=feather, store_dir=store, device=device,
            exact_colour=exact_colour, exact_pattern=exact_pattern,
        )
        if person_dir is not None:
            _folder_mode(settings, person_dir, style, out_dir or Path("out/tryon"), sheet is not None)
            return
        if person is None or out is None:
            raise typer.BadParameter("give --person and --out, or --person-dir (folder mode)")
        pipeline = build_pipeline(settings)
        result = _run_one(pipeline, person, style, out, sheet, settings)
        timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
        colour = "".join(f", {step}" for step in applied_steps(result))
        print(f"wrote {out} (style {result.style.label.key} → weights {result.style.translation_key}{colour}; {timings})")
        if sheet is not None:
            print(f"wrote {sheet}")


def _folder_mode(settings: Settings, person_dir: Path, style: Path, out_dir: Path, sheets: bool) -> None:
    if not person_dir.is_dir():
        raise typer.BadParameter(f"{person_dir} is not a folder")
    styles = images_in(style) if style.is_dir() else [style]
    pairs = [(p, s) for p in images_in(person_dir) for s in styles]
    if not pairs:
        raise typer.BadParameter(f"no images in {person_dir}")
    pipeline = build_pipeline(settings)
    failures: list[str] = []
    for person_path, style_path in tqdm(pairs, desc="try-on", unit="pair"):
        name = f"{person_path.stem}__{style_path.stem}"
        sheet = out_dir / f"{name}.sheet.png" if sheets else None
        try:
            _run_one(pipeline, person_path, style_path, out_dir / f"{name}.png", sheet, settings)
        except FittingroomError as exc:
            failures.append(f"{person_path.name} + {style_path.name}: {exc}")
    done = len(pairs) - len(failures)
    print(f"{done}/{len(pairs)} try-ons written to {out_dir}")
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    if failures:
        raise typer.Exit(EXIT_REJECTED)

"""``fittingroom evaluate tryon``: every person × product pair through the main job, measured.

For each pair it records whether the try-on ran (or its error code), and where a
hand-drawn garment mask is given, how well the changed pixels match the garment
(IoU, and the share of changed pixels outside it). For every pair that ran it
measures the result garment's colour distance to the product's (CIEDE2000) and
re-classifies the result garment with the style classifier: a pattern that
came through is named again. The re-classification is scored against the
product's own class where its file name starts with one (``red-dots-013.png``,
as ``fittingroom data synthetic-pairs`` names them), and against the class the
classifier named the product in any case. Writes ``tryon_eval.json``, ``tryon_eval.png`` (a
grid of results) and prints the table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import typer
from tqdm import tqdm

from fittingroom.cli.errors import cli_errors
from fittingroom.cli.tryon import images_in, build_pipeline
from fittingroom.colour import ciede2000, measure_garment_colour
from fittingroom.errors import FittingroomError
from fittingroom.garments import parse_style_key
from fittingroom.images import read_image, write_image
from fittingroom.settings import Settings

TILE = 200


@dataclass
class PairScore:
    """One person × product pair's measurements (``None`` where not measurable)."""

    person: str
    product: str
    ran: bool
    error: str | None = None
    product_truth: str | None = None
    product_class: str | None = None
    reclassified: str | None = None
    iou: float | None = None
    outside_share: float | None = None
    delta_e: float | None = None
    garment: str | None = None


def class_in_name(stem: str) -> str | None:
    """The style class a file name starts with (``red-dots`` of ``red-dots-013``), or ``None``."""
    key = "-".join(stem.split("-")[:2])
    try:
        parse_style_key(key)
    except ValueError:
        return None
    return key


def changed_region_scores(person: np.ndarray, result: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """IoU of the changed pixels with the garment mask, and the share of changed pixels outside it."""
    changed = np.any(result != person, axis=-1)
    union = (changed | mask).sum()
    iou = float((changed & mask).sum() / union) if union else 0.0
    outside = float((changed & ~mask).sum() / changed.sum()) if changed.any() else 0.0
    return iou, outside


def score_pair(pipeline, person: np.ndarray, product: np.ndarray, mask: np.ndarray | None,
               names: tuple[str, str]) -> tuple[PairScore, np.ndarray | None]:
    """Run one try-on and measure it; returns the score and the result image (None if it failed)."""
    from fittingroom.style.stage import classify_style

    try:
        result = pipeline.run(person, product)
    except FittingroomError as exc:
        return PairScore(*names, ran=False, error=exc.code.value, product_truth=class_in_name(names[1])), None
    label = result.style.label
    score = PairScore(*names, ran=True, product_truth=class_in_name(names[1]), product_class=label.key,
                      garment=result.person_garment.category_name)
    garment = result.person_garment
    again = classify_style(pipeline.classifier, pipeline.style_colours, pipeline.style_patterns, result.image, garment,
                           device=pipeline.device)
    score.reclassified = again.key
    product_colour = np.array(measure_garment_colour(product, result.style.garment.mask))
    measured = np.array(measure_garment_colour(result.image, garment.mask))
    score.delta_e = round(float(ciede2000(measured, product_colour)), 2)
    if mask is not None:
        iou, outside = changed_region_scores(person, result.image, mask)
        score.iou, score.outside_share = round(iou, 3), round(outside, 3)
    return score, result.image


def _share(pairs: list[PairScore], agree) -> float | None:
    return round(sum(1 for s in pairs if agree(s)) / len(pairs), 3) if pairs else None


def summarise(scores: list[PairScore]) -> dict:
    """Pair counts, mean IoU, median outside share and ΔE, and the re-classification rates.

    ``reclassified_as_product``: the result garment is named the product's own
    class (pairs whose product name gives it); ``reclassified_as_named``: it is
    named what the classifier named the product; ``product_named_right``: the
    classifier named the product its own class.
    """
    ran = [s for s in scores if s.ran]
    known = [s for s in ran if s.product_truth is not None]
    pick = lambda name: [getattr(s, name) for s in ran if getattr(s, name) is not None]  # noqa: E731
    ious, outside, delta = pick("iou"), pick("outside_share"), pick("delta_e")
    return {
        "pairs": len(scores),
        "ran": len(ran),
        "errors": sorted({s.error for s in scores if s.error}),
        "mean_iou": round(float(np.mean(ious)), 3) if ious else None,
        "median_outside_share": round(float(np.median(outside)), 3) if outside else None,
        "median_delta_e": round(float(np.median(delta)), 2) if delta else None,
        "pairs_with_known_class": len(known),
        "reclassified_as_product": _share(known, lambda s: s.reclassified == s.product_truth),
        "reclassified_as_named": _share(ran, lambda s: s.reclassified == s.product_class),
        "product_named_right": _share(known, lambda s: s.product_class == s.product_truth),
    }


def _fmt(value) -> str:
    return "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def print_table(scores: list[PairScore], summary: dict) -> None:
    columns = ("person", "product", "ran", "product_truth", "product_class", "reclassified", "iou", "outside_share",
               "delta_e")
    rows = [[_fmt(getattr(s, c)) if c != "ran" else ("yes" if s.ran else s.error) for c in columns] for s in scores]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    print(json.dumps(summary))


def _thumb(image: np.ndarray, caption: str) -> np.ndarray:
    body = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    bar = np.full((20, TILE, 3), 245, np.uint8)
    cv2.putText(bar, caption[:30], (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, body])


def result_grid(persons: dict[str, np.ndarray], products: dict[str, np.ndarray],
                cells: dict[tuple[str, str], tuple[PairScore, np.ndarray | None]]) -> np.ndarray:
    """Header row of products; one row per person: the photo, then each result."""
    blank = np.full((TILE, TILE, 3), 255, np.uint8)
    rows = [np.hstack([_thumb(blank, ""), *(_thumb(img, name) for name, img in products.items())])]
    for pname, pimg in persons.items():
        tiles = [_thumb(pimg, pname)]
        for sname in products:
            score, image = cells[(pname, sname)]
            caption = f"{score.reclassified} dE {_fmt(score.delta_e)}" if score.ran else f"failed: {score.error}"
            tiles.append(_thumb(image if image is not None else blank, caption))
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def evaluate_tryon(
    persons: Path = typer.Option(..., help="Folder of shopper photos."),
    products: Path = typer.Option(..., help="Folder of product photos."),
    masks: Optional[Path] = typer.Option(None, help="Folder of garment masks (PNG, same stem as the person photo)."),
    out_dir: Path = typer.Option(Path("out/eval-tryon"), help="Where the JSON, the grid PNG and the results go."),
    exact_colour: Optional[bool] = typer.Option(None, "--exact-colour/--no-exact-colour", help="Override FITTINGROOM_EXACT_COLOUR."),
    exact_pattern: Optional[bool] = typer.Option(None, "--exact-pattern/--no-exact-pattern", help="Override FITTINGROOM_EXACT_PATTERN."),
    body_prior: Optional[bool] = typer.Option(None, "--body-prior/--no-body-prior", help="Override FITTINGROOM_BODY_PRIOR."),
    store: Optional[Path] = typer.Option(None, help="Local object store (default FITTINGROOM_STORE_DIR)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
) -> None:
    """Run every person × product pair through the main job and measure the results."""
    with cli_errors():
        settings = Settings.from_env(store_dir=store, device=device, exact_colour=exact_colour,
                                     exact_pattern=exact_pattern, body_prior=body_prior)
        pipeline = build_pipeline(settings)
        person_images = {p.stem: read_image(p) for p in images_in(persons)}
        product_images = {p.stem: read_image(p) for p in images_in(products)}
        if not person_images or not product_images:
            raise typer.BadParameter("both --persons and --products need at least one image")
        cells = {}
        for pname, sname in tqdm([(p, s) for p in person_images for s in product_images], desc="evaluate", unit="pair"):
            mask = _mask_for(masks, pname, person_images[pname].shape[:2])
            cells[(pname, sname)] = score_pair(pipeline, person_images[pname], product_images[sname], mask, (pname, sname))
            image = cells[(pname, sname)][1]
            if image is not None:
                write_image(out_dir / "results" / f"{pname}__{sname}.png", image)
        scores = [score for score, _ in cells.values()]
        summary = summarise(scores)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "tryon_eval.json").write_text(json.dumps({"summary": summary, "pairs": [asdict(s) for s in scores]}, indent=1))
        write_image(out_dir / "tryon_eval.png", result_grid(person_images, product_images, cells))
        print_table(scores, summary)
        print(f"wrote {out_dir / 'tryon_eval.json'} and {out_dir / 'tryon_eval.png'}")


def _mask_for(folder: Path | None, stem: str, shape: tuple[int, int]) -> np.ndarray | None:
    if folder is None:
        return None
    path = folder / f"{stem}.png"
    if not path.is_file():
        return None
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None or mask.shape != shape:
        raise typer.BadParameter(f"mask {path} is unreadable or not {shape[1]}x{shape[0]}")
    return mask > 127

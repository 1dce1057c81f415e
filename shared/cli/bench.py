"""``fittingroom bench stages``: per-stage latency of the embedded pipeline.

Prints a p50/p95 table per photo size and segmentation backbone and writes the
same numbers as a bar plot. Latency is measured here, never asserted in tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import typer
from tqdm import tqdm

from fittingroom.cli.errors import cli_errors
from fittingroom.cli.tryon import build_pipeline
from fittingroom.images import SAMPLES_DIR, read_image
from fittingroom.settings import Settings
from fittingroom.training import save_figure

SIZES = {"512x512": (512, 512), "1024x768": (1024, 768)}


def percentile_ms(samples: list[float], q: float) -> float:
    """The q-th percentile of samples given in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(samples) * 1000.0, q))


def _time(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _segmenter(pipeline, backbone: str):
    """The starter MobileNet model, or a freshly built ResNet-50-FPN v2 (latency only)."""
    if backbone == "mobilenet":
        return pipeline.segmenter
    from fittingroom.segmentation.model import maskrcnn_resnet50_fpn_v2

    return maskrcnn_resnet50_fpn_v2(num_classes=14).eval().to(pipeline.device)


def _bench_size(pipeline, person: np.ndarray, style: np.ndarray, backbone: str, runs: int) -> dict[str, list[float]]:
    from fittingroom.compositing.stage import composite_garment
    from fittingroom.crops import translation_input
    from fittingroom.segmentation.stage import segment_garments, select_garment
    from fittingroom.style.stage import classify_style
    from fittingroom.translation.stage import translate_garment

    segmenter = _segmenter(pipeline, backbone)
    analysis = pipeline.analyse_style(style)
    result = pipeline.run(person, style)
    garment = result.person_garment
    target = analysis.label.product_lab if result.exact_colour else None
    fabric = analysis.fabric if result.exact_pattern else None
    generator = pipeline.generator(analysis.translation_key)
    square = translation_input(person, garment)
    device = pipeline.device
    seg_precision, gen_precision = pipeline.settings.segmentation_precision, pipeline.settings.translation_precision
    translated = translate_garment(generator, square, device=device, precision=gen_precision)
    stages = {
        "segmentation": lambda: segment_garments(segmenter, person, 0.0, device=device, precision=seg_precision),
        "style": lambda: classify_style(
            pipeline.classifier,
            pipeline.style_colours,
            pipeline.style_patterns,
            style,
            select_garment(segment_garments(pipeline.segmenter, style, pipeline.settings.score_threshold,
                                            device=device, precision=seg_precision)),
            device=device,
        ),
        "translation": lambda: translate_garment(generator, translation_input(person, garment), device=device,
                                                 precision=gen_precision),
        "compositing": lambda: composite_garment(
            person, garment, translated, pipeline.settings.feather_px, target, fabric
        ),
    }
    if pipeline.pose_estimator is not None:
        stages["body_prior"] = lambda: pipeline.pose_estimator.estimate(person)
    if backbone == "mobilenet":
        stages["tryon (product cached)"] = lambda: pipeline.run(person, style)
    return {name: _time(fn, runs) for name, fn in stages.items()}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['size']}\n{r['backbone']}\n{r['stage']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, len(rows) * 0.7), 4.5))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["p50_ms"] for r in rows], width=0.4, label="p50")
    ax.bar(x + 0.2, [r["p95_ms"] for r in rows], width=0.4, label="p95")
    ax.set_xticks(x, labels, fontsize=6)
    ax.set_ylabel("ms")
    ax.set_yscale("log")
    ax.set_title("Per-stage latency, embedded mode")
    ax.legend()
    save_figure(fig, path, dpi=110)


def stages(
    runs: int = typer.Option(20, min=3, help="Timed runs per stage (after 2 warm-up runs)."),
    backbones: str = typer.Option("mobilenet,resnet50", help="Comma-separated: mobilenet, resnet50."),
    sizes: str = typer.Option(",".join(SIZES), help=f"Comma-separated photo sizes (WxH) from {list(SIZES)}."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where the table (JSON) and plot (PNG) go."),
) -> None:
    """Per-stage latency p50/p95 for each photo size and segmentation backbone.

    The style stage (segment + classify the product photo, uncached) always uses the
    starter MobileNet model; the ResNet-50-FPN rows time an untrained network of the
    original size, since only latency is measured.
    """
    with cli_errors():
        pipeline = build_pipeline(Settings.from_env())
        person0, style = read_image(SAMPLES_DIR / "person.jpg"), read_image(SAMPLES_DIR / "style.jpg")
        rows = []
        combos = [(s, b) for s in sizes.split(",") for b in backbones.split(",")]
        for size, backbone in tqdm(combos, desc="bench", unit="config"):
            width, height = SIZES[size]
            person = cv2.resize(person0, (width, height), interpolation=cv2.INTER_CUBIC)
            for stage, samples in _bench_size(pipeline, person, style, backbone, runs).items():
                rows.append({"size": size, "backbone": backbone, "stage": stage, "runs": runs,
                             "p50_ms": percentile_ms(samples, 50), "p95_ms": percentile_ms(samples, 95)})
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "stages.json").write_text(json.dumps(rows, indent=1))
        _plot(rows, out_dir / "stages.png")
        print(f"{'size':<10} {'backbone':<10} {'stage':<24} {'p50 ms':>9} {'p95 ms':>9}")
        for r in rows:
            print(f"{r['size']:<10} {r['backbone']:<10} {r['stage']:<24} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f}")
        print(f"wrote {out_dir / 'stages.json'} and {out_dir / 'stages.png'}")

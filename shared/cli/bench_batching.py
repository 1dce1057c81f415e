"""``fittingroom bench batching``: model throughput against batch size, with bf16 autocast off and on.

A stage worker runs one forward pass per Kafka batch: segmentation puts every photo
of the batch through Mask R-CNN in one call (``segment_garments_batch``), translation
runs each style class's generator once over that class's crops (``translate_batch``).
This measures what that buys per model, on the chosen device: images per second at
each batch size, in fp32 and under bf16 autocast, plus how far bf16 output departs
from fp32 (mask IoU, generator PSNR) so speed is never read without parity. The
models are the starter ones (what a node serves) and, with ``--seed-size``, untrained
networks of the original size (ResNet-50-FPN v2, a 9-block generator): throughput
only. Prints a table and writes ``batching.json`` and ``batching.png``.

On a GPU node (``shared/infra/device-bench.sh``):
``fittingroom bench batching --device cuda --batch-sizes 1,8,32 --seed-size``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import typer
from tqdm import tqdm

from fittingroom.cli.errors import cli_errors
from fittingroom.cli.tryon import build_pipeline
from fittingroom.images import SAMPLES_DIR, read_image
from fittingroom.settings import Settings
from fittingroom.training import save_figure

PHOTO_SIZE = (1024, 768)  # width × height of the segmented photos: a typical shop photo
CROP = 256  # the translation input's side


def images_per_second(run: Callable[[], object], batch: int, seconds: float, device: torch.device) -> float:
    """Batches of ``batch`` run back to back for about ``seconds`` (at least one): images per second."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    done, started = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - started < seconds:
        run()
        sync()
        done += batch
    return done / (time.perf_counter() - started)


def interleaved_rates(configs: dict[tuple, Callable[[], object]], seconds: float, rounds: int,
                      device: torch.device) -> dict[tuple, float]:
    """Median images/s of each ``(…, batch)`` configuration over ``rounds`` rounds that take turns.

    Each round measures every configuration for ``seconds / rounds`` after one warm-up
    call: on a shared machine a burst of someone else's load then slows every
    configuration alike, and the medians keep their ratios.
    """
    for run in configs.values():
        run()
    samples: dict[tuple, list[float]] = {key: [] for key in configs}
    for _ in range(rounds):
        for key, run in configs.items():
            samples[key].append(images_per_second(run, key[-1], seconds / rounds, device))
    return {key: float(np.median(rates)) for key, rates in samples.items()}


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, dB (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _segmentation_runs(model, photos: list[np.ndarray], device: torch.device):
    from fittingroom.segmentation.stage import segment_garments_batch

    def run(batch: int, bf16: bool):
        return segment_garments_batch(model, photos[:batch], 0.5, device=device, precision="bf16" if bf16 else "fp32")

    def parity() -> float:
        fp32, bf16 = run(1, False)[0], run(1, True)[0]
        if not fp32 or not bf16:
            return 1.0 if not fp32 and not bf16 else 0.0
        return mask_iou(fp32[0].mask, bf16[0].mask)

    return run, parity, "mask IoU"


def _translation_runs(generator, crops: np.ndarray, device: torch.device):
    from fittingroom.translation.stage import translate_batch

    def run(batch: int, bf16: bool):
        return translate_batch(generator, crops[:batch], device=device, precision="bf16" if bf16 else "fp32")

    return run, lambda: psnr(run(1, False)[0], run(1, True)[0]), "PSNR dB"


def _models(pipeline, seed_size: bool) -> dict[str, tuple[str, object]]:
    """Name → (kind, model) of what is measured."""
    models = {"maskrcnn-mobilenet (starter)": ("segmentation", pipeline.segmenter),
              "generator (starter)": ("translation", pipeline.generator(pipeline.translation_classes[0]))}
    if seed_size:
        from fittingroom.segmentation.model import maskrcnn_resnet50_fpn_v2
        from fittingroom.translation.networks import ResnetGenerator

        models["maskrcnn-resnet50-fpn-v2 (seed size)"] = (
            "segmentation", maskrcnn_resnet50_fpn_v2(num_classes=14).eval().to(pipeline.device))
        models["generator 9 blocks (seed size)"] = ("translation", ResnetGenerator(n_blocks=9).eval().to(pipeline.device))
    return models


def _plot(rows: list[dict], path: Path, device: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (model, bf16), group in _grouped(rows).items():
        ax.plot([r["batch"] for r in group], [r["images_per_s"] for r in group], marker="o",
                linestyle="--" if bf16 else "-", label=f"{model}{', bf16' if bf16 else ''}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s")
    ax.set_title(f"Model throughput against batch size ({device})")
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=110)


def _grouped(rows: list[dict]) -> dict[tuple[str, bool], list[dict]]:
    groups: dict[tuple[str, bool], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["bf16"]), []).append(row)
    return groups


def batching(
    batch_sizes: str = typer.Option("1,2,4,8", help="Comma-separated batch sizes."),
    seconds: float = typer.Option(5.0, min=0.5, help="Measure each configuration for about this long in all."),
    rounds: int = typer.Option(5, min=1, help="Rounds in which the configurations take turns (medians reported)."),
    seed_size: bool = typer.Option(False, "--seed-size/--starter-only",
                                   help="Also untrained networks of the original size (throughput only)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out_dir: Path = typer.Option(Path("out/bench"), help="Where batching.json and batching.png go."),
) -> None:
    """Images per second of each model at each batch size, fp32 and bf16 autocast, and bf16's parity."""
    with cli_errors():
        sizes = sorted({int(b) for b in batch_sizes.split(",")})
        pipeline = build_pipeline(Settings.from_env(device=device))
        photo = cv2.resize(read_image(SAMPLES_DIR / "person.jpg"), PHOTO_SIZE, interpolation=cv2.INTER_AREA)
        photos = [photo] * max(sizes)
        crops = np.stack([cv2.resize(photo, (CROP, CROP), interpolation=cv2.INTER_AREA)] * max(sizes))
        rows = []
        for name, (kind, model) in tqdm(_models(pipeline, seed_size).items(), desc="bench", unit="model"):
            run, parity, parity_name = (_segmentation_runs(model, photos, pipeline.device) if kind == "segmentation"
                                        else _translation_runs(model, crops, pipeline.device))
            agreement = round(parity(), 3) if "starter" in name else None
            configs = {(bf16, batch): (lambda bf16=bf16, batch=batch: run(batch, bf16))
                       for bf16 in (False, True) for batch in sizes}
            for (bf16, batch), rate in interleaved_rates(configs, seconds, rounds, pipeline.device).items():
                rows.append({"model": name, "batch": batch, "bf16": bf16, "images_per_s": round(rate, 2),
                             "bf16_parity": agreement if bf16 else None, "parity_measure": parity_name})
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "batching.json").write_text(json.dumps({"device": str(pipeline.device), "rows": rows}, indent=1))
        _plot(rows, out_dir / "batching.png", str(pipeline.device))
        print(f"{'model':<38} {'batch':>5} {'bf16':>5} {'images/s':>9}  bf16 parity")
        for r in rows:
            parity_text = f"{r['parity_measure']} {r['bf16_parity']}" if r["bf16_parity"] is not None else ""
            print(f"{r['model']:<38} {r['batch']:>5} {str(r['bf16']):>5} {r['images_per_s']:>9.2f}  {parity_text}")
        print(f"wrote {out_dir / 'batching.json'} and {out_dir / 'batching.png'}")

"""``fittingroom models build-starter``: retrain the bundled starter models in one run.

Runs the project's own commands end to end on its synthetic data — data
generation, Mask R-CNN, style classifier, and one CycleGAN generator for every
style class the classifier can name — and installs the results (float16
safetensors) as the package's starter registry, which the embedded mode falls
back to on a fresh machine.

Forty generators from scratch would not fit a CPU budget, so translation is
trained in two levels: one *pattern base* per pattern (source garments → every
colour of that pattern), then each class fine-tuned from its pattern's base. Each
manifest records how it was built: the command, the git commit, the seed and the
seconds that model took.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer

from fittingroom.garments import COLOUR_NAMES, PATTERNS, parse_style_key, style_key
from fittingroom.registry import STARTER_STORE_DIR, ModelManifest, ModelRegistry
from fittingroom.storage import LocalFolderStore

ALL_STYLE_CLASSES = tuple(style_key(c, p) for p in PATTERNS for c in COLOUR_NAMES)
STEPS = ("segmentation", "style", "translation")
STARTER_VERSION = "v1"
# Set by a build for the worker process it starts, so that both stamp the command people typed.
COMMAND_ENV = "FITTINGROOM_STARTER_COMMAND"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class _Provenance:
    """Stamps every model this run registers with the command, commit, seed and seconds."""

    def __init__(self, store: Path, seed: int) -> None:
        self.registry = ModelRegistry(LocalFolderStore(store))
        command = os.environ.get(COMMAND_ENV) or " ".join(["fittingroom", *sys.argv[1:]])
        self.base = {"command": command, "git_commit": _git_commit(), "seed": seed}

    def record(self, manifest: ModelManifest, started: float) -> None:
        build = {**self.base, "seconds": round(time.perf_counter() - started, 1)}
        self.registry.record_build(manifest.kind, manifest.name, manifest.version, build)


def _data(data: Path, images: int, seed: int, size: tuple[int, int], cyclegan_per_class: int) -> Path:
    from fittingroom.data.synth import generate_dataset

    if not (data / "validation" / "annos").is_dir():
        generate_dataset(data, images, seed=seed, size=size, cyclegan_per_class=cyclegan_per_class)
    return data


def _segmentation(
    data: Path, work_dir: Path, store: Path, epochs: int, seed: int, sizes: tuple[int, int], anchors: str,
    max_zoom: float,
) -> ModelManifest:
    from fittingroom.segmentation.options import SegmentationTrainOptions
    from fittingroom.segmentation.train import train_segmentation

    return train_segmentation(SegmentationTrainOptions(
        data_root=str(data), out_dir=str(work_dir / "runs/segmentation"), epochs=epochs, seed=seed,
        lr=0.03, min_size=sizes[0], max_size=sizes[1], anchor_sizes=anchors, max_zoom=max_zoom, threads=1,
        store_dir=store, name="maskrcnn-mobilenet", version=STARTER_VERSION, half=True,
    ))


def _style(data: Path, work_dir: Path, store: Path, epochs: int, seed: int) -> ModelManifest:
    from fittingroom.style.train import StyleTrainOptions, train_style

    return train_style(StyleTrainOptions(
        data_root=data, out_dir=work_dir / "runs/style", store_dir=store, epochs=epochs, seed=seed,
        batch_size=32, lr=2e-3, scale_min=0.9, width=24, threads=1, name="stylenet", version=STARTER_VERSION, half=True,
    ))


def _pattern_folder(data: Path, pattern: str, classes: list[str]) -> Path:
    """A folder of links to every class crop of one pattern: the pattern base's target domain."""
    folder = data / "cyclegan-patterns" / pattern
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for key in classes:
        for image in sorted((data / "cyclegan" / key).glob("*.png")):
            (folder / f"{key}__{image.name}").symlink_to(image.resolve())
    return folder


def _translation(
    source: Path, target: Path, key: str, out_dir: Path, store: Path, steps: int, size: int, seed: int,
    init_from: Path | None = None,
) -> ModelManifest:
    """One CycleGAN run of ``steps`` steps (half at the full rate, half decaying)."""
    from fittingroom.translation.options import TranslationTrainOptions
    from fittingroom.translation.train import train_translation

    opts = TranslationTrainOptions(
        source_dir=source, target_dir=target, style_class=key, out_dir=out_dir,
        load_size=size + size // 16, crop_size=size, ndf=32, n_epochs=1, n_epochs_decay=1,
        max_images_per_epoch=max(1, steps // 2), store_dir=store, version=STARTER_VERSION, half=True, seed=seed,
        init_from=init_from,
    )
    opts.validate()
    return train_translation(opts)


def _translations(data: Path, work_dir: Path, store: Path, classes: list[str], base_steps: int,
                  class_steps: int, size: int, seed: int, provenance: _Provenance) -> None:
    """Pattern bases (in a scratch store), then every class fine-tuned from its pattern's base."""
    import torch

    torch.set_num_threads(1)
    source = data / "cyclegan" / "source"
    by_pattern: dict[str, list[str]] = {}
    for key in classes:
        by_pattern.setdefault(parse_style_key(key)[1], []).append(key)
    for pattern, keys in by_pattern.items():
        base_dir = work_dir / "runs/translation-base" / pattern
        _translation(source, _pattern_folder(data, pattern, keys), keys[0], base_dir,
                     work_dir / "base-store", base_steps, size, seed)
        for key in keys:
            started = time.perf_counter()
            manifest = _translation(source, data / "cyclegan" / key, key, work_dir / "runs/translation" / key,
                                    store, class_steps, size, seed, init_from=base_dir / "checkpoint.pt")
            provenance.record(manifest, started)


def _install(store: Path) -> None:
    shutil.rmtree(STARTER_STORE_DIR / "models", ignore_errors=True)
    registry = ModelRegistry(LocalFolderStore(store))
    for manifest in registry.manifests():
        if manifest.version == STARTER_VERSION:
            registry.copy_to(LocalFolderStore(STARTER_STORE_DIR), manifest.kind, manifest.name, manifest.version)
    print(f"installed starter models into {STARTER_STORE_DIR}")


def _start_translation_worker(work_dir: Path, translation_args: list[str]) -> tuple[subprocess.Popen, Path]:
    """Train the generators in a second process (one core each), logging to ``translation.log``."""
    log = work_dir / "translation.log"
    env = {**os.environ, COMMAND_ENV: " ".join(["fittingroom", *sys.argv[1:]])}
    command = [sys.executable, "-m", "fittingroom.cli.main", "models", "build-starter", "--work-dir", str(work_dir),
               "--steps", "translation", "--no-install", "--jobs", "1", *translation_args]
    with log.open("w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    print(f"training the generators in process {process.pid} (progress in {log})")
    return process, log


def build_starter(
    work_dir: Path = typer.Option(Path("out/starter"), help="Data, run folders and the new store go here."),
    images: int = typer.Option(350, help="Synthetic images for segmentation and CycleGAN (296/54 split for 350)."),
    image_size: str = typer.Option("320x400", help="Synthetic picture size WIDTHxHEIGHT."),
    style_images: int = typer.Option(2400, help="Synthetic images whose garment crops train the style classifier."),
    segmentation_epochs: int = typer.Option(16, help="Mask R-CNN epochs."),
    segmentation_min_size: int = typer.Option(320, help="Mask R-CNN input: shorter side (training and serving)."),
    segmentation_max_size: int = typer.Option(512, help="Mask R-CNN input: upper bound of the longer side."),
    segmentation_anchors: str = typer.Option(
        "48,96,192,384", help="Mask R-CNN anchor size per FPN level: a product photo's garment fills most of the input."),
    segmentation_max_zoom: float = typer.Option(1.5, help="Mask R-CNN zoom-crop augmentation, up to this zoom."),
    style_epochs: int = typer.Option(40, help="Style classifier epochs."),
    base_steps: int = typer.Option(600, help="CycleGAN steps of each pattern base (source → every colour of the pattern)."),
    class_steps: int = typer.Option(100, help="CycleGAN fine-tuning steps per style class, from its pattern base."),
    translation_size: int = typer.Option(128, help="CycleGAN training crop (the generator runs at 256)."),
    classes: str = typer.Option(",".join(ALL_STYLE_CLASSES), help="Comma-separated style classes (default: all)."),
    steps: str = typer.Option(",".join(STEPS), help="Which models to (re)train: any of " + ", ".join(STEPS) + "."),
    jobs: int = typer.Option(2, min=1, max=2, help="2: train the generators in a second process beside the other models."),
    seed: int = typer.Option(0, help="Seed for data and training."),
    install: bool = typer.Option(True, help="Replace the package's starter registry with the result."),
) -> None:
    """Train all starter models on synthetic data and install them as the bundled defaults."""
    chosen = [s for s in steps.split(",") if s]
    unknown = sorted(set(chosen) - set(STEPS))
    if unknown:
        raise typer.BadParameter(f"unknown steps {unknown}; choose from {', '.join(STEPS)}")
    width, _, height = image_size.partition("x")
    size = (int(width), int(height))
    store = work_dir / "store"
    if set(chosen) != set(STEPS) and not store.is_dir():
        # A partial rebuild starts from the models installed now, replacing only the chosen ones.
        installed = ModelRegistry(LocalFolderStore(STARTER_STORE_DIR))
        for manifest in installed.manifests():
            installed.copy_to(LocalFolderStore(store), manifest.kind, manifest.name, manifest.version)
    store.mkdir(parents=True, exist_ok=True)
    provenance = _Provenance(store, seed)
    data = _data(work_dir / "data", images, seed, size, cyclegan_per_class=40)
    worker = None
    if "translation" in chosen and jobs > 1 and len(chosen) > 1:
        worker = _start_translation_worker(work_dir, [
            "--images", str(images), "--image-size", image_size, "--base-steps", str(base_steps),
            "--class-steps", str(class_steps), "--translation-size", str(translation_size),
            "--classes", classes, "--seed", str(seed)])
    if "segmentation" in chosen:
        started = time.perf_counter()
        manifest = _segmentation(data, work_dir, store, segmentation_epochs, seed,
                                 (segmentation_min_size, segmentation_max_size), segmentation_anchors,
                                 segmentation_max_zoom)
        provenance.record(manifest, started)
    if "style" in chosen:
        style_data = _data(work_dir / "data-style", style_images, seed, size, cyclegan_per_class=0)
        started = time.perf_counter()
        provenance.record(_style(style_data, work_dir, store, style_epochs, seed), started)
    if worker is not None:
        process, log = worker
        if process.wait() != 0:
            raise RuntimeError(f"generator training failed (exit {process.returncode}); see {log}")
    elif "translation" in chosen:
        _translations(data, work_dir, store, classes.split(","), base_steps, class_steps, translation_size, seed,
                      provenance)
    if install:
        _install(store)

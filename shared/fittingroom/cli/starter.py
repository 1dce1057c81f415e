"""``fittingroom models build-starter``: retrain the bundled starter models.

Runs the project's own commands end to end on its synthetic data — data
generation, Mask R-CNN, style classifier, one CycleGAN generator per starter
style class — and installs the results (float16 safetensors) as the package's
starter registry, which the embedded mode falls back to on a fresh machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from fittingroom.registry import STARTER_STORE_DIR, ModelRegistry
from fittingroom.storage import LocalFolderStore

# The sample pair's product is red-stripes (trained longest); the rest cover common solids.
STARTER_STYLE_CLASSES = ("red-stripes", "blue-solid", "green-solid", "yellow-solid", "white-solid")


def _data(data: Path, images: int, seed: int, cyclegan_per_class: int) -> Path:
    from fittingroom.data.synth import generate_dataset

    if not (data / "validation" / "annos").is_dir():
        generate_dataset(data, images, seed=seed, cyclegan_per_class=cyclegan_per_class)
    return data


def _segmentation(data: Path, work_dir: Path, store: Path, epochs: int, seed: int) -> None:
    from fittingroom.segmentation.options import SegmentationTrainOptions
    from fittingroom.segmentation.train import train_segmentation

    train_segmentation(SegmentationTrainOptions(
        data_root=str(data), out_dir=str(work_dir / "runs/segmentation"), epochs=epochs, seed=seed,
        lr=0.03, min_size=192, max_size=384, num_threads=1,
        store_dir=str(store), model_name="maskrcnn-mobilenet", version="v1", half=True,
    ))


def _style(data: Path, work_dir: Path, store: Path, epochs: int, seed: int) -> None:
    from fittingroom.style.train import StyleTrainOptions, train_style

    train_style(StyleTrainOptions(
        data_root=data, out_dir=work_dir / "runs/style", store_dir=store, epochs=epochs, seed=seed,
        batch_size=32, lr=2e-3, scale_min=0.9, threads=1, name="stylenet", version="v1", half=True,
    ))


def _translation(data: Path, work_dir: Path, store: Path, key: str, epochs: int, images: int, size: int, seed: int) -> None:
    import torch

    torch.set_num_threads(1)
    from fittingroom.translation.options import TranslationTrainOptions
    from fittingroom.translation.train import train_translation

    opts = TranslationTrainOptions(
        source_dir=data / "cyclegan/source", target_dir=data / f"cyclegan/{key}", style_class=key,
        out_dir=work_dir / f"runs/translation/{key}", load_size=size + size // 16, crop_size=size, ndf=32,
        n_epochs=epochs // 2, n_epochs_decay=epochs - epochs // 2, max_images_per_epoch=images,
        store_dir=store, version="v1", half=True, seed=seed,
    )
    opts.validate()
    train_translation(opts)


def build_starter(
    work_dir: Path = typer.Option(Path("out/starter"), help="Data, run folders and the new store go here."),
    images: int = typer.Option(350, help="Synthetic images for segmentation and CycleGAN (296/54 split for 350)."),
    style_images: int = typer.Option(1200, help="Synthetic images whose garment crops train the style classifier."),
    segmentation_epochs: int = typer.Option(18, help="Mask R-CNN epochs."),
    style_epochs: int = typer.Option(40, help="Style classifier epochs."),
    translation_epochs: int = typer.Option(2, help="CycleGAN epochs per style class (half constant, half decay)."),
    sample_class_epochs: int = typer.Option(4, help="CycleGAN epochs for the first class (the sample pair's)."),
    translation_images: int = typer.Option(150, help="CycleGAN images per epoch."),
    translation_size: int = typer.Option(128, help="CycleGAN training crop (the generator runs at 256)."),
    classes: str = typer.Option(",".join(STARTER_STYLE_CLASSES), help="Comma-separated style classes."),
    seed: int = typer.Option(0, help="Seed for data and training."),
    install: bool = typer.Option(True, help="Replace the package's starter registry with the result."),
) -> None:
    """Train all starter models on synthetic data and install them as the bundled defaults."""
    data = _data(work_dir / "data", images, seed, cyclegan_per_class=40)
    style_data = _data(work_dir / "data-style", style_images, seed, cyclegan_per_class=0)
    store = work_dir / "store"
    _segmentation(data, work_dir, store, segmentation_epochs, seed)
    _style(style_data, work_dir, store, style_epochs, seed)
    for index, key in enumerate(classes.split(",")):
        epochs = sample_class_epochs if index == 0 else translation_epochs
        _translation(data, work_dir, store, key, epochs, translation_images, translation_size, seed)
    if install:
        shutil.rmtree(STARTER_STORE_DIR, ignore_errors=True)
        registry = ModelRegistry(LocalFolderStore(store))
        for manifest in registry.manifests():
            if manifest.version == "v1":
                registry.copy_to(LocalFolderStore(STARTER_STORE_DIR), manifest.kind, manifest.name, manifest.version)
        print(f"installed starter models into {STARTER_STORE_DIR}")

"""``fittingroom data ...``: make synthetic DeepFashion2 data, convert DeepFashion2 to COCO."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from fittingroom.data.deepfashion2 import read_split, to_coco
from fittingroom.data.synth import generate_dataset, write_sample_pair

app = typer.Typer(help="Datasets: synthetic DeepFashion2-format data and DeepFashion2 -> COCO conversion.",
                  no_args_is_help=True)


class PolygonSource(str, Enum):
    """Where COCO polygons come from."""

    segmentation = "segmentation"
    landmarks = "landmarks"


@app.command()
def synth(
    out: Path = typer.Option(..., help="Output folder (DeepFashion2 layout plus style/CycleGAN crops)."),
    n: int = typer.Option(350, help="Number of pictures (user + shop)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same bytes."),
    val_fraction: float = typer.Option(54 / 350, help="Fraction of pictures in the validation split."),
    width: int = typer.Option(256, help="Picture width in pixels."),
    height: int = typer.Option(320, help="Picture height in pixels."),
    shop_fraction: float = typer.Option(0.25, help="Fraction of pictures that are shop product photos."),
    cyclegan_per_class: int = typer.Option(40, help="Extra standalone garments per style class for CycleGAN."),
) -> None:
    """Write a synthetic DeepFashion2-format dataset."""
    summary = generate_dataset(out, n, seed=seed, val_fraction=val_fraction, size=(width, height),
                               shop_fraction=shop_fraction, cyclegan_per_class=cyclegan_per_class)
    typer.echo(json.dumps(summary, indent=1))


@app.command("df2-to-coco")
def df2_to_coco(
    root: Path = typer.Option(..., help="DeepFashion2 root (holding train/, validation/)."),
    split: str = typer.Option("train", help="Split folder under the root."),
    out: Path = typer.Option(..., help="COCO instances JSON file to write."),
    polygon_source: PolygonSource = typer.Option(PolygonSource.segmentation,
                                                 help="Polygons from the annotated segmentation or "
                                                      "dense polygons through the outline landmarks."),
) -> None:
    """Convert a DeepFashion2 split to a COCO instances JSON for Mask R-CNN."""
    try:
        records = read_split(root, split, progress=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    coco = to_coco(records, polygon_source.value, progress=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(coco))
    typer.echo(f"{out}: {len(coco['images'])} images, {len(coco['annotations'])} annotations")


@app.command()
def devset(out: Path = typer.Option(Path("out/devset"), help="Folder for persons/, masks/ and products/.")) -> None:
    """Write the real-photo development set: shoppers from installed packages, hand-drawn masks, products."""
    from fittingroom.data.devset import write_devset

    counts = write_devset(out)
    typer.echo(f"{out}: {counts['persons']} persons (with masks), {counts['products']} products")


@app.command("tryon-pairs")
def tryon_pairs(
    out: Path = typer.Option(Path("out/synthetic-pairs"), help="Folder for persons/, masks/ and products/."),
    persons: int = typer.Option(10, min=1, help="Synthetic shoppers."),
    products: int = typer.Option(40, min=1, help="Synthetic product tops, one per style class in turn (40: all)."),
    seed: int = typer.Option(1, help="Seed (the starter data uses 0)."),
) -> None:
    """Write synthetic validation pairs for ``fittingroom evaluate tryon``."""
    from fittingroom.data.devset import write_synthetic_pairs

    counts = write_synthetic_pairs(out, persons, products, seed)
    typer.echo(f"{out}: {counts['persons']} persons (with masks), {counts['products']} products")


@app.command()
def sample(out: Path = typer.Option(..., help="Folder for person.jpg and style.jpg.")) -> None:
    """Write the demo pair: a person in a blue shirt and a red-stripes shirt product photo."""
    person, style = write_sample_pair(out)
    typer.echo(f"{person}\n{style}")


@app.command()
def push(
    folder: Path = typer.Argument(..., exists=True, file_okay=False, help="Dataset folder, e.g. a DeepFashion2 root."),
    to: str = typer.Argument(..., help="s3://<bucket>/<prefix> (MinIO/S3 of FITTINGROOM_S3_*)."),
) -> None:
    """Upload a dataset folder to object storage, for training jobs on nodes without a shared file system."""
    from fittingroom.data.sync import push_folder
    from fittingroom.s3store import store_at

    store, prefix = store_at(to)
    store.ensure_bucket()
    typer.echo(f"uploaded {push_folder(folder, store, prefix)} files to {to}")


@app.command()
def pull(
    source: str = typer.Argument(..., help="s3://<bucket>/<prefix> a `data push` wrote."),
    to: Path = typer.Argument(..., help="Local folder (created); files already there with the same size are kept."),
) -> None:
    """Download a dataset from object storage (a training job's init step)."""
    from fittingroom.data.sync import pull_prefix
    from fittingroom.s3store import store_at

    store, prefix = store_at(source)
    typer.echo(f"downloaded {pull_prefix(store, prefix, to)} files from {source} to {to}")


@app.command()
def shard(
    root: Path = typer.Argument(..., exists=True, file_okay=False, help="DeepFashion2-format folder (train/, validation/)."),
    to: str = typer.Argument(..., help="s3://<bucket>/<prefix> (MinIO/S3 of FITTINGROOM_S3_*) or a local folder."),
    samples_per_shard: int = typer.Option(1000, min=1, help="Images per tar shard (~100 MB at DeepFashion2's sizes)."),
    splits: str = typer.Option("train,validation", help="Comma-separated splits to shard."),
) -> None:
    """Write DeepFashion2 splits as tar shards in the WebDataset layout, for `fittingroom train segmentation --shards`."""
    from fittingroom.data.shards import write_df2_shards
    from fittingroom.storage import LocalFolderStore

    if to.startswith("s3://"):
        from fittingroom.s3store import store_at

        store, prefix = store_at(to)
        store.ensure_bucket()
    else:
        store, prefix = LocalFolderStore(Path(to)), ""
    for split in (s.strip() for s in splits.split(",") if s.strip()):
        index = write_df2_shards(root, split, store, prefix, samples_per_shard)
        typer.echo(f"{split}: {index.samples} images in {len(index.shards)} shards under {to}")

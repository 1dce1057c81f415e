"""Training options for one CycleGAN style-class generator.

Defaults are the original project's recipe (docs/design.md §1): 256×256 crops with
horizontal flips, 50 epochs (25 constant + 25 linear decay), Adam 2e-4/β1 0.5,
LSGAN, cycle weight 10, identity weight 0.5 applied once every 20 steps, and
Smooth L1 as the reconstruction loss. Each field's ``help`` metadata becomes the
CLI option's help text (see :mod:`fittingroom.translation.cli`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fittingroom.garments import parse_style_key
from fittingroom.translation.networks import BUILDERS, NORMS

GAN_MODES = ("lsgan", "vanilla")
RECON_LOSSES = ("smooth_l1", "l1")


def _opt(default: Any, help: str, flag: str | None = None, required: bool = False) -> Any:
    """Dataclass field carrying its CLI help, optional flag name and whether the CLI requires it."""
    return field(default=default, metadata={"help": help, "flag": flag, "required": required})


@dataclass
class TranslationTrainOptions:
    """Every knob of a translation training run (one generator per style class)."""

    source_dir: Path | None = _opt(
        None, "Folder of source-domain PNGs (masked garment crops of any style).", "--source", True
    )
    target_dir: Path | None = _opt(None, "Folder of target-domain PNGs (crops of the one style class).", "--target", True)
    style_class: str | None = _opt(None, "Target style class key '<colour>-<pattern>', e.g. red-stripes.", required=True)
    out_dir: Path = _opt(Path("out/train/translation"), "Run folder: checkpoint, sample grids, loss curves.")
    load_size: int = _opt(286, "Images are resized to this size before random cropping.")
    crop_size: int = _opt(256, "Training image size (random crop of the resized image); multiple of 4.")
    hflip: bool = _opt(True, "Random horizontal flip augmentation.")
    n_epochs: int = _opt(25, "Epochs at the initial learning rate.")
    n_epochs_decay: int = _opt(25, "Epochs over which the learning rate decays linearly to zero.")
    lr: float = _opt(2e-4, "Adam learning rate.")
    beta1: float = _opt(0.5, "Adam beta1.")
    batch_size: int = _opt(1, "Images per step.")
    pool_size: int = _opt(50, "Size of the generated-image history shown to discriminators (0 = off).")
    gan_mode: str = _opt("lsgan", f"GAN objective: {', '.join(GAN_MODES)}.")
    lambda_cycle: float = _opt(10.0, "Weight of the cycle-consistency losses.")
    lambda_identity: float = _opt(0.5, "Identity loss weight, relative to lambda_cycle (0 = off).")
    identity_every: int = _opt(20, "Apply the identity loss once every this many steps (0 = never).")
    recon_loss: str = _opt("smooth_l1", f"Cycle and identity loss: {', '.join(RECON_LOSSES)}.")
    generator: str = _opt("resnet_generator_slim", f"Generator builder: {', '.join(BUILDERS)}.")
    ngf: int | None = _opt(None, "Generator base width (default: the builder's).")
    n_blocks: int | None = _opt(None, "Generator residual blocks (default: the builder's).")
    norm: str = _opt("instance", f"Normalisation in all networks: {', '.join(NORMS)}.")
    ndf: int = _opt(64, "Discriminator base width.")
    n_layers: int = _opt(3, "Discriminator stride layers (3 = 70x70 PatchGAN).")
    max_images_per_epoch: int | None = _opt(None, "Cap on images per epoch, for quick runs (default: all).")
    num_workers: int = _opt(0, "Data-loader worker processes.")
    device: str = _opt("auto", "Torch device: auto, cpu, cuda, cuda:1 ...")
    seed: int = _opt(0, "Random seed.")
    resume: Path | None = _opt(None, "Checkpoint to resume from (e.g. <out_dir>/checkpoint.pt).")
    init_from: Path | None = _opt(
        None, "Fine-tune: start all four networks from another run's checkpoint (same architecture); "
        "optimisers, schedule and epochs start fresh.",
    )
    store_dir: Path = _opt(Path("var/models"), "Model store folder the generator is registered in.")
    version: str | None = _opt(None, "Registry version (default: next 'vN' for this style class).")
    half: bool = _opt(True, "Store the generator weights as float16.")
    sample_count: int = _opt(4, "Images per domain in each epoch's sample grid.")

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def validate(self) -> None:
        """Raise ValueError on inconsistent options before any work starts."""
        for name in ("source_dir", "target_dir", "style_class"):
            if getattr(self, name) is None:
                raise ValueError(f"option {name} is required")
        parse_style_key(self.style_class)
        _check_choice("gan_mode", self.gan_mode, GAN_MODES)
        _check_choice("recon_loss", self.recon_loss, RECON_LOSSES)
        _check_choice("generator", self.generator, tuple(BUILDERS))
        _check_choice("norm", self.norm, NORMS)
        if self.crop_size % 4 or self.crop_size <= 0:
            raise ValueError(f"crop_size {self.crop_size} must be a positive multiple of 4")
        if self.load_size < self.crop_size:
            raise ValueError(f"load_size {self.load_size} is smaller than crop_size {self.crop_size}")
        if self.total_epochs <= 0 or self.n_epochs < 0 or self.n_epochs_decay < 0:
            raise ValueError("n_epochs and n_epochs_decay must be >= 0 with a positive total")
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe copy (paths as strings) for manifests and checkpoints."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} '{value}' not one of {', '.join(choices)}")

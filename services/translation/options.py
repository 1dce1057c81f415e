"""Training options for one CycleGAN style-class generator.

Defaults are the original project's recipe (docs/design.md §1): 256×256 crops with
horizontal flips, 50 epochs (25 constant + 25 linear decay), Adam 2e-4/β1 0.5,
LSGAN, cycle weight 10, identity weight 0.5 applied once every 20 steps, and
Smooth L1 as the reconstruction loss. Each field's ``help`` metadata becomes the
CLI option's help text (see :mod:`fittingroom.options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fittingroom.garments import parse_style_key
from fittingroom.options import TrainOptions, option
from fittingroom.translation.networks import BUILDERS, NORMS

GAN_MODES = ("lsgan", "vanilla")
RECON_LOSSES = ("smooth_l1", "l1")


@dataclass
class TranslationTrainOptions(TrainOptions):
    """Every knob of a translation training run (one generator per style class)."""

    source_dir: Path | None = option(
        None, "Folder of source-domain PNGs (masked garment crops of any style).", "--source", True
    )
    target_dir: Path | None = option(None, "Folder of target-domain PNGs (crops of the one style class).", "--target", True)
    style_class: str | None = option(None, "Target style class key '<colour>-<pattern>', e.g. red-stripes.", required=True)
    out_dir: Path = option(Path("out/train/translation"), "Run folder: checkpoint, sample grids, loss curves.")
    load_size: int = option(286, "Images are resized to this size before random cropping.")
    crop_size: int = option(256, "Training image size (random crop of the resized image); multiple of 4.")
    hflip: bool = option(True, "Random horizontal flip augmentation.")
    n_epochs: int = option(25, "Epochs at the initial learning rate.")
    n_epochs_decay: int = option(25, "Epochs over which the learning rate decays linearly to zero.")
    lr: float = option(2e-4, "Adam learning rate.")
    beta1: float = option(0.5, "Adam beta1.")
    batch_size: int = option(1, "Images per step.")
    pool_size: int = option(50, "Size of the generated-image history shown to discriminators (0 = off).")
    gan_mode: str = option("lsgan", f"GAN objective: {', '.join(GAN_MODES)}.")
    lambda_cycle: float = option(10.0, "Weight of the cycle-consistency losses.")
    lambda_identity: float = option(0.5, "Identity loss weight, relative to lambda_cycle (0 = off).")
    identity_every: int = option(20, "Apply the identity loss once every this many steps (0 = never).")
    recon_loss: str = option("smooth_l1", f"Cycle and identity loss: {', '.join(RECON_LOSSES)}.")
    generator: str = option("resnet_generator_slim", f"Generator builder: {', '.join(BUILDERS)}.")
    ngf: int | None = option(None, "Generator base width (default: the builder's).")
    n_blocks: int | None = option(None, "Generator residual blocks (default: the builder's).")
    norm: str = option("instance", f"Normalisation in all networks: {', '.join(NORMS)}.")
    ndf: int = option(64, "Discriminator base width.")
    n_layers: int = option(3, "Discriminator stride layers (3 = 70x70 PatchGAN).")
    max_images_per_epoch: int | None = option(None, "Cap on images per epoch, for quick runs (default: all).")
    resume: Path | None = option(None, "Checkpoint to resume from (e.g. <out_dir>/checkpoint.pt).")
    init_from: Path | None = option(
        None, "Fine-tune: start all four networks from another run's checkpoint (same architecture); "
        "optimisers, schedule and epochs start fresh.",
    )
    sample_count: int = option(4, "Images per domain in each epoch's sample grid.")

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


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} '{value}' not one of {', '.join(choices)}")

"""Train-a-few-steps checks of the CycleGAN model and the translation training command."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fittingroom.registry import ModelRegistry
from fittingroom.storage import LocalFolderStore
from fittingroom.translation.cli import app
from fittingroom.translation.model import CycleGANModel
from fittingroom.translation.options import TranslationTrainOptions
from fittingroom.translation.networks import load_model
from fittingroom.translation.stage import translate_garment
from fittingroom.translation.train import train_translation

TINY = dict(ngf=4, n_blocks=1, ndf=8, n_layers=2, load_size=36, crop_size=32, device="cpu", sample_count=3)


def blob_image(rng: np.random.Generator, colour, size: int = 64) -> np.ndarray:
    """A shaded ellipse of ``colour`` on black, like a masked garment crop."""
    yy, xx = np.mgrid[:size, :size] / size
    cy, cx, ry, rx = rng.uniform(0.4, 0.6, 2).tolist() + rng.uniform(0.2, 0.35, 2).tolist()
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    shade = 0.7 + 0.3 * xx
    return (inside[..., None] * shade[..., None] * np.asarray(colour)).astype(np.uint8)


def write_folder(folder, colours, count: int, seed: int):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(blob_image(rng, colours[i % len(colours)])).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture
def folders(tmp_path):
    source = write_folder(tmp_path / "source", [(35, 70, 190), (40, 150, 60), (235, 210, 40)], 6, 0)
    target = write_folder(tmp_path / "red-solid", [(200, 30, 40)], 5, 1)
    return source, target


def make_opts(tmp_path, folders, **overrides) -> TranslationTrainOptions:
    source, target = folders
    base = TranslationTrainOptions(
        source_dir=source, target_dir=target, style_class="red-solid", out_dir=tmp_path / "run",
        store_dir=tmp_path / "store", n_epochs=1, n_epochs_decay=1, max_images_per_epoch=4, **TINY,
    )
    return replace(base, **overrides)


def test_identity_losses_only_on_identity_steps(tmp_path, folders):
    torch.manual_seed(0)
    model = CycleGANModel(make_opts(tmp_path, folders, identity_every=2))
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    losses = [model.train_step(a, b, step) for step in range(5)]
    assert set(losses[0]) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    for step, values in enumerate(losses):
        applied = values["idt_A"] > 0 and values["idt_B"] > 0
        assert applied == (step % 2 == 0)


def test_cycle_loss_falls_over_a_few_steps(tmp_path, folders):
    torch.manual_seed(0)
    model = CycleGANModel(make_opts(tmp_path, folders, recon_loss="l1"))
    rng = np.random.default_rng(3)
    to_t = lambda img: torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
    a = to_t(blob_image(rng, (35, 70, 190), 32))
    b = to_t(blob_image(rng, (200, 30, 40), 32))
    cycle = [sum(model.train_step(a, b, s)[k] for k in ("cycle_A", "cycle_B")) for s in range(30)]
    assert np.mean(cycle[-5:]) < 0.6 * np.mean(cycle[:5])


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_learning_rate_decays_linearly_per_epoch(tmp_path, folders):
    model = CycleGANModel(make_opts(tmp_path, folders, n_epochs=1, n_epochs_decay=2, lr=3e-4))
    rates = []
    for _ in range(3):
        rates.append(model.lr)
        model.end_epoch()
    assert rates == pytest.approx([3e-4, 2e-4, 1e-4])
    assert model.optimizer_D.param_groups[0]["lr"] == pytest.approx(0.0)


def test_train_writes_run_files_and_registers_g_a(tmp_path, folders):
    manifest = train_translation(make_opts(tmp_path, folders))
    run = tmp_path / "run"
    grid = Image.open(run / "samples" / "epoch_002.png")
    assert grid.size == (3 * 34 - 2, 6 * 34 - 2)
    assert (run / "samples" / "epoch_001.png").is_file()
    assert (run / "loss_curves.png").stat().st_size > 1000
    assert (run / "checkpoint.pt").is_file()
    assert (manifest.kind, manifest.name, manifest.version) == ("translation", "red-solid", "v1")
    assert manifest.classes == ["red-solid"] and manifest.training["steps"] == 8
    assert {"final_cycle_A", "final_G_A", "final_D_A"} <= set(manifest.metrics)
    generator, loaded = load_model(ModelRegistry(LocalFolderStore(tmp_path / "store")), "red-solid")
    assert loaded.sha256 == manifest.sha256 and loaded.dtype == "float16"
    assert all(not k.startswith(("D_", "G_B")) for k in generator.state_dict())
    assert translate_garment(generator, np.zeros((32, 32, 3), np.uint8), device="cpu").shape == (32, 32, 3)


def test_resume_continues_from_checkpoint(tmp_path, folders):
    first = train_translation(make_opts(tmp_path, folders, n_epochs_decay=0))
    history_1 = json.loads((tmp_path / "run" / "history.json").read_text())
    opts = make_opts(tmp_path, folders, out_dir=tmp_path / "run2", resume=tmp_path / "run" / "checkpoint.pt")
    second = train_translation(opts)
    history_2 = json.loads((tmp_path / "run2" / "history.json").read_text())
    assert first.training["steps"] == 4 and second.training["steps"] == 8
    assert history_2["steps"]["cycle_A"][:4] == history_1["steps"]["cycle_A"]
    assert len(history_2["steps"]["cycle_A"]) == 8 and len(history_2["epochs"]["lr"]) == 2
    assert not (tmp_path / "run2" / "samples" / "epoch_001.png").exists()
    assert (tmp_path / "run2" / "samples" / "epoch_002.png").is_file()
    assert second.version == "v2"


def test_cli_trains_and_validates(tmp_path, folders):
    source, target = folders
    args = ["--source", str(source), "--target", str(target), "--out-dir", str(tmp_path / "cli"),
            "--store-dir", str(tmp_path / "store"), "--n-epochs", "1", "--n-epochs-decay", "0",
            "--max-images-per-epoch", "2", "--ngf", "4", "--n-blocks", "1", "--ndf", "8", "--load-size", "32",
            "--crop-size", "32", "--no-hflip", "--device", "cpu"]
    result = CliRunner().invoke(app, ["--style-class", "red-solid", *args])
    assert result.exit_code == 0, result.output
    assert "registered translation/red-solid/v1" in result.output
    bad = CliRunner().invoke(app, ["--style-class", "red-tartan", *args])
    assert bad.exit_code != 0 and "tartan" in bad.output


def test_two_ranks_train_like_one_process_with_the_whole_global_batch(tmp_path, folders, torchrun):
    """2 gloo ranks × 1 pair per step (all four networks in DDP) against 1 process × 2 pairs.

    Crops, flips and target draws come from each rank's own stream, so they are off
    here (load size = crop size, no flips, one target image); the image pool only
    passes fakes through in 8 steps. The first step's losses must agree to float32
    rounding (1e-5): shards and loss averaging. Later steps, with the identity loss
    on every other step, also check the averaged generator and discriminator
    gradients, to 1e-4: the runs were 7e-7 apart (float32 summation order), and
    without gradient averaging each loss term moved by 1e-3 to 7e-2.
    """
    source, _ = folders
    target = write_folder(tmp_path / "one-target", [(200, 30, 40)], 1, 1)
    same = dict(TINY, load_size=32, crop_size=32, hflip=False, n_epochs=1, n_epochs_decay=1,
                max_images_per_epoch=8, identity_every=2, half=False, threads=1, seed=5)
    train_translation(make_opts(tmp_path, (source, target), batch_size=2, **same))
    two = tmp_path / "two"
    torchrun(["train", "translation"], dict(source=source, target=target, style_class="red-solid",
                                            out_dir=two / "run", store_dir=two / "store", batch_size=1,
                                            **same))
    one_run = json.loads((tmp_path / "run" / "history.json").read_text())["steps"]
    two_run = json.loads((two / "run" / "history.json").read_text())["steps"]
    for name in ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "D_A", "D_B"):
        assert len(two_run[name]) == len(one_run[name]) == 8
        assert two_run[name][0] == pytest.approx(one_run[name][0], rel=1e-5), name
        np.testing.assert_allclose(two_run[name], one_run[name], atol=1e-4, err_msg=name)
    assert ModelRegistry(LocalFolderStore(two / "store")).versions("translation", "red-solid") == ["v1"]


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_close_to_float32(tmp_path, folders, amp):
    """Autocast really runs in both updates (losses are not float32's) and stays finite.

    bfloat16 stays within 10% of float32 over 8 steps; float16's gradient scaler skips
    the first overflowing steps while it halves its scale, so only finiteness is asked.
    """
    same = dict(hflip=False, load_size=32, crop_size=32, half=False, threads=1)
    train_translation(make_opts(tmp_path / "fp32", folders, **same))
    train_translation(make_opts(tmp_path / amp, folders, amp=amp, **same))
    for name in ("cycle_A", "D_A"):
        full = json.loads((tmp_path / "fp32" / "run" / "history.json").read_text())["steps"][name]
        mixed = json.loads((tmp_path / amp / "run" / "history.json").read_text())["steps"][name]
        assert mixed != full and np.isfinite(mixed).all()
        if amp == "bf16":
            np.testing.assert_allclose(mixed, full, rtol=0.1, atol=0.01, err_msg=name)

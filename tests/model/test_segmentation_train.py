"""Train the slim Mask R-CNN for a few steps on tiny synthetic DeepFashion2 data."""

import dataclasses
import json
import math

import pytest
import torch

from fittingroom.data.synth import generate_dataset
from fittingroom.registry import ModelRegistry
from fittingroom.segmentation.dataset import SegmentationDataset, collate
from fittingroom.segmentation.model import load_model, maskrcnn_mobilenet_v3_large_fpn
from fittingroom.segmentation.options import SegmentationTrainOptions
from fittingroom.segmentation.train import TrainState, train_segmentation, train_step
from fittingroom.storage import LocalFolderStore
from fittingroom.training import load_checkpoint, seed_everything

pytestmark = pytest.mark.slow
SIZE = (128, 160)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine more threads thrash (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("df2")
    generate_dataset(root, 8, seed=0, size=SIZE, cyclegan_per_class=0, progress=False)
    return root


def test_loss_falls_on_a_fixed_batch(data_root):
    seed_everything(0)
    dataset = SegmentationDataset.from_split(data_root, "train", limit=4)
    images, targets = collate([dataset[i] for i in range(len(dataset))])
    model = maskrcnn_mobilenet_v3_large_fpn(min_size=SIZE[1], max_size=SIZE[1])
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    state = TrainState(model, optimizer, scheduler, architecture={})
    losses = [train_step(state, images, targets, grad_clip=10.0)["loss"] for _ in range(12)]
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses


def _options(data_root, tmp_path, **changes):
    opts = SegmentationTrainOptions(
        data_root=str(data_root), out_dir=str(tmp_path / "run"), store_dir=str(tmp_path / "store"),
        min_size=SIZE[1], max_size=SIZE[1], epochs=1, batch_size=2, lr=0.01, warmup_iters=2,
        max_train_images=4, max_val_images=2, device="cpu", name="seg-test", version="v1",
    )
    return dataclasses.replace(opts, **changes)


def test_train_resume_evaluate_and_register(data_root, tmp_path):
    first = train_segmentation(_options(data_root, tmp_path))
    checkpoint_path = tmp_path / "run" / "checkpoint.pt"
    first_history = load_checkpoint(checkpoint_path)["history"]
    assert load_checkpoint(checkpoint_path)["epoch"] == 1

    resumed = train_segmentation(_options(data_root, tmp_path, epochs=2, resume=str(checkpoint_path),
                                          version="v2"))
    checkpoint = load_checkpoint(checkpoint_path)
    assert checkpoint["epoch"] == 2 and checkpoint["steps"] == 4
    assert checkpoint["history"]["epochs"]["loss"][0] == first_history["epochs"]["loss"][0]
    assert len(checkpoint["history"]["steps"]["loss"]) == 4
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0

    for manifest in (first, resumed):
        for key in ("bbox_mAP", "bbox_AP50", "segm_mAP", "segm_AP50"):
            assert 0.0 <= manifest.metrics[key] <= 1.0
    assert resumed.metrics["epochs"] == 2 and resumed.dtype == "float16"
    assert len(resumed.classes) == 13 and json.loads(resumed.to_json())["training"]["epochs"] == 2

    model, manifest = load_model(ModelRegistry(LocalFolderStore(tmp_path / "store")), "seg-test")
    assert manifest.version == "v2" and not model.training


def test_two_ranks_train_and_one_process_resumes_their_checkpoint(data_root, tmp_path, torchrun):
    """Mask R-CNN under 2 gloo ranks (DDP, batch norm synchronised), then ``--resume`` in one process.

    4 images, 1 per rank per step: 2 global steps, averaged losses, rank 0 alone
    checkpoints and registers. The checkpoint's weights carry no ``module.`` prefix,
    so a plain process continues from it. Step-by-step equality with one process is
    not asserted here: Mask R-CNN samples its RPN and ROI training boxes at random,
    and each rank draws for its own images.
    """
    opts = _options(data_root, tmp_path, batch_size=1, threads=1)
    torchrun(["train", "segmentation"], dataclasses.asdict(opts))
    checkpoint_path = tmp_path / "run" / "checkpoint.pt"
    checkpoint = load_checkpoint(checkpoint_path)
    assert checkpoint["epoch"] == 1 and checkpoint["steps"] == 2
    assert not any(key.startswith("module.") for key in checkpoint["model"])
    assert all(math.isfinite(v) for v in checkpoint["history"]["steps"]["loss"])
    assert ModelRegistry(LocalFolderStore(tmp_path / "store")).versions("segmentation", "seg-test") == ["v1"]
    resumed = train_segmentation(_options(data_root, tmp_path, epochs=2, batch_size=2, resume=str(checkpoint_path),
                                          version="v2"))
    checkpoint = load_checkpoint(checkpoint_path)
    assert checkpoint["epoch"] == 2 and checkpoint["steps"] == 4
    assert resumed.metrics["epochs"] == 2


def test_bf16_autocast_trains_with_finite_losses(data_root, tmp_path):
    """``--amp bf16``: the forward runs under autocast (losses differ from float32's) and stays finite."""
    full = train_segmentation(_options(data_root, tmp_path / "fp32"))
    mixed = train_segmentation(_options(data_root, tmp_path / "bf16", amp="bf16"))
    assert math.isfinite(mixed.metrics["final_loss"])
    assert mixed.metrics["final_loss"] != full.metrics["final_loss"]

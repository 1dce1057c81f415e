"""COCO box and mask AP of a segmentation model on a validation split.

The ground truth is built from the same rasterised masks the training targets use
(as RLE), so training and evaluation never disagree about a garment's outline.
Scoring is pycocotools' ``COCOeval``, the metric the original project reported.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from fittingroom.garments import CATEGORIES
from fittingroom.segmentation.dataset import Target, collate

METRIC_NAMES: tuple[str, ...] = ("bbox_mAP", "bbox_AP50", "segm_mAP", "segm_AP50")


def _rle(mask: np.ndarray) -> dict:
    """JSON-safe compressed RLE of one HxW mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _xywh(box: Sequence[float]) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def coco_ground_truth(targets: Sequence[Target], sizes: Sequence[tuple[int, int]]) -> dict:
    """COCO instances dict from detection targets; image ids are list positions + 1.

    ``sizes`` are the images' ``(height, width)``.
    """
    images, annotations = [], []
    for index, (target, (h, w)) in enumerate(zip(targets, sizes), start=1):
        images.append({"id": index, "height": h, "width": w})
        for box, label, mask in zip(target["boxes"], target["labels"], target["masks"]):
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": index,
                "category_id": int(label),
                "segmentation": _rle(mask.numpy()),
                "area": float(mask.sum()),
                "bbox": _xywh(box.tolist()),
                "iscrowd": 0,
            })
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CATEGORIES)]
    return {"images": images, "annotations": annotations, "categories": categories}


def detections_to_coco(image_id: int, output: dict[str, torch.Tensor], mask_threshold: float = 0.5) -> list[dict]:
    """COCO result entries (box and mask in one dict) for one image's model output."""
    masks = output["masks"].detach().cpu().numpy()[:, 0] >= mask_threshold
    results = []
    for box, label, score, mask in zip(output["boxes"].tolist(), output["labels"].tolist(),
                                       output["scores"].tolist(), masks):
        results.append({"image_id": image_id, "category_id": int(label), "score": float(score),
                        "bbox": _xywh(box), "segmentation": _rle(mask)})
    return results


def coco_metrics(ground_truth: dict, results: list[dict]) -> dict[str, float]:
    """bbox/segm mAP@[.5:.95] and AP50; 0.0 where nothing was detected or defined."""
    metrics = dict.fromkeys(METRIC_NAMES, 0.0)
    if not results or not ground_truth["annotations"]:
        return metrics
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        dt = gt.loadRes(results)
        for iou_type in ("bbox", "segm"):
            evaluator = COCOeval(gt, dt, iouType=iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            metrics[f"{iou_type}_mAP"] = max(0.0, float(evaluator.stats[0]))
            metrics[f"{iou_type}_AP50"] = max(0.0, float(evaluator.stats[1]))
    return metrics


def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device | str = "cpu",
    batch_size: int = 4,
    num_workers: int = 0,
) -> dict[str, float]:
    """Run the model over a dataset of (image, target) samples and score it with COCOeval."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate,
                        num_workers=num_workers)
    model.eval()
    targets, sizes, results = [], [], []
    with torch.inference_mode():
        for images, batch_targets in tqdm(loader, desc="evaluate", unit="batch", leave=False):
            outputs = model([image.to(device) for image in images])
            for image, target, output in zip(images, batch_targets, outputs):
                targets.append(target)
                sizes.append(tuple(image.shape[-2:]))
                results.extend(detections_to_coco(len(targets), output))
    return coco_metrics(coco_ground_truth(targets, sizes), results)


def evaluate_registered(
    data_root: str,
    store_dir: str,
    name: str,
    version: str | None = None,
    split: str = "validation",
    max_images: int = 0,
    polygon_source: str = "segmentation",
    device: str = "auto",
) -> dict[str, float]:
    """COCO AP of a model from a local registry folder on a split of a data folder."""
    from fittingroom.registry import ModelRegistry
    from fittingroom.segmentation.dataset import SegmentationDataset
    from fittingroom.segmentation.model import load_model
    from fittingroom.storage import LocalFolderStore
    from fittingroom.training import select_device

    target = select_device(device)
    ref = f"{name}:{version}" if version else name
    model, _ = load_model(ModelRegistry(LocalFolderStore(store_dir)), ref, target)
    dataset = SegmentationDataset.from_split(data_root, split, max_images or None, polygon_source=polygon_source)
    return evaluate_model(model, dataset, target)

"""Segmentation targets, flips, LR schedule and COCO scoring maths."""

import math

import numpy as np
import pytest
import torch

from fittingroom.segmentation.dataset import collate, hflip_sample, make_target, masks_to_boxes, to_sample
from fittingroom.segmentation.evaluate import coco_ground_truth, coco_metrics, detections_to_coco
from fittingroom.segmentation.options import SegmentationTrainOptions, lr_factor


def _masks():
    masks = np.zeros((3, 12, 10), bool)
    masks[0, 2:6, 1:4] = True
    masks[2, 7:12, 5:10] = True
    return masks


def test_target_boxes_are_tight_exclusive_and_empty_masks_drop():
    target = make_target(_masks(), [3, 4, 9])
    assert target["labels"].tolist() == [3, 9]
    assert target["boxes"].tolist() == [[1, 2, 4, 6], [5, 7, 10, 12]]
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (2, 12, 10)
    assert masks_to_boxes(np.zeros((0, 4, 4), bool)).shape == (0, 4)


def test_hflip_mirrors_image_boxes_and_masks_consistently():
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    tensor, target = to_sample(image, _masks(), [3, 4, 9])
    flipped, ftarget = hflip_sample(tensor, target)
    assert torch.equal(flipped, tensor.flip(-1))
    recomputed = masks_to_boxes(ftarget["masks"].numpy().astype(bool))
    assert np.array_equal(ftarget["boxes"].numpy(), recomputed)
    images, targets = collate([(tensor, target), (flipped, ftarget)])
    assert len(images) == 2 and targets[1] is ftarget


def test_lr_factor_warms_up_then_decays():
    opts = SegmentationTrainOptions(epochs=2, warmup_iters=10, lr_schedule="cosine")
    factor = lr_factor(opts, iters_per_epoch=50)
    assert factor(0) == pytest.approx(0.001)
    assert factor(10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.1)))
    assert factor(99) < 0.01
    step = lr_factor(SegmentationTrainOptions(epochs=4, warmup_iters=0, lr_schedule="step",
                                              lr_step_epochs=2, lr_gamma=0.1), iters_per_epoch=5)
    assert step(9) == 1.0 and step(10) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        SegmentationTrainOptions(lr_schedule="linear")


def _as_output(target, scores):
    return {"boxes": target["boxes"], "labels": target["labels"], "scores": torch.tensor(scores),
            "masks": target["masks"][:, None].float()}


def test_coco_metrics_perfect_wrong_and_empty():
    target = make_target(_masks(), [3, 4, 9])
    gt = coco_ground_truth([target], [(12, 10)])
    perfect = coco_metrics(gt, detections_to_coco(1, _as_output(target, [0.9, 0.8])))
    assert perfect == pytest.approx({"bbox_mAP": 1.0, "bbox_AP50": 1.0, "segm_mAP": 1.0, "segm_AP50": 1.0})
    wrong = dict(_as_output(target, [0.9, 0.8]), labels=torch.tensor([1, 2]))
    assert coco_metrics(gt, detections_to_coco(1, wrong))["segm_mAP"] == 0.0
    assert set(coco_metrics(gt, []).values()) == {0.0}


def test_zoom_crop_scales_masks_with_the_image_and_drops_lost_instances():
    from fittingroom.segmentation.dataset import zoom_crop

    image = np.zeros((100, 80, 3), np.uint8)
    masks = np.zeros((2, 100, 80), bool)
    masks[0, 10:40, 10:30] = True  # top-left garment
    masks[1, 80:95, 60:75] = True  # bottom-right garment, outside a top-left window
    image[masks[0]] = (255, 0, 0)
    out, kept_masks, labels = zoom_crop(image, masks, [1, 8], zoom=2.0, where=(0.0, 0.0))
    assert out.shape == image.shape and kept_masks.shape == (1, 100, 80) and labels == [1]
    assert kept_masks[0].sum() == pytest.approx(4 * masks[0].sum(), rel=0.1)
    assert (out[kept_masks[0]][:, 0] > 200).mean() > 0.85  # bilinear edges blend
    same = zoom_crop(image, masks, [1, 8], zoom=2.0, where=(0.5, 0.5))
    assert len(same[2]) >= 1

"""Torch dataset over a DeepFashion2-format split, for Mask R-CNN training.

Each sample is ``(image, target)``: a 3xHxW float tensor in [0, 1] and the
torchvision detection target ``{"boxes": float Nx4 (x1, y1, x2, y2), "labels":
int64 N, "masks": uint8 NxHxW}``. Boxes are taken from the rasterised masks, so
boxes and masks always agree (the same polygons feed the COCO ground truth).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from fittingroom.data.deepfashion2 import POLYGON_SOURCES, decode_rgb, load_rgb, polygons_to_mask, read_split
from fittingroom.data.shards import deal, df2_record, iter_shard, read_index, share
from fittingroom.storage import ObjectStore
from fittingroom.data.df2_landmarks import landmark_polygon

Target = dict[str, torch.Tensor]
T = TypeVar("T")


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight (x1, y1, x2, y2) boxes, x2/y2 exclusive, of N boolean HxW masks."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def item_polygons(item: Any, polygon_source: str, width: int, height: int) -> list[list[float]]:
    """Flat polygons of one garment annotation from the chosen source.

    ``"segmentation"``: the annotated polygons. ``"landmarks"``: one dense polygon
    traced through the outline landmarks (the original project's best setting),
    falling back to the segmentation when too few landmarks are labelled.
    """
    if polygon_source not in POLYGON_SOURCES:
        raise ValueError(f"polygon source '{polygon_source}' not in {POLYGON_SOURCES}")
    polygons = [p for p in item.segmentation if len(p) >= 6]
    if polygon_source == "landmarks":
        dense = landmark_polygon(item.category_id, item.landmarks, width, height)
        polygons = [dense] if dense else polygons
    return polygons


def make_target(masks: np.ndarray, labels: Sequence[int]) -> Target:
    """Detection target from N boolean HxW masks and their 1-based labels.

    Empty masks are dropped (a box cannot be derived from them and the loss would
    be undefined).
    """
    h, w = masks.shape[1:] if len(masks) else (0, 0)
    keep = [i for i, mask in enumerate(masks) if mask.any()]
    kept = masks[keep].astype(np.uint8) if keep else np.zeros((0, h, w), np.uint8)
    return {
        "boxes": torch.from_numpy(masks_to_boxes(kept)).reshape(-1, 4),
        "labels": torch.as_tensor([labels[i] for i in keep], dtype=torch.int64),
        "masks": torch.from_numpy(kept),
    }


def hflip_sample(image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
    """Mirror an image and its target left-right."""
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    flipped = dict(target, boxes=boxes, masks=target["masks"].flip(-1))
    return image.flip(-1), flipped


def zoom_crop(
    image: np.ndarray, masks: np.ndarray, labels: Sequence[int], zoom: float, where: Sequence[float],
    min_kept: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A ``1/zoom`` window of the photo (at ``where`` ∈ [0, 1]², top-left share) scaled back up.

    Garments seen closer, as in portraits and cropped shop photos. Instances that
    keep less than ``min_kept`` of their pixels are dropped; if none is left the
    sample is returned unchanged, so every sample keeps a garment.
    """
    h, w = image.shape[:2]
    ch, cw = max(2, int(round(h / zoom))), max(2, int(round(w / zoom)))
    y0, x0 = int(where[1] * (h - ch)), int(where[0] * (w - cw))
    window = masks[:, y0:y0 + ch, x0:x0 + cw]
    kept = [i for i in range(len(labels)) if window[i].sum() >= max(min_kept * masks[i].sum(), 16)]
    if not kept:
        return image, masks, list(labels)
    crop = cv2.resize(image[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    scaled = np.stack([cv2.resize(window[i].astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for i in kept])
    return crop, scaled.astype(bool), [labels[i] for i in kept]


def to_sample(image: np.ndarray, masks: np.ndarray, labels: Sequence[int]) -> tuple[torch.Tensor, Target]:
    """HxWx3 uint8 image plus masks/labels -> (float image tensor, target)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    return tensor, make_target(masks, labels)


def collate(batch: Sequence[tuple[torch.Tensor, Target]]) -> tuple[list[torch.Tensor], list[Target]]:
    """Detection batches are lists (images differ in size), not stacked tensors."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)


class SampleMaker:
    """A DeepFashion2 record and its image -> a Mask R-CNN sample, zoomed and flipped at random.

    ``polygon_source`` (see :func:`item_polygons`) picks the polygons rasterised into
    masks. Zooms and flips draw from torch's RNG, which the DataLoader reseeds per
    worker and epoch, so runs repeat under a fixed seed. Folder and streamed
    datasets share it, so both give the same samples for the same record.
    """

    def __init__(self, hflip: bool = False, polygon_source: str = "segmentation", max_zoom: float = 1.0) -> None:
        if polygon_source not in POLYGON_SOURCES:
            raise ValueError(f"polygon source '{polygon_source}' not in {POLYGON_SOURCES}")
        if max_zoom < 1.0:
            raise ValueError(f"max_zoom {max_zoom} must be at least 1")
        self.hflip = hflip
        self.max_zoom = max_zoom
        self.polygon_source = polygon_source

    def masks(self, record: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Image, boolean masks (N x H x W) and labels of one record, unflipped."""
        h, w = image.shape[:2]
        masks = [polygons_to_mask(item_polygons(item, self.polygon_source, w, h), h, w) for item in record.items]
        stacked = np.stack(masks).astype(bool) if masks else np.zeros((0, h, w), bool)
        return image, stacked, [item.category_id for item in record.items]

    def sample(self, record: Any, image: np.ndarray) -> tuple[torch.Tensor, Target]:
        image, masks, labels = self.masks(record, image)
        if self.max_zoom > 1.0 and torch.rand(()).item() < 0.5:
            zoom = 1.0 + torch.rand(()).item() * (self.max_zoom - 1.0)
            image, masks, labels = zoom_crop(image, masks, labels, zoom, torch.rand(2).tolist())
        image, target = to_sample(image, masks, labels)
        if self.hflip and torch.rand(()).item() < 0.5:
            image, target = hflip_sample(image, target)
        return image, target


class SegmentationDataset(Dataset):
    """DeepFashion2 records (:class:`fittingroom.data.deepfashion2.ImageRecord`) of a folder -> Mask R-CNN
    samples (:class:`SampleMaker`); images are read lazily."""

    def __init__(self, records: Sequence[Any], **sample_kwargs: Any) -> None:
        self.records = list(records)
        self.maker = SampleMaker(**sample_kwargs)

    @classmethod
    def from_split(
        cls,
        root: str | Path,
        split: str,
        limit: int | None = None,
        **kwargs: Any,
    ) -> "SegmentationDataset":
        """Read a split (``train``/``validation``) of a DeepFashion2-format folder."""
        records = read_split(root, split)
        if limit:
            records = records[:limit]
        return cls(records, **kwargs)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Image, boolean masks (N x H x W) and labels of one record, unflipped."""
        record = self.records[index]
        return self.maker.masks(record, load_rgb(record.image_path))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        record = self.records[index]
        return self.maker.sample(record, load_rgb(record.image_path))


class StreamedSegmentationDataset(IterableDataset):
    """Mask R-CNN samples streamed from a split's DeepFashion2 shards (:mod:`fittingroom.data.shards`).

    Each rank and DataLoader worker reads only the shards dealt to it, reshuffled
    every epoch (:meth:`set_epoch`), through a shuffle buffer. Every rank yields
    ``ceil(samples / world_size)`` samples an epoch, cycling its shards if they hold
    fewer, so DDP ranks take the same number of steps. ``limit`` caps an epoch's
    samples (``--max-train-images``). Without ``shuffle`` (validation) the shards
    are read in order.
    """

    def __init__(self, store: ObjectStore, prefix: str, split: str, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, limit: int = 0, shuffle: bool = True, buffer: int = 64,
                 **sample_kwargs: Any) -> None:
        self.store, self.prefix, self.split = store, prefix, split
        self.index = read_index(store, prefix, split)
        total = min(self.index.samples, limit) if limit else self.index.samples
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.rank_quota = -(-total // world_size)
        self.shuffle, self.buffer = shuffle, buffer
        self.maker = SampleMaker(**sample_kwargs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Deal and shuffle the shards for this epoch (call before iterating, like DistributedSampler's)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.rank_quota

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Target]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        slot, slots = self.rank * workers + worker, self.world_size * workers
        wanted = share(self.rank_quota, worker, workers)
        records = self._records(deal(self.index, self.epoch, self.seed, slot, slots, self.shuffle))
        if self.shuffle:
            records = _shuffled(records, self.buffer, random.Random(f"{self.seed}/{self.epoch}/{slot}"))
        for record, image in itertools.islice(records, wanted):
            yield self.maker.sample(record, image)

    def _records(self, shards: list[tuple[str, int]]) -> Iterator[tuple[Any, np.ndarray]]:
        """Records of the dealt shards with their decoded images; round again while the quota needs more."""
        if not shards:
            return
        while True:
            for name, _ in shards:
                for key, sample in iter_shard(self.store, self.prefix, self.split, name):
                    yield df2_record(key, sample), decode_rgb(sample["jpg"])
            if not self.shuffle:
                return


def _shuffled(items: Iterator[T], size: int, rng: random.Random) -> Iterator[T]:
    """``items`` through a shuffle buffer of ``size`` (WebDataset's shuffle stage)."""
    pool: list[T] = []
    for item in items:
        if len(pool) < size:
            pool.append(item)
            continue
        slot = rng.randrange(size)
        pool[slot], item = item, pool[slot]
        yield item
    rng.shuffle(pool)
    yield from pool

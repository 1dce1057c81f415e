"""DeepFashion2 tar shards (WebDataset layout) and the streamed segmentation dataset over them."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from fittingroom.data.deepfashion2 import read_split
from fittingroom.data.shards import ShardIndex, deal, iter_shard, read_index, share, write_df2_shards
from fittingroom.data.synth import generate_dataset
from fittingroom.segmentation.dataset import SegmentationDataset, StreamedSegmentationDataset, collate
from fittingroom.storage import MemoryStore


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("df2")
    generate_dataset(out, 12, seed=2, val_fraction=0.25, cyclegan_per_class=0, progress=False)
    return out


@pytest.fixture(scope="module")
def store(root: Path) -> MemoryStore:
    store = MemoryStore("data")
    for split in ("train", "validation"):
        write_df2_shards(root, split, store, "df2", samples_per_shard=2)
    return store


def test_shards_hold_each_image_and_annotation_as_one_webdataset_sample(root, store):
    index = read_index(store, "df2", "train")
    records = read_split(root, "train")
    assert index.samples == len(records) == 9 and [n for _, n in index.shards] == [2, 2, 2, 2, 1]
    with tarfile.open(fileobj=io.BytesIO(store.get("df2/train/shard-000000.tar"))) as tar:
        assert tar.getnames() == ["000001.jpg", "000001.json", "000002.jpg", "000002.json"]
    streamed = [key for name, _ in index.shards for key, _ in iter_shard(store, "df2", "train", name)]
    assert streamed == [r.image_id for r in records]
    first_key, first = next(iter_shard(store, "df2", "train", "shard-000000.tar"))
    assert first["jpg"] == records[0].image_path.read_bytes()
    with pytest.raises(FileNotFoundError, match="data shard"):
        read_index(store, "df2", "test")


def test_every_reader_gets_shards_and_an_epoch_reshuffles_them():
    index = ShardIndex(tuple((f"s{i}", 10) for i in range(5)))
    readers = [deal(index, 0, 7, slot, 4) for slot in range(4)]
    assert all(readers) and sorted(s for r in readers for s in r)[:5] == sorted(index.shards)
    assert [deal(index, 1, 7, slot, 4) for slot in range(4)] != readers
    assert len(deal(ShardIndex((("only", 3),)), 0, 0, 3, 4)) == 1  # fewer shards than readers: repeated
    assert [share(10, part, 3) for part in range(3)] == [4, 3, 3]


def _ids(dataset) -> list[tuple[int, ...]]:
    """A fingerprint per sample: its image's size and labels (unaugmented streams repeat exactly)."""
    return _ids_of(DataLoader(dataset, batch_size=1, collate_fn=collate))


def test_validation_streams_every_image_once_in_order_and_matches_the_folder_dataset(root, store):
    streamed = StreamedSegmentationDataset(store, "df2", "validation", shuffle=False)
    folder = SegmentationDataset.from_split(root, "validation")
    assert len(streamed) == len(folder) == 3
    for (image, target), index in zip(DataLoader(streamed, batch_size=None), range(len(folder))):
        expected_image, expected_target = folder[index]
        assert torch.equal(image, expected_image) and torch.equal(target["masks"], expected_target["masks"])


@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_take_equal_steps_and_reshuffled_epochs_cover_the_split(root, store, workers):
    ranks = [StreamedSegmentationDataset(store, "df2", "train", rank=rank, world_size=2, seed=5) for rank in (0, 1)]
    assert [len(r) for r in ranks] == [5, 5]  # 9 images: ranks whose shards hold fewer go round again
    seen = set()
    for epoch in range(4):
        for dataset in ranks:
            dataset.set_epoch(epoch)
            epoch_ids = _ids_of(DataLoader(dataset, batch_size=1, collate_fn=collate, num_workers=workers))
            assert len(epoch_ids) == 5  # the same number of steps on every rank, whatever its shards hold
            seen |= set(epoch_ids)
    assert seen == set(_ids(SegmentationDataset.from_split(root, "train")))


def _ids_of(loader) -> list[tuple[int, ...]]:
    return [(*images[0].shape, *targets[0]["labels"].tolist()) for images, targets in loader]


def test_a_limit_caps_the_epoch(store):
    assert len(StreamedSegmentationDataset(store, "df2", "train", limit=4)) == 4
    assert len(_ids(StreamedSegmentationDataset(store, "df2", "train", limit=4, seed=1))) == 4

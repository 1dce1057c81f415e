"""DeepFashion2 as tar shards in the WebDataset layout: written once, streamed by every training node.

A split becomes ``<prefix>/<split>/shard-NNNNNN.tar`` objects. Each holds samples as
consecutive files sharing a base name: ``<image id>.jpg`` (the photo, its bytes as
they were) and ``<image id>.json`` (its DeepFashion2 annotation). That is the layout
WebDataset readers expect. ``<prefix>/<split>/index.json`` lists the shards with
their sample counts, so a reader knows an epoch's length without opening any.

Readers stream: a node fetches one shard object at a time into memory, never to
disk, and reads only the shards dealt to its rank and DataLoader worker
(:func:`deal`). Nodes need neither a shared file system nor a full copy of the data.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from fittingroom.data.deepfashion2 import ImageRecord, parse_annotation, read_split, validate_annotation
from fittingroom.storage import ObjectStore

SHARD_NAME = "shard-{:06d}.tar"
INDEX_FILE = "index.json"
Sample = dict[str, bytes]  # extension ("jpg", "json") -> file bytes


@dataclass(frozen=True)
class ShardIndex:
    """One split's shards (keys relative to the split's folder) and their sample counts, in order."""

    shards: tuple[tuple[str, int], ...]

    @property
    def samples(self) -> int:
        return sum(count for _, count in self.shards)

    def to_json(self) -> bytes:
        return json.dumps({"samples": self.samples, "shards": [{"name": n, "samples": c} for n, c in self.shards]},
                          indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ShardIndex":
        return cls(tuple((entry["name"], int(entry["samples"])) for entry in json.loads(data)["shards"]))


def _split_key(prefix: str, split: str, name: str) -> str:
    return "/".join(part for part in (prefix, split, name) if part)


def _tar(samples: list[tuple[str, Sample]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for key, files in samples:
            for extension, data in files.items():
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_df2_shards(root: Path, split: str, store: ObjectStore, prefix: str,
                     samples_per_shard: int = 1000) -> ShardIndex:
    """Shard one split of a DeepFashion2 folder (annotations validated first); the index it wrote."""
    if samples_per_shard < 1:
        raise ValueError("samples_per_shard must be at least 1")
    records = read_split(root, split, progress=True)
    shards = []
    for start in tqdm(range(0, len(records), samples_per_shard), desc=f"shard {split}", unit="shard"):
        chunk = records[start:start + samples_per_shard]
        samples = [(r.image_id, {"jpg": r.image_path.read_bytes(),
                                 "json": (r.image_path.parent.parent / "annos" / f"{r.image_id}.json").read_bytes()})
                   for r in chunk]
        name = SHARD_NAME.format(len(shards))
        store.put(_split_key(prefix, split, name), _tar(samples))
        shards.append((name, len(chunk)))
    index = ShardIndex(tuple(shards))
    store.put(_split_key(prefix, split, INDEX_FILE), index.to_json())
    return index


def read_index(store: ObjectStore, prefix: str, split: str) -> ShardIndex:
    """The split's shard index (``FileNotFoundError`` when the split was never sharded)."""
    from fittingroom.errors import ObjectNotFoundError

    key = _split_key(prefix, split, INDEX_FILE)
    try:
        return ShardIndex.from_json(store.get(key))
    except ObjectNotFoundError:
        raise FileNotFoundError(f"no shard index {store.describe()}/{key} (write one with `fittingroom data shard`)")


def iter_shard(store: ObjectStore, prefix: str, split: str, name: str) -> Iterator[tuple[str, Sample]]:
    """The samples of one shard, in order: files grouped by base name."""
    data = store.get(_split_key(prefix, split, name))
    key, files = None, {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            base, _, extension = member.name.rpartition(".")
            if base != key and files:
                yield key, files
                files = {}
            key = base
            files[extension] = tar.extractfile(member).read()
    if files:
        yield key, files


def df2_record(key: str, sample: Sample) -> ImageRecord:
    """A sample's DeepFashion2 annotation as an :class:`ImageRecord` (its image stays in the sample)."""
    if "jpg" not in sample or "json" not in sample:
        raise ValueError(f"shard sample {key}: expected {key}.jpg and {key}.json, got {sorted(sample)}")
    anno = json.loads(sample["json"])
    problems = validate_annotation(anno)
    if problems:
        raise ValueError(f"shard sample {key}: malformed DeepFashion2 annotation: {'; '.join(problems)}")
    return ImageRecord(key, Path(f"{key}.jpg"), anno["source"], anno["pair_id"], parse_annotation(anno))


def deal(index: ShardIndex, epoch: int, seed: int, slot: int, slots: int,
         shuffle: bool = True) -> list[tuple[str, int]]:
    """The shards one reader (``slot`` of ``slots`` = ranks × DataLoader workers) reads in an epoch.

    Every reader shuffles the shard list the same way (``seed`` and ``epoch``), then
    takes every ``slots``-th shard from its own offset. With fewer shards than readers
    the list is repeated, so no reader is left without data. Without ``shuffle``
    (validation) the list keeps its order and every shard is dealt exactly once.
    """
    order = list(index.shards)
    if not shuffle:
        return order[slot::slots]
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return [order[i % len(order)] for i in range(slot, max(len(order), slots), slots)]


def share(total: int, part: int, parts: int) -> int:
    """Part ``part``'s share when ``total`` items are split as evenly as possible into ``parts``."""
    return total // parts + (1 if part < total % parts else 0)

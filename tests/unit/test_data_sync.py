"""Dataset folders to and from object storage: what a training pod's init step pulls."""

from __future__ import annotations

import pytest

from fittingroom.data.sync import pull_prefix, push_folder
from fittingroom.storage import MemoryStore


def _dataset(root):
    (root / "train" / "image").mkdir(parents=True)
    (root / "train" / "image" / "000001.jpg").write_bytes(b"jpeg")
    (root / "train" / "annos").mkdir()
    (root / "train" / "annos" / "000001.json").write_text("{}")
    return root


def test_a_pushed_folder_pulls_back_identical_and_a_second_pull_fetches_nothing(tmp_path):
    store = MemoryStore("data")
    assert push_folder(_dataset(tmp_path / "df2"), store, "df2") == 2
    assert store.list("df2/") == ["df2/train/annos/000001.json", "df2/train/image/000001.jpg"]
    assert pull_prefix(store, "df2", tmp_path / "pulled") == 2
    assert (tmp_path / "pulled" / "train" / "image" / "000001.jpg").read_bytes() == b"jpeg"
    assert pull_prefix(store, "df2", tmp_path / "pulled") == 0  # a restarted pod keeps what it has
    (tmp_path / "pulled" / "train" / "annos" / "000001.json").write_text("{truncated")
    assert pull_prefix(store, "df2", tmp_path / "pulled") == 1  # a file of the wrong size is fetched again


def test_an_empty_prefix_or_a_key_escaping_the_folder_is_refused(tmp_path):
    store = MemoryStore("data")
    with pytest.raises(FileNotFoundError):
        pull_prefix(store, "nothing", tmp_path)
    store._objects["evil/../../etc/passwd"] = b"x"  # S3 allows such a key; this store would refuse to write it
    with pytest.raises(ValueError, match="outside"):
        pull_prefix(store, "evil", tmp_path / "out")

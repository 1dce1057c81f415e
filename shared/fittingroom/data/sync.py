"""Copy a dataset folder to and from object storage, so training nodes need no shared file system.

``push_folder`` uploads every file under a folder (a DeepFashion2 split, style crops,
CycleGAN folders) to ``<prefix>/<relative path>``; ``pull_prefix`` writes them back
under a local folder. Pulling skips files already present with the stored size, so
a restarted training pod resumes its download instead of starting over.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from fittingroom.storage import ObjectStore


def _key(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}" if prefix else relative


def push_folder(folder: Path, store: ObjectStore, prefix: str) -> int:
    """Upload every file under ``folder``; the number of files written."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    for path in tqdm(files, desc=f"push {folder}", unit="file"):
        store.put(_key(prefix, path.relative_to(folder).as_posix()), path.read_bytes())
    return len(files)


def pull_prefix(store: ObjectStore, prefix: str, folder: Path) -> int:
    """Download every object under ``prefix`` into ``folder`` (same relative paths); the number downloaded."""
    start = f"{prefix}/" if prefix else ""
    keys = [key for key in store.list(start) if not key.endswith("/")]
    if not keys:
        raise FileNotFoundError(f"no objects under {store.describe()}/{start}")
    fetched = 0
    for key in tqdm(keys, desc=f"pull {start or '/'}", unit="file"):
        relative = Path(key[len(start):])
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"refusing object key outside the target folder: {key}")
        target = folder / relative
        if target.is_file() and target.stat().st_size == store.size(key):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(store.get(key))
        partial.replace(target)
        fetched += 1
    return fetched

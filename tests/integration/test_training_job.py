"""The training chart's indexed Job, run for real: its two pods' commands as local processes against real
MinIO. Each pulls the dataset from a bucket, the two torchrun nodes rendezvous, and rank 0 registers the
trained style classifier in the models bucket under the next version.

Everything comes from the rendered Job except what only a cluster provides: the pod's completion index
(NODE_RANK, from an annotation), rank 0's DNS name (MASTER_ADDR is 127.0.0.1 here), the Secret's
values, and the pod's /data and /runs volumes (folders here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from fittingroom.data.sync import push_folder
from fittingroom.ports import free_port
from fittingroom.registry import ModelManifest, ModelRegistry

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "fittingroom-training"
CLASSES = ("red-solid", "blue-solid", "red-stripes", "blue-stripes")
RGB = {"red": (200, 30, 30), "blue": (30, 40, 200)}


def _toy_styles(root: Path) -> Path:
    """Tiny garment crops per style class, in the ``styles/{train,validation}/<class>/`` layout."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("validation", 2)):
        for key in CLASSES:
            colour, pattern = key.split("-")
            folder = root / "styles" / split / key
            folder.mkdir(parents=True)
            for i in range(count):
                crop = np.zeros((int(rng.integers(36, 56)), int(rng.integers(36, 56)), 3), np.uint8)
                crop[4:-4, 4:-4] = RGB[colour]
                if pattern == "stripes":
                    crop[4:-4:6, 4:-4] = 240
                Image.fromarray(crop).save(folder / f"{i}.png")
    return root


def _render(endpoint: str, data_uri: str, models_bucket: str, port: int) -> dict:
    helm = subprocess.run(["bash", str(REPO / "shared" / "infra" / "fetch-helm.sh")], check=True,
                          capture_output=True, text=True, timeout=900).stdout.split()[-1]
    sets = {"s3.existingSecret": "training-s3", "s3.endpoint": endpoint, "s3.modelsBucket": models_bucket,
            "engine": "indexedjob", "rendezvousPort": str(port), "jobs.segmentation.enabled": "false",
            "jobs.style.gpu.enabled": "false", "jobs.style.nodes": "2", "jobs.style.nprocPerNode": "1",
            "jobs.style.data": data_uri,
            "jobs.style.args": "{--epochs,2,--batch-size,8,--width,8,--hidden,32,--seed,3,--threads,1}"}
    out = subprocess.run([helm, "template", "t", str(CHART), "--kube-version", "1.33.0",
                          *[arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]],
                         check=True, capture_output=True, text=True)
    [job] = [doc for doc in yaml.safe_load_all(out.stdout) if doc and doc["kind"] == "Job"]
    return job


def _env(container: dict, secret_values: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # fittingroom and torchrun
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = secret_values[var["valueFrom"]["secretKeyRef"]["key"]]
    return env | extra | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _in_node(words: list[str], node: Path) -> list[str]:
    """The pod's command with its /data and /runs volumes as this node's folders."""
    return [str(node / word[1:]) if word.split("/")[:2] in (["", "data"], ["", "runs"]) else word for word in words]


def test_the_indexed_jobs_two_pods_train_together_and_register_the_next_version(minio_config, tmp_path):
    run = uuid.uuid4().hex[:8]
    data_store = minio_config.store(f"data-{run}")
    data_store.ensure_bucket()
    push_folder(_toy_styles(tmp_path / "toy"), data_store, "styles-toy")
    models_store = minio_config.store(f"models-{run}")
    models_store.ensure_bucket()
    registry = ModelRegistry(models_store)
    registry.save(ModelManifest(kind="style", name="stylenet", version="v1", architecture={}), {"w": torch.zeros(1)})

    port = free_port()
    job = _render(minio_config.endpoint, f"s3://data-{run}/styles-toy", f"models-{run}", port)
    pod = job["spec"]["template"]["spec"]
    [pull], [trainer] = pod["initContainers"], pod["containers"]
    secrets = {"access-key": minio_config.access_key, "secret-key": minio_config.secret_key}
    nodes = []
    for rank in range(job["spec"]["completions"]):
        node = tmp_path / f"node{rank}"
        env = _env(trainer, secrets, {"NODE_RANK": str(rank), "MASTER_ADDR": "127.0.0.1"})
        subprocess.run(_in_node(pull["command"], node), env=_env(pull, secrets, {}), check=True, timeout=300,
                       capture_output=True)
        assert (node / "data" / "styles" / "train" / "red-stripes" / "0.png").is_file()
        (node / "runs").mkdir()
        log = (node / "train.log").open("w")
        nodes.append((node, subprocess.Popen(_in_node(trainer["command"] + trainer["args"], node), env=env,
                                             stdout=log, stderr=subprocess.STDOUT)))
    for node, process in nodes:
        assert process.wait(timeout=900) == 0, (node / "train.log").read_text()[-4000:]

    assert registry.versions("style", "stylenet") == ["v1", "v2"]
    manifest = registry.manifest("style", "stylenet", "v2")
    assert manifest.training["world_size"] == 2 and manifest.training["registry"] == f"s3://models-{run}"
    registry.load("style", "stylenet", "v2")  # the weights match their manifest's sha256
    assert (tmp_path / "node0" / "runs" / "checkpoint.pt").is_file()  # rank 0 checkpoints
    assert not (tmp_path / "node1" / "runs" / "checkpoint.pt").exists()


def test_segmentation_trains_under_two_ranks_streaming_deepfashion2_shards_from_minio(minio_config, tmp_path):
    """`fittingroom data shard` writes the DF2 folder's shards to MinIO; two torchrun ranks stream them
    (nothing of the dataset on their disks) and rank 0 registers the model in the models bucket."""
    from fittingroom.data.synth import generate_dataset

    run = uuid.uuid4().hex[:8]
    generate_dataset(tmp_path / "df2", 8, seed=0, size=(128, 160), cyclegan_per_class=0, progress=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")} | {
        "FITTINGROOM_S3_ENDPOINT": minio_config.endpoint, "FITTINGROOM_S3_ACCESS_KEY": minio_config.access_key,
        "FITTINGROOM_S3_SECRET_KEY": minio_config.secret_key, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    fittingroom = str(Path(sys.executable).with_name("fittingroom"))
    shards = f"s3://data-{run}/df2-shards"
    subprocess.run([fittingroom, "data", "shard", str(tmp_path / "df2"), shards, "--samples-per-shard", "2"],
                   env=env, check=True, capture_output=True, timeout=300)
    models_store = minio_config.store(f"models-{run}")
    models_store.ensure_bucket()
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
               "--master-addr=127.0.0.1", f"--master-port={free_port()}", fittingroom, "train", "segmentation",
               "--shards", shards, "--data-root", str(tmp_path / "absent"), "--out-dir", str(tmp_path / "run"),
               "--registry", f"s3://models-{run}", "--min-size", "160", "--max-size", "160", "--epochs", "1",
               "--batch-size", "1", "--max-train-images", "4", "--max-val-images", "2", "--threads", "1",
               "--device", "cpu", "--name", "seg-streamed"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    manifest = ModelRegistry(models_store).manifest("segmentation", "seg-streamed")
    assert manifest.version == "v1" and manifest.metrics["world_size"] == 2
    from fittingroom.data.deepfashion2 import read_split

    assert manifest.metrics["train_images"] == 2  # 4 images: 2 per rank
    assert manifest.metrics["val_images"] == min(2, len(read_split(tmp_path / "df2", "validation")))
    assert manifest.training["shards"] == shards

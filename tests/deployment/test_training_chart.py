"""The training chart (charts/fittingroom-training): lint, both engines rendered and validated,
and the trainer command it renders agreeing with the trainers' options."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_support import KUBE_VERSION, NAMESPACE, REPO, run_helm

TRAINING_CHART = REPO / "charts" / "fittingroom-training"
CRD_SCHEMAS = json.loads((Path(__file__).parent / "crd_schemas.json").read_text())
SECRET = ["--set", "s3.existingSecret=fittingroom-training-s3"]
PYTORCHJOB_API = ["--api-versions", "kubeflow.org/v1/PyTorchJob"]
ALL_JOBS = ["--set", "jobs.translation.enabled=true"]


def render(helm: str, *extra: str) -> list[dict]:
    out = run_helm(helm, "template", "train", str(TRAINING_CHART), "--namespace", NAMESPACE,
                   "--kube-version", KUBE_VERSION, *extra)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((TRAINING_CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def indexed(helm) -> list[dict]:
    return render(helm, *SECRET, *ALL_JOBS)


@pytest.fixture(scope="module")
def pytorchjobs(helm) -> list[dict]:
    return render(helm, *SECRET, *ALL_JOBS, *PYTORCHJOB_API)


def _kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in objects if o["kind"] == kind}


def _validate_pod(template: dict) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **template.get("metadata", {})},
           "spec": template["spec"]}
    kubernetes_validate.validate(pod, KUBE_VERSION, strict=True)


def _trainer(template: dict) -> dict:
    [container] = template["spec"]["containers"]
    return container


def test_lint_strict(helm):
    out = run_helm(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(TRAINING_CHART), *SECRET)
    assert out.returncode == 0, out.stdout + out.stderr


def test_without_the_s3_secret_the_render_fails_and_says_why(helm):
    out = run_helm(helm, "template", "train", str(TRAINING_CHART), "--kube-version", KUBE_VERSION)
    assert out.returncode != 0 and "s3.existingSecret" in out.stderr


def test_engine_auto_follows_the_cluster_and_a_bad_engine_fails(helm, indexed, pytorchjobs):
    assert {o["kind"] for o in indexed} == {"Job", "Service"}
    assert {o["kind"] for o in pytorchjobs} == {"PyTorchJob"}
    forced = render(helm, *SECRET, "--set", "engine=pytorchjob")
    assert {o["kind"] for o in forced} == {"PyTorchJob"}
    out = run_helm(helm, "template", "t", str(TRAINING_CHART), "--kube-version", KUBE_VERSION, *SECRET,
                   "--set", "engine=slurm")
    assert out.returncode != 0 and "engine must be" in out.stderr


def test_every_object_validates(indexed, pytorchjobs):
    for obj in indexed:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    for job in pytorchjobs:
        jsonschema.validate(job, CRD_SCHEMAS["kubeflow.org/v1/PyTorchJob"])
        for spec in job["spec"]["pytorchReplicaSpecs"].values():
            _validate_pod(spec["template"])


def test_an_indexed_job_runs_one_pod_per_node_with_rank_zero_as_the_rendezvous(indexed, values):
    services = _kind(indexed, "Service")
    for model, job in _kind(indexed, "Job").items():
        nodes = values["jobs"][model]["nodes"]
        assert job["spec"]["completionMode"] == "Indexed"
        assert job["spec"]["completions"] == job["spec"]["parallelism"] == nodes
        pod = job["spec"]["template"]["spec"]
        service = services[model]
        assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
        assert service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
        assert pod["subdomain"] == service["metadata"]["name"]
        env = {e["name"]: e for e in _trainer(job["spec"]["template"])["env"]}
        assert env["MASTER_ADDR"]["value"] == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
        assert env["NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"] == \
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def test_a_pytorchjob_has_one_master_and_the_other_nodes_as_workers(pytorchjobs, values):
    for model, job in _kind(pytorchjobs, "PyTorchJob").items():
        replicas = job["spec"]["pytorchReplicaSpecs"]
        nodes = values["jobs"][model]["nodes"]
        assert replicas["Master"]["replicas"] == 1
        assert replicas.get("Worker", {"replicas": 0})["replicas"] == nodes - 1
        for spec in replicas.values():
            assert _trainer(spec["template"])["name"] == "pytorch"  # the operator's container name


@pytest.mark.parametrize("engine", ["indexed", "pytorchjobs"])
def test_gpus_pool_data_and_registry(request, engine, values):
    objects = request.getfixturevalue(engine)
    templates = [(o["metadata"]["labels"]["app.kubernetes.io/component"], t)
                 for o in objects if o["kind"] in ("Job", "PyTorchJob")
                 for t in ([o["spec"]["template"]] if o["kind"] == "Job"
                           else [s["template"] for s in o["spec"]["pytorchReplicaSpecs"].values()])]
    assert {model for model, _ in templates} == set(values["jobs"])
    for model, template in templates:
        job, pod = values["jobs"][model], template["spec"]
        trainer = _trainer(template)
        assert trainer["resources"]["limits"]["nvidia.com/gpu"] == job["gpu"]["count"]
        assert pod["nodeSelector"] == job["gpu"]["nodeSelector"] and pod["tolerations"] == job["gpu"]["tolerations"]
        assert trainer["image"].endswith("-cuda")
        args = trainer["args"]
        mounts = {m["mountPath"]: m for m in trainer["volumeMounts"]}
        if job["stream"]:  # each rank streams its DeepFashion2 shards: nothing is pulled first
            assert "initContainers" not in pod and "/data" not in mounts
            assert args[args.index("--shards") + 1] == job["data"]
        else:
            [pull] = pod["initContainers"]
            assert pull["command"] == ["fittingroom", "data", "pull", job["data"], "/data"]
            assert mounts["/data"].get("readOnly") and args[:len(job["dataArgs"])] == job["dataArgs"]
        assert args[args.index("--registry") + 1] == f"s3://{values['s3']['modelsBucket']}"
        assert args[args.index("--device") + 1] == "cuda"
        script = trainer["command"][2]
        assert f"--nnodes={job['nodes']}" in script and f"--nproc-per-node={job['nprocPerNode']}" in script
        assert f"fittingroom train {model}" in script
        assert "/dev/shm" in mounts and "/runs" in mounts
        assert trainer["securityContext"]["readOnlyRootFilesystem"] is True


def test_only_the_segmentation_trainer_streams(helm):
    out = run_helm(helm, "template", "t", str(TRAINING_CHART), "--kube-version", KUBE_VERSION, *SECRET,
                   "--set", "jobs.style.stream=true")
    assert out.returncode != 0 and "only the segmentation trainer streams" in out.stderr


def test_a_cpu_job_requests_no_gpu_and_runs_the_cpu_image(helm):
    [job] = [o for o in render(helm, *SECRET, "--set", "jobs.segmentation.enabled=false",
                               "--set", "jobs.style.gpu.enabled=false") if o["kind"] == "Job"]
    trainer = _trainer(job["spec"]["template"])
    assert "nvidia.com/gpu" not in trainer["resources"]["limits"] and trainer["image"].endswith("-cpu")
    assert "nodeSelector" not in job["spec"]["template"]["spec"]
    assert trainer["args"][trainer["args"].index("--device") + 1] == "cpu"


def _trainer_flags(model: str) -> set[str]:
    """The --flags of ``fittingroom train <model>`` (the fields of its options dataclass)."""
    from fittingroom.segmentation.options import SegmentationTrainOptions
    from fittingroom.style.train import StyleTrainOptions
    from fittingroom.translation.options import TranslationTrainOptions

    options = {"segmentation": SegmentationTrainOptions, "style": StyleTrainOptions,
               "translation": TranslationTrainOptions}[model]
    return {f.metadata.get("flag") or "--" + f.name.replace("_", "-") for f in dataclasses.fields(options)}


def test_every_rendered_trainer_flag_is_an_option_of_its_trainer(indexed):
    for model, job in _kind(indexed, "Job").items():
        flags = {arg for arg in _trainer(job["spec"]["template"])["args"] if re.match(r"^--[a-z]", arg)}
        assert flags and flags <= _trainer_flags(model), flags - _trainer_flags(model)


def _value_paths(node: dict, prefix: tuple[str, ...] = ()) -> set[str]:
    paths = set()
    for key, child in node.items():
        path = prefix + (key,)
        if isinstance(child, dict) and child and key not in {"resources", "nodeSelector", "affinity"}:
            paths |= _value_paths(child, path)
        else:
            paths.add(".".join(("jobs", "<model>", *path[2:]) if path[0] == "jobs" else path))
    return paths


def test_readme_lists_every_value_and_nothing_else(values):
    listed = set(re.findall(r"^\| `([^`]+)` \|", (TRAINING_CHART / "README.md").read_text(), re.MULTILINE))
    assert listed == _value_paths(values)

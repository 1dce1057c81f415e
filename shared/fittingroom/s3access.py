"""Who may touch which objects: one MinIO user and policy per service, least privilege.

The table :data:`ACCESS` is the one place this is declared. ``fittingroom.provision``
turns it into MinIO users and policies (run by ``infra.sh up`` locally and by the
chart's provisioning Job), and each service is then started with its own key pair
(:func:`service_env` locally, one Secret per Deployment in the chart). The MinIO
admin (root) pair only provisions and seeds models; no service runs on it.

What each service really does in object storage (``fittingroom.tensors`` makes the keys):

- the gateway stores the shop's photos under ``requests/<tenant>/<id>/input/``, reads
  a shop's own uploads by reference and the composited result;
- each stage reads what came before it and writes only its own folder
  ``requests/<tenant>/<id>/<stage>/`` (segmentation and style also their part of the
  content-addressed product cache ``cache/style/<sha256>/<models>/``);
- the model services read the model registry (get and list); nobody writes it but the admin;
- nobody deletes: the requests bucket's lifecycle rule expires request data.

S3 policies cannot tell a new object from an overwrite, so "may not overwrite" means
"has no PutObject there" — which is what this table withholds.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Mapping

import typer

from fittingroom.errors import MissingCredentialsError
from fittingroom.tensors import INPUT_FOLDER, request_key, style_cache_key

REQUESTS = "requests"  # the bucket roles a grant names; Settings maps them to bucket names
MODELS = "models"

GET = "s3:GetObject"  # also HEAD (stat), which every read by reference does first
PUT = "s3:PutObject"
LIST = "s3:ListBucket"

ENV_PREFIX = "FITTINGROOM_S3_"
ADMIN_VARS = (ENV_PREFIX + "ACCESS_KEY", ENV_PREFIX + "SECRET_KEY")


@dataclass(frozen=True)
class Grant:
    """``actions`` on the objects of one bucket whose keys match ``keys`` (MinIO wildcards: ``*`` spans ``/``).

    A bucket-level action (ListBucket) takes no keys.
    """

    bucket: str
    actions: tuple[str, ...]
    keys: tuple[str, ...] = ()


def _own_folder(stage: str) -> str:
    """``requests/<tenant>/<id>/<stage>/*``: what a stage writes for each request."""
    return request_key("*", stage, "*")


ANY_REQUEST_OBJECT = f"{REQUESTS}/*"  # a shop's photo may be any object in its prefix
STYLE_CACHE = style_cache_key("*", "*", "*")
READ_MODELS = (Grant(MODELS, (GET,), ("*",)), Grant(MODELS, (LIST,)))

ACCESS: dict[str, tuple[Grant, ...]] = {
    "gateway": (
        Grant(REQUESTS, (GET,), (ANY_REQUEST_OBJECT,)),
        Grant(REQUESTS, (PUT,), (request_key("*", INPUT_FOLDER, "*"),)),
    ),
    "segmentation": (
        Grant(REQUESTS, (GET,), (ANY_REQUEST_OBJECT, STYLE_CACHE)),
        Grant(REQUESTS, (PUT,), (_own_folder("segmentation"), style_cache_key("*", "*", "mask.npy"))),
        *READ_MODELS,
    ),
    "style": (
        Grant(REQUESTS, (GET,), (ANY_REQUEST_OBJECT, STYLE_CACHE)),
        Grant(REQUESTS, (PUT,), (_own_folder("style"), style_cache_key("*", "*", "fabric.npy"))),
        *READ_MODELS,
    ),
    "translation": (
        Grant(REQUESTS, (GET,), (_own_folder("segmentation"),)),
        Grant(REQUESTS, (PUT,), (_own_folder("translation"),)),
        *READ_MODELS,
    ),
    "compositing": (
        Grant(REQUESTS, (GET,), (ANY_REQUEST_OBJECT, STYLE_CACHE)),
        Grant(REQUESTS, (PUT,), (_own_folder("compositing"),)),
    ),
}


def policy_document(service: str, requests_bucket: str, models_bucket: str) -> dict:
    """The IAM-style policy of ``service``'s MinIO user, for these bucket names."""
    buckets = {REQUESTS: requests_bucket, MODELS: models_bucket}
    statements = []
    for grant in ACCESS[service]:
        bucket = buckets[grant.bucket]
        resources = [f"arn:aws:s3:::{bucket}/{key}" for key in grant.keys] or [f"arn:aws:s3:::{bucket}"]
        statements.append({"Effect": "Allow", "Action": list(grant.actions), "Resource": resources})
    return {"Version": "2012-10-17", "Statement": statements}


def policy_name(prefix: str, service: str) -> str:
    """Name of ``service``'s MinIO policy; ``prefix`` keeps releases sharing one MinIO apart."""
    return f"{prefix}-{service}"


def credential_vars(service: str) -> tuple[str, str]:
    """Variables carrying ``service``'s own pair where several are kept together (infra.env, the Job)."""
    suffix = "_" + service.upper()
    return ADMIN_VARS[0] + suffix, ADMIN_VARS[1] + suffix


def service_credentials(env: Mapping[str, str], service: str) -> tuple[str, str]:
    """``service``'s (access key, secret key) from ``env``; MissingCredentialsError naming what is absent."""
    names = credential_vars(service)
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise MissingCredentialsError(f"{service}: no MinIO user of its own: {' and '.join(missing)} not set "
                                      "(infra.sh up writes them to infra.env)")
    return env[names[0]], env[names[1]]


def service_env(env: Mapping[str, str], service: str) -> dict[str, str]:
    """``env`` for starting ``service``: its own pair as FITTINGROOM_S3_ACCESS_KEY/SECRET_KEY, no other pair.

    The admin pair and the other services' pairs are dropped, so a service process
    never holds more than its own key.
    """
    access_key, secret_key = service_credentials(env, service)
    every_pair = set(ADMIN_VARS).union(*(credential_vars(s) for s in ACCESS))
    kept = {name: value for name, value in env.items() if name not in every_pair}
    return {**kept, ADMIN_VARS[0]: access_key, ADMIN_VARS[1]: secret_key}


def new_credentials() -> dict[str, str]:
    """A fresh random pair for every service, as the variables of :func:`credential_vars`.

    The access key names its service (it is a user name, not a secret); the secret key
    is 20 random bytes in hex, as long as the secret keys MinIO makes itself.
    """
    pairs = {}
    for service in ACCESS:
        access_var, secret_var = credential_vars(service)
        pairs[access_var] = f"{service}-{secrets.token_hex(6)}"
        pairs[secret_var] = secrets.token_hex(20)
    return pairs


app = typer.Typer(add_completion=False, help="The per-service MinIO access table.")


@app.command("policies")
def print_policies(requests_bucket: str = typer.Option("fittingroom-requests", envvar="FITTINGROOM_REQUESTS_BUCKET"),
                   models_bucket: str = typer.Option("fittingroom-models", envvar="FITTINGROOM_MODELS_BUCKET")) -> None:
    """Print every service's policy as JSON, for review."""
    typer.echo(json.dumps({s: policy_document(s, requests_bucket, models_bucket) for s in ACCESS}, indent=2))


@app.command("new-credentials")
def print_new_credentials() -> None:
    """Print a fresh random pair per service as VAR=value lines (infra.sh keeps them per infra folder)."""
    for name, value in new_credentials().items():
        typer.echo(f"{name}={value}")


if __name__ == "__main__":
    app()

"""Create the Kafka topics, ACLs and MinIO buckets the distributed mode expects.

Run by ``shared/infra/infra.sh up`` (``python -m fittingroom.provision``), and safe
to run again: existing topics are kept (grown to the requested partition count if
they have fewer), existing buckets are kept and their lifecycle rule is rewritten,
and ACLs already there are kept (creating an existing ACL changes nothing).
Every option falls back to the ``FITTINGROOM_*`` variable that infra.sh writes; the
MinIO keys have no default (infra.sh draws a random pair per infra folder, the chart
takes them from a Secret), so a run without them stops before touching anything.
"""

from __future__ import annotations

from typing import Iterable

import typer
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ConfigResource, ConfigResourceType,
    ResourcePattern, ResourceType, ScramMechanism, UserScramCredentialUpsertion,
)

from fittingroom.bus import client_config, is_transient
from fittingroom.chain import ALL_TOPICS, COMPACTED_TOPICS, SERVICES
from fittingroom.errors import BusError
from fittingroom.kafka_auth import AclRule, KafkaSecurity, ingress_topic, service_acls, shop_acls
from fittingroom.retry import RetryPolicy, retry_call
from fittingroom.s3store import MinioStore

app = typer.Typer(add_completion=False, help=__doc__)


def connect_admin(bootstrap: str, retry: RetryPolicy | None = None,
                  security: KafkaSecurity | None = None) -> KafkaAdminClient:
    """An admin client (``security``: default the process's settings), retried while the broker is coming up."""
    config = client_config(bootstrap, "fittingroom-provision", security)
    return retry_call(
        lambda: KafkaAdminClient(**config),
        retry or RetryPolicy(deadline_s=30.0),
        lambda err: is_transient(err) or isinstance(err, OSError),
    )


def topic_partitions(admin: KafkaAdminClient, topics: Iterable[str]) -> dict[str, int]:
    """Partition count of each existing topic among ``topics``."""
    wanted = set(topics)
    return {
        t["name"]: len(t.get("partitions") or [])
        for t in admin.describe_topics(sorted(wanted & set(admin.list_topics())))
    }


def compacted_topic_config(retention_days: int) -> dict[str, str]:
    """Configs of a compacted topic (``tryon.status``): the latest record per key, for ``retention_days``.

    ``compact,delete``: compaction keeps one status per request id, and records
    older than the request data's expiry go too (their photos are gone anyway).
    Hourly segments let the cleaner compact all but the last hour.
    """
    return {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(retention_days * 86_400_000),
        "segment.ms": str(3_600_000),
        "min.cleanable.dirty.ratio": "0.1",
    }


def ensure_topics(
    admin: KafkaAdminClient,
    topics: Iterable[str],
    partitions: int,
    replication: int = 1,
    timeout_ms: int = 30_000,
    configs: dict[str, dict[str, str]] | None = None,
) -> dict[str, int]:
    """Create missing topics, grow smaller ones, set ``configs`` per topic; wait until all have leaders.

    Returns the partition count of every topic afterwards.
    """
    topics = list(topics)
    configs = configs or {}
    current = topic_partitions(admin, topics)
    missing = [t for t in topics if t not in current]
    if missing:
        admin.create_topics(
            {t: {"num_partitions": partitions, "replication_factor": replication, "configs": configs.get(t, {})}
             for t in missing},
            timeout_ms=timeout_ms,
        )
    smaller = {t: partitions for t, n in current.items() if n < partitions}
    if smaller:
        admin.create_partitions(smaller, timeout_ms=timeout_ms)
    existing = [ConfigResource(ConfigResourceType.TOPIC, t, configs=configs[t]) for t in current if configs.get(t)]
    if existing:
        admin.alter_configs(existing)
    admin.wait_for_topics(topics, timeout_ms=timeout_ms)
    return topic_partitions(admin, topics)


def _acl(rule: AclRule) -> ACL:
    """kafka-python's ACL object for one ALLOW rule."""
    return ACL(rule.principal, "*", ACLOperation[rule.operation], ACLPermissionType.ALLOW,
               ResourcePattern(ResourceType[rule.resource.value], rule.name,
                               ACLResourcePatternType[rule.pattern.value]))


def ensure_acls(admin: KafkaAdminClient, rules: Iterable[AclRule]) -> int:
    """Create the ALLOW rules (existing ones are kept as they are); returns how many were asked for.

    Raises :class:`BusError` naming the first rule the broker refused (e.g. the
    admin client is not allowed to alter ACLs).
    """
    rules = list(rules)
    result = admin.create_acls([_acl(rule) for rule in rules])
    if result["failed"]:
        raise BusError(f"kafka refused to create ACLs: {result['failed'][0]}")
    return len(rules)


def ensure_service_acls(admin: KafkaAdminClient, group_prefix: str, users: dict[str, str] | None = None) -> int:
    """The least-privilege rules of every service's principal (:func:`fittingroom.kafka_auth.service_acls`)."""
    return ensure_acls(admin, service_acls(group_prefix, users))


def parse_service_users(pairs: str) -> dict[str, str]:
    """``"gateway=team-gw,style=team-style"`` → ``{"gateway": "team-gw", "style": "team-style"}``."""
    users = {}
    for pair in filter(None, (p.strip() for p in pairs.split(","))):
        service, sep, user = pair.partition("=")
        if not sep or not user or service not in {s.name for s in SERVICES}:
            raise typer.BadParameter(f"{pair!r}: expected <service>=<username>, service one of "
                                     f"{', '.join(s.name for s in SERVICES)}")
        users[service] = user
    return users


def ensure_shop(admin: KafkaAdminClient, tenant: str, username: str, password: str | None,
                partitions: int, replication: int = 1) -> str:
    """A shop that publishes straight to Kafka: its ingress topic, the rule that only its principal writes it,
    and (with ``password``) its SCRAM-SHA-512 user. Returns the ingress topic.

    Without ``password`` the user is left to whoever manages the cluster's users.
    """
    topic = ingress_topic(tenant)
    ensure_topics(admin, [topic], partitions, replication)
    ensure_acls(admin, shop_acls(tenant, username))
    if password:
        failed = {user: err for user, err in admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(username, ScramMechanism.SCRAM_SHA_512, password)]).items() if err}
        if failed:
            raise BusError(f"kafka refused the SCRAM user {username!r}: {failed[username]}")
    return topic


def ensure_buckets(
    requests: MinioStore, models: MinioStore, expiry_days: int,
) -> None:
    """Both buckets exist; request data expires after ``expiry_days`` days."""
    requests.ensure_bucket()
    models.ensure_bucket()
    requests.set_expiry_days(expiry_days, rule_id="expire-requests")


@app.command()
def main(
    bootstrap: str = typer.Option("127.0.0.1:9092", envvar="FITTINGROOM_KAFKA_BOOTSTRAP", help="Kafka bootstrap host:port"),
    partitions: int = typer.Option(6, envvar="FITTINGROOM_KAFKA_PARTITIONS", min=1, help="partitions per topic"),
    replication: int = typer.Option(1, envvar="FITTINGROOM_KAFKA_REPLICATION", min=1, help="replication factor"),
    s3_endpoint: str = typer.Option("127.0.0.1:9000", envvar="FITTINGROOM_S3_ENDPOINT", help="MinIO host:port"),
    access_key: str = typer.Option(..., envvar="FITTINGROOM_S3_ACCESS_KEY", help="MinIO access key (no default)"),
    secret_key: str = typer.Option(..., envvar="FITTINGROOM_S3_SECRET_KEY", help="MinIO secret key (no default)"),
    secure: bool = typer.Option(False, envvar="FITTINGROOM_S3_SECURE", help="use https"),
    requests_bucket: str = typer.Option("fittingroom-requests", envvar="FITTINGROOM_REQUESTS_BUCKET"),
    models_bucket: str = typer.Option("fittingroom-models", envvar="FITTINGROOM_MODELS_BUCKET"),
    expiry_days: int = typer.Option(7, envvar="FITTINGROOM_REQUESTS_EXPIRY_DAYS", min=1, help="days request data is kept"),
    group_prefix: str = typer.Option("fittingroom", envvar="FITTINGROOM_KAFKA_GROUP_PREFIX",
                                     help="consumer groups and transactional ids the services' ACLs cover"),
    acls: bool = typer.Option(True, envvar="FITTINGROOM_KAFKA_PROVISION_ACLS",
                              help="create the services' ACLs (needs an authorizer on the brokers)"),
    service_users: str = typer.Option("", envvar="FITTINGROOM_KAFKA_SERVICE_USERS",
                                      help="service=username pairs, comma-separated (default fittingroom-<service>)"),
) -> None:
    """Create the tryon.* topics, the services' ACLs and the request/model buckets (idempotent)."""
    admin = connect_admin(bootstrap)
    try:
        configs = {topic: compacted_topic_config(expiry_days) for topic in COMPACTED_TOPICS}
        counts = ensure_topics(admin, ALL_TOPICS, partitions, replication, configs=configs)
        acl_count = ensure_service_acls(admin, group_prefix, parse_service_users(service_users)) if acls else 0
    finally:
        admin.close()
    requests, models = (MinioStore(s3_endpoint, access_key, secret_key, bucket, secure=secure)
                        for bucket in (requests_bucket, models_bucket))
    ensure_buckets(requests, models, expiry_days)
    for topic in ALL_TOPICS:
        compacted = ", compacted" if topic in COMPACTED_TOPICS else ""
        typer.echo(f"topic  {topic:<18} {counts.get(topic, 0)} partitions{compacted}")
    typer.echo(f"acls   {acl_count} rules for the services' principals (fittingroom kafka acls lists them)")
    typer.echo(f"bucket {requests_bucket:<18} objects expire after {expiry_days} days")
    typer.echo(f"bucket {models_bucket}")


if __name__ == "__main__":
    app()

"""Create the Kafka topics, ACLs and MinIO buckets the distributed mode expects.

Run by ``shared/infra/infra.sh up`` (``python -m fittingroom.provision``), and safe
to run again: existing topics are kept (grown to the requested partition count if
they have fewer), existing buckets are kept and their lifecycle rule is rewritten,
and ACLs already there are kept (creating an existing ACL changes nothing), and each
service's MinIO user and policy (``fittingroom.s3access``) are written again.
Every option falls back to the ``FITTINGROOM_*`` variable that infra.sh writes; the
MinIO keys have no default (infra.sh draws a random pair per infra folder, the chart
takes them from a Secret), so a run without them stops before touching anything.
The keys given as FITTINGROOM_S3_ACCESS_KEY/SECRET_KEY are MinIO's admin pair; each
service's own pair comes as FITTINGROOM_S3_ACCESS_KEY_<SERVICE>/SECRET_KEY_<SERVICE>.
"""

from __future__ import annotations

import os
from typing import Iterable

import typer
import urllib3
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ConfigResource, ConfigResourceType,
    ResourcePattern, ResourceType, ScramMechanism, UserScramCredentialUpsertion,
)
from minio.credentials import StaticProvider
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from fittingroom.bus import client_config, is_transient
from fittingroom.chain import ALL_TOPICS, COMPACTED_TOPICS, SERVICES
from fittingroom.errors import BusError, MissingCredentialsError
from fittingroom.kafka_auth import AclRule, KafkaSecurity, ingress_topic, service_acls, shop_acls
from fittingroom.retry import RetryPolicy, retry_call
from fittingroom.s3access import ACCESS, policy_document, policy_name, service_credentials
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


def minio_admin(endpoint: str, access_key: str, secret_key: str, secure: bool) -> MinioAdmin:
    """A MinIO admin API client (users, policies) with the admin pair; 5xx answers retried."""
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5.0, read=30.0), retries=urllib3.Retry(
        total=5, backoff_factor=0.5, status_forcelist=[500, 502, 503, 504], allowed_methods=None))
    return MinioAdmin(endpoint=endpoint, credentials=StaticProvider(access_key, secret_key), secure=secure,
                      http_client=http)


def ensure_service_user(admin: MinioAdmin, access_key: str, secret_key: str, policy: str, document: dict) -> None:
    """The user exists with this secret and this policy, rewritten from ``document``, attached (idempotent)."""
    admin.policy_add(policy, policy=document)
    admin.user_add(access_key, secret_key)
    try:
        admin.attach_policy([policy], user=access_key)
    except MinioAdminException as err:
        if "XMinioAdminPolicyChangeAlreadyApplied" not in str(err):
            raise


def ensure_service_users(admin: MinioAdmin, pairs: dict[str, tuple[str, str]], prefix: str,
                         requests_bucket: str, models_bucket: str) -> None:
    """One MinIO user per service of ``pairs`` (service -> access key, secret key).

    Each gets its policy from the table in ``fittingroom.s3access``, for these bucket names.
    """
    for service, (access_key, secret_key) in pairs.items():
        ensure_service_user(admin, access_key, secret_key, policy_name(prefix, service),
                            policy_document(service, requests_bucket, models_bucket))


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
    users: bool = typer.Option(True, "--users/--no-users", help="create each service's MinIO user and policy"),
    policy_prefix: str = typer.Option("fittingroom", envvar="FITTINGROOM_S3_POLICY_PREFIX",
                                      help="MinIO policies are named <prefix>-<service>"),
    group_prefix: str = typer.Option("fittingroom", envvar="FITTINGROOM_KAFKA_GROUP_PREFIX",
                                     help="consumer groups and transactional ids the services' ACLs cover"),
    acls: bool = typer.Option(True, envvar="FITTINGROOM_KAFKA_PROVISION_ACLS",
                              help="create the services' ACLs (needs an authorizer on the brokers)"),
    service_users: str = typer.Option("", envvar="FITTINGROOM_KAFKA_SERVICE_USERS",
                                      help="service=username pairs, comma-separated (default fittingroom-<service>)"),
) -> None:
    """Create the tryon.* topics, the services' ACLs, the request/model buckets and each
    service's MinIO user (idempotent)."""
    try:  # every service's pair is checked before anything is created
        pairs = {service: service_credentials(os.environ, service) for service in ACCESS} if users else {}
    except MissingCredentialsError as err:
        raise typer.BadParameter(f"{err}; or --no-users to create no MinIO users") from None
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
    if pairs:
        ensure_service_users(minio_admin(s3_endpoint, access_key, secret_key, secure), pairs, policy_prefix,
                             requests_bucket, models_bucket)
    for topic in ALL_TOPICS:
        compacted = ", compacted" if topic in COMPACTED_TOPICS else ""
        typer.echo(f"topic  {topic:<18} {counts.get(topic, 0)} partitions{compacted}")
    typer.echo(f"acls   {acl_count} rules for the services' principals (fittingroom kafka acls lists them)")
    typer.echo(f"bucket {requests_bucket:<18} objects expire after {expiry_days} days")
    typer.echo(f"bucket {models_bucket}")
    for service in pairs:
        typer.echo(f"user   {service:<18} policy {policy_name(policy_prefix, service)}")


if __name__ == "__main__":
    app()

"""Who may talk to Kafka and what each principal may do: client security and the ACL table.

Two facts live here, once:

* :class:`KafkaSecurity`, the security settings every Kafka client of the product
  is built with (producers, consumers, readers and the admin client alike), turned
  into kafka-python keywords by :meth:`KafkaSecurity.client_config`.
* The least-privilege ACL table (:func:`service_acls`, :func:`shop_acls`), derived
  from the chain declaration (:mod:`fittingroom.chain`): each service may read its
  input topics and its own consumer groups, write the topics it publishes, and use
  transactional ids of its own prefix; nothing else. A shop that publishes straight
  to Kafka may write only its own ingress topic (:func:`ingress_topic`), which is how
  its principal maps to its tenant: Kafka does not tell a consumer who produced a
  record, but it does tell which topic the record came from.

The broker is secured by Kafka itself (SASL/SCRAM authentication, the
``StandardAuthorizer`` with no access where no ACL is found); this module only
declares the rules that provisioning creates (:mod:`fittingroom.provision`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from fittingroom.chain import CHAIN, DLQ, FAILED, GATEWAY, PROGRESS_TOPICS, REQUESTS, STATUS, SERVICES
from fittingroom.errors import SettingsError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
# The local broker's users (and the chart's default usernames): the provisioning super-user
# and one principal per service.
USER_PREFIX = "fittingroom-"
ADMIN_USER = f"{USER_PREFIX}admin"
# Per-tenant topics shops publish TryOnEvents to: <INGRESS_PREFIX><tenant>.
INGRESS_PREFIX = "tryon.ingress."
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates to the brokers and verifies them.

    ``SASL_SSL``: TLS (verified with ``ca``, or the system's roots) and a SCRAM
    username/password. ``SSL``: TLS, and with ``cert``/``key`` mutual TLS (the
    broker maps the certificate's CN to the principal). ``PLAINTEXT``: neither,
    only when asked for explicitly.
    """

    protocol: str = "SASL_SSL"
    mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = ""
    ca: str = ""
    cert: str = ""
    key: str = ""

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the ``FITTINGROOM_KAFKA_*`` variable that is wrong or missing."""
        if self.protocol not in PROTOCOLS:
            raise SettingsError(f"FITTINGROOM_KAFKA_SECURITY_PROTOCOL={self.protocol!r}: expected one of "
                                f"{', '.join(PROTOCOLS)}")
        if self.protocol == "SASL_SSL":
            if self.mechanism not in SASL_MECHANISMS:
                raise SettingsError(f"FITTINGROOM_KAFKA_SASL_MECHANISM={self.mechanism!r}: expected one of "
                                    f"{', '.join(SASL_MECHANISMS)}")
            if not self.username or not self.password:
                raise SettingsError("FITTINGROOM_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs FITTINGROOM_KAFKA_USERNAME "
                                    "and FITTINGROOM_KAFKA_PASSWORD (or FITTINGROOM_KAFKA_PASSWORD_FILE)")
        if bool(self.cert) != bool(self.key):
            raise SettingsError("FITTINGROOM_KAFKA_CERT and FITTINGROOM_KAFKA_KEY come together (mutual TLS)")
        if self.cert and self.protocol == "PLAINTEXT":
            raise SettingsError("FITTINGROOM_KAFKA_CERT needs FITTINGROOM_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL")

    def client_config(self) -> dict[str, object]:
        """The kafka-python keywords for this security (every producer, consumer and admin client gets them)."""
        config: dict[str, object] = {"security_protocol": self.protocol}
        if self.protocol == "PLAINTEXT":
            return config
        config.update(ssl_check_hostname=True, ssl_cafile=self.ca or None,
                      ssl_certfile=self.cert or None, ssl_keyfile=self.key or None)
        if self.protocol == "SASL_SSL":
            config.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password)
        return config

    def as_user(self, username: str, password: str) -> "KafkaSecurity":
        """The same transport, authenticated as another SCRAM user."""
        return KafkaSecurity(self.protocol, self.mechanism, username, password, self.ca)


def read_password(path: str) -> str:
    """A password kept in a file (a mounted Secret): its first line."""
    try:
        return Path(path).read_text().splitlines()[0].strip()
    except (OSError, IndexError) as err:
        raise SettingsError(f"FITTINGROOM_KAFKA_PASSWORD_FILE={path!r}: cannot read a password ({err})") from None


def service_user(service: str) -> str:
    """The default Kafka principal name of a service (``fittingroom-<service>``)."""
    return f"{USER_PREFIX}{service}"


def local_users() -> tuple[str, ...]:
    """SCRAM users of the local broker: the provisioning super-user, then one per service."""
    return (ADMIN_USER, *(service_user(s.name) for s in SERVICES))


def ingress_topic(tenant: str) -> str:
    """The topic only ``tenant``'s Kafka principal may write (a shop publishing straight to Kafka)."""
    if not TENANT_PATTERN.match(tenant):
        raise SettingsError(f"tenant {tenant!r}: expected lowercase letters, digits and '-' (at most 63)")
    return f"{INGRESS_PREFIX}{tenant}"


def tenant_of_ingress(topic: str) -> str | None:
    """The tenant whose ingress topic ``topic`` is, else ``None``."""
    if not topic.startswith(INGRESS_PREFIX):
        return None
    tenant = topic[len(INGRESS_PREFIX):]
    return tenant if TENANT_PATTERN.match(tenant) else None


class Resource(str, Enum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"


class Pattern(str, Enum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


@dataclass(frozen=True, order=True)
class AclRule:
    """One ALLOW rule: ``principal`` may do ``operation`` on the resource (from any host)."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: str  # READ, WRITE, DESCRIBE

    def line(self) -> str:
        return (f"{self.principal:<34} {self.operation:<8} {self.resource.value:<16} "
                f"{self.pattern.value.lower():<8} {self.name}")


@dataclass(frozen=True)
class ServiceAccess:
    """What one service does on Kafka: the topics it reads and writes, its groups' and transactions' prefix."""

    service: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    # Consumer groups and transactional ids of the service all start with "<group prefix>-<service>".
    own_prefix: str
    reads_ingress: bool = False


def service_access(group_prefix: str) -> tuple[ServiceAccess, ...]:
    """Per service, its Kafka access, derived from the chain declaration.

    A stage reads its input topic and writes its output, ``tryon.failed`` and
    ``tryon.dlq``. The gateway writes ``tryon.requests`` (Submit, and the events
    relayed from shops' ingress topics) and ``tryon.status``, and reads the
    progress topics, the status topic and every ingress topic.
    """
    stages = tuple(ServiceAccess(s.name, (s.input_topic,), (s.output_topic, FAILED, DLQ), f"{group_prefix}-{s.name}")
                   for s in CHAIN)
    gateway = ServiceAccess(GATEWAY.name, (*PROGRESS_TOPICS, STATUS), (REQUESTS, STATUS, DLQ),
                            f"{group_prefix}-{GATEWAY.name}", reads_ingress=True)
    return (gateway, *stages)


def service_acls(group_prefix: str, users: dict[str, str] | None = None) -> list[AclRule]:
    """The ALLOW rules for every service's principal (``users``: service → username, default ``fittingroom-<service>``).

    Transactional producers need WRITE on their transactional ids, and adding a
    batch's offsets to a transaction needs READ on the group; an idempotent producer
    needs no cluster-wide IDEMPOTENT_WRITE (Kafka 3+: WRITE on a topic suffices).
    """
    users = users or {}
    rules: list[AclRule] = []
    for access in service_access(group_prefix):
        principal = f"User:{users.get(access.service, service_user(access.service))}"
        rules += [AclRule(principal, Resource.TOPIC, t, Pattern.LITERAL, "READ") for t in dict.fromkeys(access.reads)]
        rules += [AclRule(principal, Resource.TOPIC, t, Pattern.LITERAL, "WRITE") for t in dict.fromkeys(access.writes)]
        if access.reads_ingress:
            rules.append(AclRule(principal, Resource.TOPIC, INGRESS_PREFIX, Pattern.PREFIXED, "READ"))
        rules.append(AclRule(principal, Resource.GROUP, access.own_prefix, Pattern.PREFIXED, "READ"))
        rules.append(AclRule(principal, Resource.TRANSACTIONAL_ID, access.own_prefix, Pattern.PREFIXED, "WRITE"))
    return sorted(rules)


def shop_acls(tenant: str, username: str) -> list[AclRule]:
    """A shop's principal may write its own ingress topic, and nothing else."""
    return [AclRule(f"User:{username}", Resource.TOPIC, ingress_topic(tenant), Pattern.LITERAL, "WRITE")]

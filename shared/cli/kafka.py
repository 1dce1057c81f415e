"""``fittingroom kafka``: the services' ACL table, and shops that publish straight to Kafka."""

from __future__ import annotations

import secrets
import sys

import typer

from fittingroom.cli.errors import cli_errors
from fittingroom.kafka_auth import service_acls

app = typer.Typer(help="Kafka principals and ACLs (FITTINGROOM_KAFKA_* settings).", no_args_is_help=True)


@app.command("acls")
def acls(
    group_prefix: str = typer.Option("fittingroom", envvar="FITTINGROOM_KAFKA_GROUP_PREFIX",
                                     help="consumer groups and transactional ids are <prefix>-<service>..."),
) -> None:
    """Print the least-privilege ACLs provisioning grants each service's principal (all ALLOW, any host)."""
    typer.echo(f"{'principal':<34} {'allows':<8} {'resource':<16} {'pattern':<8} name")
    for rule in service_acls(group_prefix):
        typer.echo(rule.line())


@app.command("add-shop")
def add_shop(
    tenant: str = typer.Argument(..., help="The shop's tenant: 1-63 of a-z, 0-9 and '-'."),
    username: str = typer.Option("", "--user", help="Its Kafka principal (default shop-<tenant>)."),
    create_user: bool = typer.Option(True, "--create-user/--no-create-user",
                                     help="Create its SCRAM-SHA-512 user with a new password (printed once)."),
    partitions: int = typer.Option(6, envvar="FITTINGROOM_KAFKA_PARTITIONS", min=1),
    replication: int = typer.Option(1, envvar="FITTINGROOM_KAFKA_REPLICATION", min=1),
) -> None:
    """Let TENANT publish TryOnEvents straight to Kafka: its ingress topic, writable by its principal only.

    Runs as the FITTINGROOM_KAFKA_* user of the environment (one allowed to create
    topics, ACLs and users). The gateway takes every event on the topic as TENANT's.
    """
    from fittingroom.provision import connect_admin, ensure_shop
    from fittingroom.settings import Settings

    with cli_errors():
        settings = Settings.from_env()
        password = secrets.token_urlsafe(24) if create_user else None
        user = username or f"shop-{tenant}"
        admin = connect_admin(settings.kafka_bootstrap, security=settings.kafka_security())
        try:
            topic = ensure_shop(admin, tenant, user, password, partitions, replication)
        finally:
            admin.close()
        print(f"{user} may write {topic}; its events are tenant {tenant}'s", file=sys.stderr)
        if password:
            print(password)
            print(f"the SCRAM-SHA-512 password of {user} is shown only now", file=sys.stderr)

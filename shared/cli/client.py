"""``fittingroom client``: call a running gateway the way a shop would."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import typer

from fittingroom.cli.errors import cli_errors
from fittingroom.chain import GATEWAY
from fittingroom.errors import ClientError
from fittingroom.serving.tls import open_channel
from fittingroom.settings import Settings
from fittingroom.v1 import events_pb2, tryon_pb2, tryon_pb2_grpc

app = typer.Typer(help="Talk to a running gateway (gRPC TryOn, or Submit + Watch over Kafka).", no_args_is_help=True)


class ApiKeyInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <key>`` to every call, as the gateway asks of shops."""

    def __init__(self, api_key: str) -> None:
        self.header = ("authorization", f"Bearer {api_key}")

    def _with_key(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), self.header])

    def intercept_unary_unary(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._with_key(details), request)


@contextmanager
def gateway_channel(gateway: str, api_key: str | None = None) -> Iterator[grpc.Channel]:
    """A channel to the gateway that sends ``api_key`` (default: FITTINGROOM_API_KEY) with every call."""
    settings = Settings.from_env()
    key = settings.api_key if api_key is None else api_key
    channel = open_channel(gateway, settings)  # TLS when FITTINGROOM_TLS_CA names the CA
    try:
        yield grpc.intercept_channel(channel, ApiKeyInterceptor(key)) if key else channel
    finally:
        channel.close()


def fetch_result(ref) -> bytes:
    """Read a result image from the object store the services share (FITTINGROOM_S3_*)."""
    from fittingroom.serving.stores import bucket_store
    from fittingroom.tensors import get_object

    return get_object(bucket_store(Settings.from_env(), ref.bucket), ref)


def submit_and_watch(stub, request: tryon_pb2.TryOnRequest, timeout: float,
                     report: Callable[[str], None] = print) -> tryon_pb2.TryOnStatus:
    """Submit over the event path and follow it to its final stage, reporting each one."""
    request_id = stub.Submit(request, timeout=timeout).request_id
    final = None
    for status in stub.Watch(tryon_pb2.GetRequest(request_id=request_id), timeout=timeout):
        report(f"{request_id} {events_pb2.Stage.Name(status.stage).lower()}")
        final = status
    if final is None or final.stage != events_pb2.COMPLETED:
        message = final.error.message if final is not None else "no final status"
        raise ClientError(f"request {request_id} failed: {message}")
    return final


@app.command("tryon")
def tryon(
    person: Path = typer.Option(..., help="Shopper photo."),
    style: Path = typer.Option(..., help="Product photo."),
    out: Path = typer.Option(..., help="Where to write the result PNG."),
    gateway: str = typer.Option(GATEWAY.local_address, help="Gateway address."),
    events: bool = typer.Option(False, "--events", help="Use Submit + Watch (Kafka) instead of TryOn."),
    timeout: float = typer.Option(120.0, help="Deadline in seconds."),
) -> None:
    """One try-on through the gateway; writes the result image."""
    with cli_errors():
        request = tryon_pb2.TryOnRequest(person_image=person.read_bytes(), style_image=style.read_bytes(),
                                         return_image=not events)
        with gateway_channel(gateway) as channel:
            stub = tryon_pb2_grpc.TryOnServiceStub(channel)
            try:
                if events:
                    image = fetch_result(submit_and_watch(stub, request, timeout).result)
                else:
                    image = stub.TryOn(request, timeout=timeout).image
            except grpc.RpcError as exc:
                raise ClientError(f"{exc.code().name}: {exc.details()}") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(image)
        print(f"wrote {out} ({'Kafka event path' if events else 'gRPC TryOn'})")

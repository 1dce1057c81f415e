"""The gateway's gRPC clients for the chain's stages, run in order under one deadline.

Each call is derived from the stage's declaration in ``fittingroom.chain``: its
gRPC method names the request and response messages, whose fields are filled
from, and merged back into, the event envelope by name.
"""

from __future__ import annotations

import time

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from fittingroom.chain import CHAIN
from fittingroom.serving.errors import from_rpc_error
from fittingroom.serving.tls import open_channel
from fittingroom.settings import Settings
from fittingroom.v1 import events_pb2, stages_pb2

DEFAULT_DEADLINE_SECONDS = 60.0


def _channel(address: str, settings: Settings) -> grpc.Channel:
    """A channel that spreads calls over every address the name resolves to.

    With ``dns:///<headless service>:<port>`` each stage replica gets calls, not
    just the one pod a ClusterIP connection happens to stick to. With TLS the
    gateway verifies each stage against the CA and presents its own certificate.
    """
    return open_channel(address, settings, options=[
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.lb_policy_name", "round_robin"),
    ])


def _messages(grpc_method: str) -> tuple[type[Message], type[Message]]:
    """Request and response classes of ``/package.Service/Method`` (from the generated protos)."""
    service, method = grpc_method.strip("/").split("/")
    found = stages_pb2.DESCRIPTOR.pool.FindServiceByName(service).FindMethodByName(method)
    return message_factory.GetMessageClass(found.input_type), message_factory.GetMessageClass(found.output_type)


# Request fields the event keeps somewhere other than under their own name.
_EVENT_PATHS = {"translation_key": ("style", "translation_key")}


def stage_request(event: events_pb2.TryOnEvent, request_type: type[Message]) -> Message:
    """A stage's request, filled from the event's fields of the same names."""
    request = request_type()
    for field in request.DESCRIPTOR.fields:
        owner, name = event, field.name
        if name in _EVENT_PATHS:
            parent, name = _EVENT_PATHS[name]
            owner = getattr(event, parent)
        if field.is_repeated:
            getattr(request, field.name).extend(getattr(owner, name))
        elif field.message_type is not None:
            if owner.HasField(name):
                getattr(request, field.name).CopyFrom(getattr(owner, name))
        else:
            setattr(request, field.name, getattr(owner, name))
    return request


def merge_reply(event: events_pb2.TryOnEvent, stage: str, reply: Message) -> None:
    """Copy a stage's reply into the event (same field names; lists are appended to); its time becomes a
    stage timing."""
    for field in reply.DESCRIPTOR.fields:
        if field.name == "milliseconds":
            event.timings.add(stage=stage, milliseconds=reply.milliseconds)
        elif field.is_repeated:
            getattr(event, field.name).extend(getattr(reply, field.name))
        elif field.message_type is not None:
            if reply.HasField(field.name):
                getattr(event, field.name).CopyFrom(getattr(reply, field.name))
        else:
            setattr(event, field.name, getattr(reply, field.name))


class StageClients:
    """Calls the chain's stages (``fittingroom.chain.CHAIN``) in order for one request."""

    def __init__(self, settings: Settings) -> None:
        self.channels = [_channel(getattr(settings, f"{spec.name}_address"), settings) for spec in CHAIN]
        self.calls = []
        for spec, channel in zip(CHAIN, self.channels):
            request_type, response_type = _messages(spec.grpc_method)
            method = channel.unary_unary(spec.grpc_method, request_serializer=request_type.SerializeToString,
                                         response_deserializer=response_type.FromString)
            self.calls.append((spec.name, request_type, method))

    @staticmethod
    def _call(stage: str, method, request, deadline: float):
        """One stage call with the time left of the caller's deadline."""
        try:
            return method(request, timeout=max(deadline - time.monotonic(), 0.001), wait_for_ready=True)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, stage) from None

    def run_chain(self, event: events_pb2.TryOnEvent, time_remaining: float | None) -> events_pb2.TryOnEvent:
        """The completed event, or the first stage's typed error."""
        deadline = time.monotonic() + (time_remaining if time_remaining is not None else DEFAULT_DEADLINE_SECONDS)
        done = events_pb2.TryOnEvent()
        done.CopyFrom(event)
        for stage, request_type, method in self.calls:
            merge_reply(done, stage, self._call(stage, method, stage_request(done, request_type), deadline))
        done.stage = events_pb2.COMPLETED
        return done

    def close(self) -> None:
        for channel in self.channels:
            channel.close()

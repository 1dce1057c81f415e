"""The gateway's gRPC clients for the four stages, run in order under one deadline."""

from __future__ import annotations

import time

import grpc

from fittingroom.chain import CHAIN
from fittingroom.serving.errors import from_rpc_error
from fittingroom.settings import Settings
from fittingroom.v1 import events_pb2, stages_pb2, stages_pb2_grpc

DEFAULT_DEADLINE_SECONDS = 60.0


def _channel(address: str, settings: Settings) -> grpc.Channel:
    """A channel that spreads calls over every address the name resolves to.

    With ``dns:///<headless service>:<port>`` each stage replica gets calls, not
    just the one pod a ClusterIP connection happens to stick to.
    """
    return grpc.insecure_channel(address, options=[
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.lb_policy_name", "round_robin"),
    ])


class StageClients:
    """Calls segmentation → style → translation → compositing for one request."""

    def __init__(self, settings: Settings) -> None:
        self.channels = [_channel(getattr(settings, f"{spec.name}_address"), settings) for spec in CHAIN]
        self.segmentation = stages_pb2_grpc.SegmentationServiceStub(self.channels[0])
        self.style = stages_pb2_grpc.StyleServiceStub(self.channels[1])
        self.translation = stages_pb2_grpc.TranslationServiceStub(self.channels[2])
        self.compositing = stages_pb2_grpc.CompositingServiceStub(self.channels[3])

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
        rid, options = event.request_id, event.options
        seg = self._call("segmentation", self.segmentation.Segment, stages_pb2.SegmentRequest(
            request_id=rid, person_image=event.person_image, style_image=event.style_image, options=options), deadline)
        style = self._call("style", self.style.Classify, stages_pb2.ClassifyRequest(
            request_id=rid, style_image=event.style_image, style_garment=seg.style_garment, options=options), deadline)
        trans = self._call("translation", self.translation.Translate, stages_pb2.TranslateRequest(
            request_id=rid, translation_input=seg.translation_input,
            translation_key=style.style.translation_key), deadline)
        comp = self._call("compositing", self.compositing.Composite, stages_pb2.CompositeRequest(
            request_id=rid, person_image=event.person_image, person_garment=seg.person_garment,
            translated=trans.translated, options=options, style=style.style), deadline)
        done = events_pb2.TryOnEvent()
        done.CopyFrom(event)
        done.person_garment.CopyFrom(seg.person_garment)
        done.style_garment.CopyFrom(seg.style_garment)
        done.translation_input.CopyFrom(seg.translation_input)
        done.style.CopyFrom(style.style)
        done.translated.CopyFrom(trans.translated)
        done.result.CopyFrom(comp.result)
        done.exact_colour = comp.exact_colour
        done.exact_pattern = comp.exact_pattern
        done.stage = events_pb2.COMPLETED
        for name, reply in (("segmentation", seg), ("style", style), ("translation", trans), ("compositing", comp)):
            done.timings.add(stage=name, milliseconds=reply.milliseconds)
        return done

    def close(self) -> None:
        for channel in self.channels:
            channel.close()

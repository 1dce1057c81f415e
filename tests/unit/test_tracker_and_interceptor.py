"""The gateway's status tracker and the gRPC error interceptor, without Kafka or a server."""

from __future__ import annotations

import threading

import grpc
import pytest

from fittingroom.errors import BadImageError, TransientError, UnknownStyleError
from fittingroom.gateway.tracker import StatusTracker
from fittingroom.ports import free_port
from concurrent import futures

from fittingroom.serving.errors import ERROR_CODE_METADATA, RETRY_AFTER_METADATA
from fittingroom.serving.grpc_server import PoolRouter, ServiceInterceptor, StreamSlots
from fittingroom.v1 import events_pb2, tryon_pb2


def _event(stage, request_id="r1"):
    return tryon_pb2.TryOnStatus(request_id=request_id, stage=stage)


def test_stages_only_move_forward_and_a_final_state_is_counted_once():
    tracker = StatusTracker()
    assert tracker.record(_event(events_pb2.SEGMENTED))
    assert not tracker.record(_event(events_pb2.SEGMENTED))  # redelivered
    assert tracker.record(_event(events_pb2.COMPLETED))
    assert not tracker.record(_event(events_pb2.TRANSLATED))  # late, stale
    assert not tracker.record(_event(events_pb2.COMPLETED))  # duplicate completion
    assert tracker.get("r1").stage == events_pb2.COMPLETED


def test_history_fills_in_stages_that_a_later_event_overtook():
    tracker = StatusTracker()
    tracker.record(_event(events_pb2.STYLED))  # its `segmented` event has not arrived
    stages = [s.stage for s in tracker.history("r1")]
    assert stages == [events_pb2.SUBMITTED, events_pb2.SEGMENTED, events_pb2.STYLED]


def test_a_failure_does_not_invent_the_stages_it_skipped():
    tracker = StatusTracker()
    tracker.record(_event(events_pb2.SUBMITTED))
    tracker.record(_event(events_pb2.FAILED))
    assert [s.stage for s in tracker.history("r1")] == [events_pb2.SUBMITTED, events_pb2.FAILED]


def test_capacity_evicts_the_oldest_request():
    tracker = StatusTracker(capacity=2)
    for rid in ("a", "b", "c"):
        tracker.record(_event(events_pb2.SUBMITTED, rid))
    assert tracker.get("a") is None and tracker.history("a") == []
    assert tracker.get("c") is not None


def test_a_waiter_wakes_on_the_next_status():
    tracker = StatusTracker()
    tracker.record(_event(events_pb2.SUBMITTED))
    timer = threading.Timer(0.05, lambda: tracker.record(_event(events_pb2.SEGMENTED)))
    timer.start()
    fresh = tracker.wait_for_change("r1", seen=1, timeout=5.0)
    timer.join()
    assert [s.stage for s in fresh] == [events_pb2.SEGMENTED]
    assert tracker.wait_for_change("unknown", seen=0, timeout=0.01) == []


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self):
        self.trailing = ()
        self.status = None

    def set_trailing_metadata(self, metadata):
        self.trailing = metadata

    def abort(self, status, message):
        self.status, self.message = status, message
        raise Aborted(message)


def _wrapped(behaviour):
    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    details = type("Details", (), {"method": "/fittingroom.v1.StyleService/Classify"})()
    return ServiceInterceptor("style").intercept_service(lambda _d: handler, details).unary_unary


@pytest.mark.parametrize("error, status, code", [
    (BadImageError("truncated"), grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    (UnknownStyleError("teal-solid", ["red-solid"]), grpc.StatusCode.INVALID_ARGUMENT, "unknown_style"),
    (TransientError("store down"), grpc.StatusCode.UNAVAILABLE, "internal"),
    (ZeroDivisionError("oops"), grpc.StatusCode.INTERNAL, "internal"),
])
def test_the_interceptor_maps_typed_errors_to_statuses_and_codes(error, status, code):
    def behaviour(_request, _context):
        raise error

    context = FakeContext()
    with pytest.raises(Aborted):
        _wrapped(behaviour)(object(), context)
    assert context.status == status
    assert dict(context.trailing)[ERROR_CODE_METADATA] == code
    if isinstance(error, ZeroDivisionError):
        assert "oops" not in context.message  # internals are not leaked to callers


def test_the_interceptor_passes_answers_through_and_leaves_other_services_alone():
    assert _wrapped(lambda request, _context: request * 2)(21, FakeContext()) == 42
    handler = grpc.unary_unary_rpc_method_handler(lambda r, c: r)
    details = type("Details", (), {"method": "/grpc.health.v1.Health/Check"})()
    assert ServiceInterceptor("style").intercept_service(lambda _d: handler, details) is handler


def _stream(behaviour, interceptor):
    handler = grpc.unary_stream_rpc_method_handler(behaviour)
    details = type("Details", (), {"method": "/fittingroom.v1.TryOnService/Watch"})()
    return interceptor.intercept_service(lambda _d: handler, details).unary_stream


def test_a_stream_over_the_cap_is_refused_with_a_retry_hint_and_a_closed_one_frees_its_slot():
    interceptor = ServiceInterceptor("gateway", StreamSlots(limit=1))
    watch = _stream(lambda _request, _context: iter([1, 2]), interceptor)
    first = watch(object(), FakeContext())
    assert next(first) == 1  # open: holds the only slot
    refused = FakeContext()
    with pytest.raises(Aborted):
        list(watch(object(), refused))
    assert refused.status == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(refused.trailing)[RETRY_AFTER_METADATA] == "1000"
    assert list(first) == [2]  # ends: its slot is free again
    assert list(watch(object(), FakeContext())) == [1, 2]


def test_health_checks_and_streams_run_on_pools_of_their_own():
    health_pool, stream_pool = futures.ThreadPoolExecutor(1), futures.ThreadPoolExecutor(1)
    router = PoolRouter(health_pool, stream_pool)

    def route(method, handler):
        details = type("Details", (), {"method": method})()
        return router.intercept_service(lambda _d: handler, details)

    check = route("/grpc.health.v1.Health/Check", grpc.unary_unary_rpc_method_handler(lambda r, c: r))
    watch = route("/fittingroom.v1.TryOnService/Watch", grpc.unary_stream_rpc_method_handler(lambda r, c: iter([r])))
    unary = grpc.unary_unary_rpc_method_handler(lambda r, c: r)
    assert check.unary_unary.experimental_thread_pool is health_pool
    assert watch.unary_stream.experimental_thread_pool is stream_pool
    assert route("/fittingroom.v1.TryOnService/Get", unary) is unary
    assert check.unary_unary(7, None) == 7


def test_a_tls_server_keeps_a_plaintext_port_that_answers_only_health(tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    from fittingroom.serving.grpc_server import GrpcServer
    from fittingroom.serving.tls import server_credentials
    from fittingroom.settings import Settings
    from fittingroom.tlsgen import write_local_pki

    files = write_local_pki(tmp_path, ("style",))["style"]
    credentials = server_credentials(Settings.from_env(files.env()), require_client_cert=True)
    server = GrpcServer("style", 0, 1 << 20, credentials=credentials, reflection=True, health_port=0)
    assert server.health_server is None  # no health port unless asked
    server.stop(0)
    server = GrpcServer("style", 0, 1 << 20, credentials=credentials, reflection=True, health_port=free_port())
    server.start()
    try:
        server.set_serving(True)
        with grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
            with pytest.raises(grpc.RpcError) as refused:
                list(replies)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(0)

"""Transport security against the real services: TLS everywhere, mutual TLS to the stages, no reflection.

One stack of all five services with certificates from a throwaway CA (``fittingroom.tlsgen``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from fittingroom.cli.client import ApiKeyInterceptor
from fittingroom.cli.localstack import REPO
from fittingroom.images import SAMPLES_DIR, decode_image
from fittingroom.v1 import tryon_pb2, tryon_pb2_grpc


@pytest.fixture(scope="module")
def tls_stack(infra, tmp_path_factory):
    from fittingroom.cli.localstack import start_stack

    running = start_stack(infra.env, tmp_path_factory.mktemp("tls-stack"), tls=True)
    yield running
    running.stop()


def _check(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def _ca_only(tls_stack) -> grpc.ChannelCredentials:
    """What a shop holds: the CA to verify the gateway, no client certificate."""
    return grpc.ssl_channel_credentials(tls_stack.tls["client"].ca.read_bytes())


def test_plaintext_to_a_tls_server_fails(tls_stack):
    for name in ("gateway", "segmentation"):
        with grpc.insecure_channel(tls_stack.services[name].address) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                _check(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, name


def test_a_stage_rejects_a_client_without_a_certificate(tls_stack):
    address = tls_stack.services["segmentation"].address
    with grpc.secure_channel(address, _ca_only(tls_stack)) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            _check(channel)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    with tls_stack.channel(address) as channel:  # a certificate the CA signed: admitted
        assert _check(channel) == health_pb2.HealthCheckResponse.SERVING


def test_a_tryon_end_to_end_over_tls_with_a_shop_that_holds_only_the_ca(tls_stack):
    person, style = (SAMPLES_DIR / "person.jpg").read_bytes(), (SAMPLES_DIR / "style.jpg").read_bytes()
    with grpc.secure_channel(tls_stack.gateway, _ca_only(tls_stack)) as channel:
        client = tryon_pb2_grpc.TryOnServiceStub(grpc.intercept_channel(channel, ApiKeyInterceptor(tls_stack.api_key)))
        reply = client.TryOn(tryon_pb2.TryOnRequest(person_image=person, style_image=style, return_image=True),
                             timeout=180)
    image = decode_image(reply.image)
    assert image.shape == decode_image(person).shape and np.any(image != decode_image(person))
    assert [t.stage for t in reply.timings][:4] == ["segmentation", "style", "translation", "compositing"]


def test_reflection_is_off_unless_enabled(tls_stack):
    with tls_stack.channel(tls_stack.gateway) as channel:
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        with pytest.raises(grpc.RpcError) as refused:
            list(replies)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_service_without_tls_or_explicit_plaintext_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITTINGROOM_")}
    env["FITTINGROOM_STORE_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "fittingroom.cli.serve", "compositing"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "FITTINGROOM_TLS_PLAINTEXT=true" in done.stderr

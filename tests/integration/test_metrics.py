"""Every service's /metrics exposes the stage, outcome, batch and end-to-end series."""

from __future__ import annotations

import urllib.request

import pytest

from fittingroom.cli.localstack import SERVICES


def _scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_endpoint_exports_the_fittingroom_series(stack, service):
    text = _scrape(stack.services[service].metrics_port)
    for name in ("fittingroom_stage_latency_seconds", "fittingroom_requests_total", "fittingroom_batch_size",
                 "fittingroom_end_to_end_latency_seconds", "fittingroom_kafka_consumer_lag",
                 "fittingroom_gpu_memory_allocated_bytes", "process_cpu_seconds_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_traffic_shows_up_in_the_histograms(stack):
    """Run after the other integration tests in this session have sent traffic."""
    seg = _scrape(stack.services["segmentation"].metrics_port)
    assert 'fittingroom_stage_latency_seconds_count{service="segmentation",transport="kafka"}' in seg
    assert 'fittingroom_batch_size_count{service="segmentation"}' in seg
    comp = _scrape(stack.services["compositing"].metrics_port)
    assert 'fittingroom_end_to_end_latency_seconds_count{outcome="ok",path="kafka",service="compositing"}' in comp
    gateway = _scrape(stack.services["gateway"].metrics_port)
    assert 'fittingroom_requests_total{outcome="ok",service="gateway",transport="grpc"}' in gateway

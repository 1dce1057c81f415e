"""Prometheus metrics every service exports, defined once.

The Grafana dashboard and the alert rules query exactly these names.
"""

from __future__ import annotations

import sys

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

STAGE_LATENCY = Histogram(
    "fittingroom_stage_latency_seconds",
    "Time a stage spent on one request (model work plus blob I/O).",
    ["service", "transport"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "fittingroom_requests_total",
    "Requests handled, by transport and outcome (ok or an error code).",
    ["service", "transport", "outcome"],
)
TENANT_REQUESTS = Counter(
    "fittingroom_tenant_requests_total",
    "Calls shops made to the gateway, by tenant and method ('unauthenticated' when no valid key was sent).",
    ["tenant", "method"],
)
TENANT_FAILURES = Counter(
    "fittingroom_tenant_failures_total",
    "Gateway calls that failed, by tenant, method and error code.",
    ["tenant", "method", "code"],
)
BATCH_SIZE = Histogram(
    "fittingroom_batch_size",
    "Messages processed together in one worker batch.",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
END_TO_END_LATENCY = Histogram(
    "fittingroom_end_to_end_latency_seconds",
    "From a request's creation time to its completion or failure.",
    ["service", "path", "outcome"],
    buckets=LATENCY_BUCKETS,
)
MODEL_LOAD_SECONDS = Gauge(
    "fittingroom_model_load_seconds",
    "Seconds the service took to load each model.",
    ["service", "model"],
)
KAFKA_MESSAGES = Counter(
    "fittingroom_kafka_messages_total",
    "Kafka messages consumed by a worker, by result (processed, failed, dlq, retried; relayed from a shop's ingress topic).",
    ["service", "topic", "result"],
)
CACHE_LOOKUPS = Counter(
    "fittingroom_cache_lookups_total",
    "Style-side cache lookups by content hash (hit or miss).",
    ["service", "result"],
)
DEPENDENCY_UP = Gauge(
    "fittingroom_dependency_up",
    "1 while the worker reaches a dependency (kafka, storage), 0 while consumption is paused for it.",
    ["service", "dependency"],
)
INFLIGHT = Gauge(
    "fittingroom_inflight_requests",
    "Requests being processed right now.",
    ["service", "transport"],
)
MODEL_INFO = Gauge(
    "fittingroom_model_info",
    "1 for each registry model version the service serves with right now.",
    ["service", "kind", "name", "version"],
)
MODEL_ROLLOUTS = Counter(
    "fittingroom_model_rollouts_total",
    "Model rollouts while serving: switched (new versions loaded and serving) or failed (old ones kept).",
    ["service", "outcome"],
)
MODEL_ROLLOUT_FAILED = Gauge(
    "fittingroom_model_rollout_failed",
    "1 while the model versions the service is asked for failed to load and it serves with the previous ones.",
    ["service"],
)


def serve_metrics(port: int) -> None:
    """Expose /metrics over HTTP on all interfaces (scraped by Prometheus)."""
    start_http_server(port)
CONSUMER_LAG = Gauge(
    "fittingroom_kafka_consumer_lag",
    "Messages behind the end of each assigned partition of the worker's input topic.",
    ["service", "topic", "partition"],
)
GPU_MEMORY = Gauge(
    "fittingroom_gpu_memory_allocated_bytes",
    "GPU memory held by the service's tensors (0 on CPU-only replicas).",
    ["service"],
)


def export_gpu_memory(service: str) -> None:
    """Report the process's CUDA memory on every scrape (constant 0 without CUDA or torch).

    Reads torch only if the process already loaded it: a service that runs no
    model must not import torch just to report zero.
    """

    def allocated() -> float:
        torch = sys.modules.get("torch")
        return float(torch.cuda.memory_allocated()) if torch is not None and torch.cuda.is_available() else 0.0

    GPU_MEMORY.labels(service).set_function(allocated)


_LAG_LABELS: dict[str, set[tuple[str, str]]] = {}


def record_consumer_lag(service: str, kafka_consumer) -> None:
    """Lag per assigned partition from the fetcher's high-water marks (no extra request).

    Partitions a rebalance moved to another replica are dropped from the gauge,
    so summing lag across replicas does not count them twice.
    """
    current: set[tuple[str, str]] = set()
    for tp in kafka_consumer.assignment():
        highwater = kafka_consumer.highwater(tp)
        if highwater is None:
            continue
        lag = max(0, highwater - kafka_consumer.position(tp))
        CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(lag)
        current.add((tp.topic, str(tp.partition)))
    for topic, partition in _LAG_LABELS.get(service, set()) - current:
        CONSUMER_LAG.remove(service, topic, partition)
    _LAG_LABELS[service] = current

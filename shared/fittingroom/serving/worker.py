"""The Kafka side of a stage service: consume a batch, run the stage, publish, commit.

Delivery is at-least-once: offsets are committed only after every output event
of the batch (next topic, ``tryon.failed`` or ``tryon.dlq``) has been
acknowledged by the broker. Stages are idempotent (object keys derive from the
request id), so a re-delivered message overwrites the same objects. A message
that cannot be parsed goes to ``tryon.dlq`` with its raw bytes; a request that
fails permanently goes to ``tryon.failed``; neither stops the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from google.protobuf.message import DecodeError

from fittingroom.chain import COMPLETED, DLQ, FAILED, StageSpec
from fittingroom.errors import TransientError
from fittingroom.retry import RetryPolicy
from fittingroom.serving.errors import error_code_name, error_message
from fittingroom.serving.metrics import (
    BATCH_SIZE,
    END_TO_END_LATENCY,
    INFLIGHT,
    KAFKA_MESSAGES,
    REQUESTS,
    STAGE_LATENCY,
    record_consumer_lag,
)
from fittingroom.serving.stage_base import BatchHandler
from fittingroom.v1 import events_pb2

log = logging.getLogger(__name__)

def parse_event(raw: bytes) -> events_pb2.TryOnEvent:
    """Decode an envelope; raises ValueError for anything that is not a usable event."""
    event = events_pb2.TryOnEvent()
    try:
        event.ParseFromString(raw)
    except DecodeError as exc:
        raise ValueError(f"not a TryOnEvent: {exc}") from None
    if not event.request_id:
        raise ValueError("TryOnEvent without request_id")
    return event


def observe_end_to_end(service: str, path: str, event: events_pb2.TryOnEvent, outcome: str) -> None:
    """Record time from the request's creation to now (completion or failure)."""
    if event.HasField("created"):
        age = time.time() - event.created.ToMicroseconds() / 1e6
        END_TO_END_LATENCY.labels(service, path, outcome).observe(max(age, 0.0))


class StageWorker:
    """Runs one stage's batch handler over its Kafka input topic until stopped."""

    def __init__(self, spec: StageSpec, handler: BatchHandler, consumer, producer, publish, retry: RetryPolicy) -> None:
        self.spec = spec
        self.handler = handler
        self.consumer = consumer
        self.producer = producer
        self.publish = publish
        self.retry = retry
        self.stopping = threading.Event()

    def run(self) -> None:
        """Loop until :meth:`stop`; the batch in hand is finished before returning."""
        log.info("worker consuming", extra={"topic": self.spec.input_topic})
        while not self.stopping.is_set():
            records = self.consumer.poll_batch()
            if records:
                self.process(records)
        self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()

    def process(self, records: Sequence) -> None:
        """Handle one polled batch end to end, then commit it."""
        BATCH_SIZE.labels(self.spec.name).observe(len(records))
        events = []
        for record in records:
            try:
                events.append(parse_event(record.value))
            except ValueError as exc:
                self._dead_letter(record, str(exc))
        if events:
            start = time.perf_counter()
            INFLIGHT.labels(self.spec.name, "kafka").inc(len(events))
            try:
                results = self._handle_with_retry(events)
            finally:
                INFLIGHT.labels(self.spec.name, "kafka").dec(len(events))
            STAGE_LATENCY.labels(self.spec.name, "kafka").observe((time.perf_counter() - start) / len(events))
            if self.stopping.is_set() and any(isinstance(r, TransientError) for r in results):
                log.warning("stopping with transient failures; batch left uncommitted for redelivery")
                return
            for event, result in zip(events, results):
                self._emit(event, result)
        self.producer.flush()
        self.consumer.commit(records)
        record_consumer_lag(self.spec.name, self.consumer.consumer)

    def _handle_with_retry(self, events: list[events_pb2.TryOnEvent]) -> list:
        """Run the stage; events failing transiently are retried with backoff, then failed."""
        results: list = [None] * len(events)
        pending = list(range(len(events)))
        deadline = time.monotonic() + self.retry.deadline_s
        delays = self.retry.delays()
        attempt = 0
        while pending:
            attempt += 1
            for index, result in zip(pending, self._safe_handle([events[i] for i in pending])):
                results[index] = result
            pending = [i for i in pending if isinstance(results[i], TransientError)]
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0 or self.stopping.is_set():
                break
            KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "retried").inc(len(pending))
            log.warning("transient failure, retrying", extra={"attempt": attempt, "requests": len(pending)})
            time.sleep(min(next(delays), remaining))
        return results

    def _safe_handle(self, batch: list[events_pb2.TryOnEvent]) -> list:
        try:
            return self.handler.handle_batch(batch)
        except TransientError as exc:
            return [exc] * len(batch)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not kill the worker
            log.exception("stage crashed on a batch")
            return [exc] * len(batch)

    def _emit(self, event: events_pb2.TryOnEvent, result) -> None:
        if isinstance(result, Exception):
            failed = events_pb2.TryOnEvent()
            failed.CopyFrom(event)
            failed.stage = events_pb2.FAILED
            failed.error.CopyFrom(error_message(result, self.spec.name))
            self.publish(self.producer, FAILED, event.request_id, failed.SerializeToString())
            outcome = error_code_name(failed.error)
            KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "failed").inc()
            observe_end_to_end(self.spec.name, "kafka", event, outcome)
        else:
            self.publish(self.producer, self.spec.output_topic, result.request_id, result.SerializeToString())
            outcome = "ok"
            KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "processed").inc()
            if self.spec.output_topic == COMPLETED:
                observe_end_to_end(self.spec.name, "kafka", result, "ok")
        REQUESTS.labels(self.spec.name, "kafka", outcome).inc()

    def _dead_letter(self, record, reason: str) -> None:
        headers = [("reason", reason.encode()), ("source-topic", record.topic.encode()),
                   ("source-partition", str(record.partition).encode()), ("source-offset", str(record.offset).encode())]
        key = record.key.decode(errors="replace") if record.key else ""
        self.publish(self.producer, DLQ, key, record.value or b"", headers)
        KAFKA_MESSAGES.labels(self.spec.name, self.spec.input_topic, "dlq").inc()
        log.warning("message sent to DLQ", extra={"reason": reason, "offset": record.offset})

"""The MinIO store and the Kafka bus against the real servers that infra.sh starts."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Callable

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from fittingroom.bus import BatchConsumer, ConsumerRecord, await_transaction, make_producer, publish
from fittingroom.chain import ALL_TOPICS as TOPICS
from fittingroom.chain import STATUS
from fittingroom.errors import BusUnavailableError, ObjectNotFoundError, StorageError, StorageUnavailableError
from fittingroom.retry import RetryPolicy
from fittingroom.s3store import MinioStore

from conftest import admin_call

if TYPE_CHECKING:
    from conftest import MinioConfig, ServerControl

MakeTopic = Callable[[int], str]


def test_minio_put_get_list_and_overwrite(minio_store: MinioStore) -> None:
    minio_store.put("req/1/person.png", b"person")
    minio_store.put("req/1/style.png", b"style")
    minio_store.put("req/2/person.png", b"other")
    minio_store.put("req/1/person.png", b"person-v2")

    assert minio_store.get("req/1/person.png") == b"person-v2"
    assert minio_store.list("req/1/") == ["req/1/person.png", "req/1/style.png"]
    assert len(minio_store.list()) == 3
    assert minio_store.exists("req/2/person.png")
    assert minio_store.describe().endswith(f"/{minio_store.bucket}")


def test_minio_missing_key(minio_store: MinioStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        minio_store.get("req/none/person.png")
    assert not minio_store.exists("req/none/person.png")
    assert minio_store.list("req/none/") == []


def test_minio_rejects_bad_keys(minio_store: MinioStore) -> None:
    with pytest.raises(ValueError):
        minio_store.put("../escape", b"x")


def test_minio_permanent_errors_are_typed_and_not_retried(minio_config: MinioConfig) -> None:
    intruder = MinioStore(minio_config.endpoint, "nobody", "wrong-secret", minio_config.models_bucket)
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        intruder.get("models/any")
    assert not isinstance(info.value, StorageUnavailableError)
    assert "InvalidAccessKeyId" in str(info.value)
    assert time.monotonic() - started < 5.0
    with pytest.raises(StorageError, match="NoSuchBucket"):
        minio_config.store("no-such-bucket").get("x")


def test_requests_bucket_has_expiry_rule(minio_config: MinioConfig) -> None:
    requests = minio_config.store(minio_config.requests_bucket)
    models = minio_config.store(minio_config.models_bucket)
    assert requests.expiry_days() == minio_config.expiry_days
    assert models.expiry_days() is None


def test_store_rides_out_minio_restart(
    minio_config: MinioConfig, minio_store: MinioStore, minio_server: ServerControl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = minio_config.store(minio_store.bucket, retry=RetryPolicy(deadline_s=60.0, max_delay_s=0.5))
    store.put("outage/before", b"kept")
    result: dict[str, object] = {}

    def put_and_get() -> None:
        try:
            store.put("outage/during", b"written during the outage")
            result["during"] = store.get("outage/during")
            result["before"] = store.get("outage/before")
        except Exception as err:  # reported to the main thread below
            result["error"] = err

    caplog.set_level(logging.WARNING, logger="fittingroom.s3store")
    minio_server.stop()
    worker = threading.Thread(target=put_and_get)
    try:
        worker.start()
        deadline = time.monotonic() + 10
        while "minio put outage/during failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)
    finally:
        minio_server.start()
    worker.join(timeout=60)

    assert "minio put outage/during failed" in caplog.text, "the put did not hit the outage"
    assert "error" not in result, result.get("error")
    assert result == {"during": b"written during the outage", "before": b"kept"}


def test_tryon_topics_exist(kafka_admin: KafkaAdminClient, kafka_partitions: int) -> None:
    described = {t["name"]: len(t["partitions"]) for t in kafka_admin.describe_topics(list(TOPICS))}
    assert described == {topic: kafka_partitions for topic in TOPICS}


def test_the_status_topic_is_compacted(kafka_admin: KafkaAdminClient) -> None:
    resource = ConfigResource(ConfigResourceType.TOPIC, STATUS)
    configs = admin_call(lambda: kafka_admin.describe_configs([resource]))["topic"][STATUS]
    assert configs["cleanup.policy"]["value"] == "compact,delete"
    assert int(configs["retention.ms"]["value"]) > 0


def test_unreachable_broker_is_a_typed_error() -> None:
    with pytest.raises(BusUnavailableError):
        make_producer("127.0.0.1:1", client_id="test-nowhere", bootstrap_timeout_ms=500)


def _produce(bootstrap: str, topic: str, count: int) -> dict[str, int]:
    """``count`` messages keyed req-<i % 5>; returns each value's partition."""
    producer = make_producer(bootstrap, client_id="test-producer")
    try:
        partitions = {}
        for i in range(count):
            meta = publish(producer, topic, f"req-{i % 5}", f"m{i}".encode(), headers={"attempt": "1"})
            partitions[f"m{i}"] = meta.partition
        return partitions
    finally:
        producer.close()


def _drain(consumer: BatchConsumer, want: int, timeout_s: float = 30.0) -> list[list[ConsumerRecord]]:
    """Poll batches until ``want`` records arrived (or the timeout)."""
    batches: list[list[ConsumerRecord]] = []
    deadline = time.monotonic() + timeout_s
    while sum(map(len, batches)) < want and time.monotonic() < deadline:
        batch = consumer.poll_batch()
        if batch:
            batches.append(batch)
    return batches


def test_batches_are_bounded_and_committed_work_is_not_redelivered(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    topic = make_topic(3)
    partitions = _produce(kafka_bootstrap, topic, 25)
    key_partition = {f"req-{i % 5}": p for i, p in enumerate(partitions.values())}

    with BatchConsumer(kafka_bootstrap, "g-commit", [topic], max_batch=7, max_wait_ms=300) as consumer:
        batches = _drain(consumer, 25)
        for batch in batches:
            consumer.commit(batch)
    records = [r for batch in batches for r in batch]

    assert all(1 <= len(batch) <= 7 for batch in batches)
    assert sorted(r.value.decode() for r in records) == sorted(partitions)
    assert all(r.partition == key_partition[r.key.decode()] for r in records)
    assert all(dict(r.headers) == {"attempt": b"1"} for r in records)

    with BatchConsumer(kafka_bootstrap, "g-commit", [topic], max_batch=7, max_wait_ms=300) as again:
        later = _drain(again, 1, timeout_s=4.0)
    assert later == []


def test_a_lone_record_is_handed_out_without_waiting_for_the_batch_to_fill(kafka_bootstrap: str,
                                                                          make_topic: MakeTopic) -> None:
    topic = make_topic(1)
    with BatchConsumer(kafka_bootstrap, f"g-linger-{uuid.uuid4().hex[:8]}", [topic], max_batch=8,
                       max_wait_ms=200, linger_ms=0) as consumer:
        assert consumer.poll_batch() == []  # joined, owning the partition
        consumer.max_wait_ms = 600_000  # a poll now waits this long for a first record, no longer for a full batch
        gathered: list[ConsumerRecord] = []
        polling = threading.Thread(target=lambda: gathered.extend(consumer.poll_batch()), daemon=True)
        polling.start()
        _produce(kafka_bootstrap, topic, 1)
        polling.join(timeout=60)
        assert not polling.is_alive() and len(gathered) == 1


def test_uncommitted_batch_is_redelivered(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    topic = make_topic(3)
    _produce(kafka_bootstrap, topic, 12)

    with BatchConsumer(kafka_bootstrap, "g-crash", [topic], max_batch=4, max_wait_ms=300) as first:
        batches = _drain(first, 12)
        committed = first.commit(batches[0])
    done = {r.value for r in batches[0]}
    seen = {r.value for batch in batches for r in batch}

    with BatchConsumer(kafka_bootstrap, "g-crash", [topic], max_batch=4, max_wait_ms=300) as second:
        redelivered = [r for batch in _drain(second, 12 - len(done)) for r in batch]

    assert len(seen) == 12 and len(batches) > 1
    assert all(offset >= 1 for offset in committed.values())
    assert sorted(r.value for r in redelivered) == sorted(seen - done)


def test_a_batch_gathered_across_a_rebalance_holds_only_what_is_still_this_members(
        kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    """A member joining mid-batch: the batch must not keep records its new owner will also get, nor repeats."""
    topic = make_topic(4)
    group = f"g-rebalance-{uuid.uuid4().hex[:8]}"
    first = BatchConsumer(kafka_bootstrap, group, [topic], max_batch=1000, max_wait_ms=200)
    deadline = time.monotonic() + 60
    while not first.consumer.assignment() and time.monotonic() < deadline:
        first.poll_batch()  # joined alone, owning every partition, before anything is published
    _produce(kafka_bootstrap, topic, 40)
    first.max_wait_ms = 12_000
    gathered: list[ConsumerRecord] = []
    gathering = threading.Thread(target=lambda: gathered.extend(first.poll_batch()))
    gathering.start()
    second = BatchConsumer(kafka_bootstrap, group, [topic], max_batch=1000, max_wait_ms=500)
    try:
        deadline = time.monotonic() + 60
        while not second.consumer.assignment() and time.monotonic() < deadline:
            second.poll_batch()
        gathering.join(timeout=60)
        kept = {(r.partition, r.offset) for r in gathered}
        mine = {tp.partition for tp in first.consumer.assignment()}
        assert second.consumer.assignment() and mine, "no rebalance happened"
        assert {partition for partition, _ in kept} <= mine
        assert len(kept) == len(gathered), "a record was gathered twice"
    finally:
        first.close()
        second.close()


def test_rewind_redelivers_to_the_same_consumer(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    topic = make_topic(1)
    _produce(kafka_bootstrap, topic, 5)

    with BatchConsumer(kafka_bootstrap, "g-rewind", [topic], max_batch=5, max_wait_ms=300) as consumer:
        batch = [r for b in _drain(consumer, 5) for r in b]
        consumer.rewind(batch)
        again = [r for b in _drain(consumer, 5) for r in b]

    assert [r.offset for r in again] == [r.offset for r in batch] == [0, 1, 2, 3, 4]


def test_publish_rides_out_broker_restart(kafka_bootstrap: str, kafka_server: ServerControl, make_topic: MakeTopic) -> None:
    topic = make_topic(1)
    producer = make_producer(kafka_bootstrap, client_id="test-restart")
    result: dict[str, object] = {}

    def send() -> None:
        try:
            result["meta"] = publish(producer, topic, "req-r", b"during restart", retry=RetryPolicy(deadline_s=90.0))
        except Exception as err:  # reported to the main thread below
            result["error"] = err

    try:
        publish(producer, topic, "req-r", b"before restart")
        kafka_server.stop()
        worker = threading.Thread(target=send)
        try:
            worker.start()
            time.sleep(1.0)
            assert "meta" not in result, "published while the broker was down"
        finally:
            kafka_server.start()
        worker.join(timeout=120)
    finally:
        producer.close()

    assert "error" not in result, result.get("error")
    with BatchConsumer(kafka_bootstrap, "g-restart", [topic], max_batch=10, max_wait_ms=300) as consumer:
        values = [r.value for b in _drain(consumer, 2) for r in b]
    assert values == [b"before restart", b"during restart"]


def _publish_committed(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Each value in its own committed transaction, as the stages publish (a commit marker after each)."""
    producer = make_producer(bootstrap, client_id="test-stall", transactional_id=f"test-stall-{uuid.uuid4().hex}")
    try:
        for value in values:
            producer.begin_transaction()
            publish(producer, topic, f"req-{value.decode()}", value)
            await_transaction(producer, producer._transaction_manager.begin_commit())
    finally:
        producer.close()


def _member_owning(consumer: BatchConsumer, partitions: int, timeout_s: float = 60.0) -> list[ConsumerRecord]:
    """Poll until ``consumer`` owns ``partitions`` partitions; the records it got meanwhile."""
    got: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(consumer.consumer.assignment()) != partitions and time.monotonic() < deadline:
        got += consumer.poll_batch()
    assert len(consumer.consumer.assignment()) == partitions
    return got


def test_attempt_marks_are_read_again_after_a_rebalance(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    """A member remembers the marks it committed, until its partitions move: then another member may
    have marked a later attempt, and the first must see that one, not its own older mark."""
    topic = make_topic(2)
    group = f"g-marks-{uuid.uuid4().hex[:8]}"
    first = BatchConsumer(kafka_bootstrap, group, [topic], max_batch=100, max_wait_ms=300)
    try:
        _member_owning(first, 2)
        _produce(kafka_bootstrap, topic, 10)
        held = [r for batch in _drain(first, 10) for r in batch]
        first.mark_attempt(held, 1)
        assert all(mark is not None and mark[0] == 1 for mark in first.attempts_before(held).values())
        second = BatchConsumer(kafka_bootstrap, group, [topic], max_batch=100, max_wait_ms=300)
        try:
            joined = threading.Thread(target=lambda: _member_owning(first, 1), daemon=True)
            joined.start()
            taken = _member_owning(second, 1) or [r for batch in _drain(second, 1) for r in batch]
            joined.join(timeout=60)
            assert all(mark is not None and mark[0] == 1 for mark in second.attempts_before(taken).values())
            second.mark_attempt(taken, 2)
        finally:
            second.close()
        back = _member_owning(first, 2)
        back += [r for batch in _drain(first, 10 - len(back), timeout_s=15.0) for r in batch]
        moved = {r.partition for r in taken}
        marks = first.attempts_before([r for r in back if r.partition in moved])
        assert marks and all(mark is not None and mark[0] == 2 for mark in marks.values())
    finally:
        first.close()


def _stop_fetching(consumer: BatchConsumer, unassigned: bool) -> None:
    """Fault injection: the client polls on and returns nothing, as a stuck one was seen to after a broker
    restart (``unassigned``: believing it holds no partition)."""
    client = consumer.consumer
    client.poll = lambda *args, **kwargs: {}
    if unassigned:
        client.assignment = lambda: set()


@pytest.mark.parametrize("unassigned", [False, True], ids=["assigned", "unassigned"])
def test_a_member_stuck_in_its_client_is_replaced_and_what_waited_arrives(
        kafka_bootstrap: str, make_topic: MakeTopic, unassigned: bool) -> None:
    topic = make_topic(2)
    with BatchConsumer(kafka_bootstrap, f"g-stall-{uuid.uuid4().hex[:8]}", [topic], max_batch=10, max_wait_ms=200,
                       stall_check_s=1.0) as consumer:
        _publish_committed(kafka_bootstrap, topic, [b"first"])
        consumer.commit([r for batch in _drain(consumer, 1) for r in batch])
        _stop_fetching(consumer, unassigned)
        _publish_committed(kafka_bootstrap, topic, [b"a", b"b", b"c"])
        arrived = sorted(r.value for batch in _drain(consumer, 3, timeout_s=60) for r in batch)
        assert arrived == [b"a", b"b", b"c"]
        assert consumer.replacements == 1


def test_an_idle_member_is_not_taken_for_a_stuck_one(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    topic = make_topic(2)
    with BatchConsumer(kafka_bootstrap, f"g-idle-{uuid.uuid4().hex[:8]}", [topic], max_batch=10, max_wait_ms=100,
                       stall_check_s=0.3) as consumer:
        _publish_committed(kafka_bootstrap, topic, [b"a", b"b", b"c"])
        consumer.commit([r for batch in _drain(consumer, 3) for r in batch])
        checks = consumer.progress.checks
        deadline = time.monotonic() + 30
        while consumer.progress.checks < checks + 4 and time.monotonic() < deadline:
            assert consumer.poll_batch() == []
        assert consumer.progress.checks >= checks + 4, "the idle member never checked its progress"
        assert consumer.replacements == 0


def test_a_failed_start_leaves_no_server_running(tmp_path) -> None:
    """Kafka cannot start (its port is taken): `infra.sh up` fails, and the MinIO it started is stopped again."""
    import os
    import socket
    import subprocess

    from fittingroom.cli.localstack import INFRA_SCRIPTS
    from fittingroom.ports import free_ports

    minio_port, console_port = free_ports(2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = {"FITTINGROOM_INFRA_DIR": str(tmp_path / "state"), "FITTINGROOM_KAFKA_PORT": str(squatter.getsockname()[1]),
               "FITTINGROOM_MINIO_PORT": str(minio_port), "FITTINGROOM_MINIO_CONSOLE_PORT": str(console_port)}
        result = subprocess.run(["bash", str(INFRA_SCRIPTS / "infra.sh"), "up"], env={**os.environ, **env},
                                capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "kafka" in result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", minio_port)) != 0, "MinIO was left running"


def test_the_hop_benchmark_relays_through_the_real_broker_and_times_every_step(kafka_bootstrap: str) -> None:
    from fittingroom.cli.bench_hop import STEPS, relay_hops

    samples = relay_hops(kafka_bootstrap, hops=5, warmup=1)
    assert list(samples) == list(STEPS)
    assert all(len(seconds) == 5 and all(s > 0 for s in seconds) for seconds in samples.values())

"""CPU accounting of the local stack: roles from command lines, and what a meter counts."""

import time

import pytest

from fittingroom.cli.cpu_usage import BENCH, CpuMeter, _role


@pytest.mark.parametrize("cmdline, role", [
    ("/venv/bin/python -m fittingroom.cli.serve translation ", "translation"),
    ("java -Xmx512m -cp /cache/kafka/libs/* kafka.Kafka /tmp/infra/kafka/server.properties ", "kafka"),
    ("/cache/bin/minio server /tmp/infra/minio/data --quiet ", "minio"),
    ("/usr/bin/python3 -m pytest ", None),
])
def test_a_process_is_named_by_its_role_in_the_stack(cmdline: str, role: str | None) -> None:
    assert _role(cmdline) == role


def test_the_meter_charges_this_process_cpu_to_the_bench_and_the_machine() -> None:
    meter = CpuMeter().start()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        sum(range(10_000))
    spent = meter.per_request(3)
    assert spent["cpu_ms_by_role"][BENCH] >= 0.25 * 1000 / 3
    assert spent["cpu_ms_per_request"] >= spent["cpu_ms_by_role"][BENCH] * 0.9

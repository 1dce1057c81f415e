# Entry points people type. Every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
FR := $(VENV)/bin/fittingroom
STAMP := $(VENV)/.installed
SAMPLES := shared/fittingroom/samples
OUT ?= out

.PHONY: venv demo test weights data bench bench-distributed bench-hop bench-curve bench-security bench-ddp chaos protos lock clean help \
	infra-up infra-down up down demo-distributed chart-lint observe observe-down \
	base-image images images-test

help:
	@echo "make demo       try-on of the bundled sample pair (embedded mode) -> $(OUT)/demo/"
	@echo "make test       the whole test suite (sets up the venv first)"
	@echo "make weights    retrain every starter model on synthetic data in one run (~1 h on 2 cores)"
	@echo "make data       write a synthetic DeepFashion2-format dataset to $(OUT)/synth"
	@echo "make bench      per-stage latency table + plot -> $(OUT)/bench/"
	@echo "make infra-up   local Kafka + MinIO (topics, buckets, starter models seeded); infra-down stops them"
	@echo "make up         the five services as local processes; down stops them"
	@echo "make demo-distributed  sample pair via gRPC TryOn and via Kafka -> $(OUT)/demo-distributed/"
	@echo "make bench-distributed embedded vs gRPC vs Kafka end-to-end latency and throughput"
	@echo "make bench-hop         one Kafka stage hop step by step (poll, marker, send, commit, next poll), no model -> $(OUT)/bench/"
	@echo "make bench-curve       latency by photo size (512² … 2048×1536) and throughput by clients (1 … 16), three paths -> $(OUT)/bench/"
	@echo "make bench-security    gRPC p50/p95 plaintext + anonymous vs TLS + mTLS + API key, one run, private stacks -> $(OUT)/bench/"
	@echo "make bench-memory      resident memory of each service process at start and after try-ons, private stack -> $(OUT)/bench/"
	@echo "make bench-batching    model images/s against batch size, fp32 and bf16, with bf16 parity -> $(OUT)/bench/"
	@echo "make bench-ddp         training images/s, one process against 2 torchrun ranks, 3 trainers -> $(OUT)/bench/"
	@echo "make chaos      1,000 try-ons through a private stack under kills, outages and poison -> $(OUT)/chaos/"
	@echo "make chart-lint helm lint --strict + helm template of the serving and training charts"
	@echo "make base-image the local Debian + Python 3.11 base image (debootstrap, podman import)"
	@echo "make images     every services/Dockerfile target with podman, tagged as the chart names them"
	@echo "make images-test run each image the way the chart runs it, against infra-up's Kafka and MinIO"
	@echo "make observe    Prometheus on :9090 scraping make up's services, the chart's alerts loaded; observe-down stops it"

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==26.3"
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(FR) tryon --person $(SAMPLES)/person.jpg --style $(SAMPLES)/style.jpg \
		--out $(OUT)/demo/tryon.png --sheet $(OUT)/demo/sheet.png

test: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

weights: $(STAMP)
	$(FR) models build-starter --work-dir $(OUT)/starter

data: $(STAMP)
	$(FR) data synth --out $(OUT)/synth --n 350

bench: $(STAMP)
	$(FR) bench stages --out-dir $(OUT)/bench

# Starts its own Kafka, MinIO and two stacks on free ports (plaintext + anonymous, TLS + mTLS + API key).
bench-security: $(STAMP)
	$(FR) bench security --out-dir $(OUT)/bench

# Model throughput against batch size, fp32 and bf16 (no servers); on a GPU node: shared/infra/device-bench.sh.
.PHONY: bench-batching
bench-batching: $(STAMP)
	$(FR) bench batching --out-dir $(OUT)/bench

bench-ddp: $(STAMP)
	bash shared/infra/bench-ddp.sh $(OUT)/bench 2

# Starts its own Kafka, MinIO and the five services on free ports.
.PHONY: bench-memory
bench-memory: $(STAMP)
	$(FR) bench memory --out-dir $(OUT)/bench

# Starts its own Kafka, MinIO and services on free ports; exits 1 if anything was lost or duplicated.
CHAOS_REQUESTS ?= 1000
chaos: $(STAMP)
	$(FR) chaos --requests $(CHAOS_REQUESTS) --out-dir $(OUT)/chaos --check

# Distributed mode on loopback: every target below reads the ports and keys that
# infra-up wrote to its env file.
INFRA_ENV = set -a; source "$${FITTINGROOM_INFRA_DIR:-/tmp/fittingroom-infra-$$(id -u)}/infra.env"; set +a

infra-up: $(STAMP)
	bash shared/infra/infra.sh up
	$(INFRA_ENV); $(FR) models seed

infra-down:
	bash shared/infra/infra.sh down

up: $(STAMP)
	$(INFRA_ENV); bash shared/infra/services.sh up

down:
	bash shared/infra/services.sh down

# What `make up` (services.sh) wrote for clients: the tenant 'local''s API key and, with TLS, the CA.
STACK_KEY = set -a; source "$${FITTINGROOM_STACK_DIR:-out/stack}/client.env"; set +a

demo-distributed: infra-up up
	$(INFRA_ENV); $(STACK_KEY); $(FR) client tryon --person $(SAMPLES)/person.jpg --style $(SAMPLES)/style.jpg \
		--out $(OUT)/demo-distributed/tryon-grpc.png
	$(INFRA_ENV); $(STACK_KEY); $(FR) client tryon --events --person $(SAMPLES)/person.jpg --style $(SAMPLES)/style.jpg \
		--out $(OUT)/demo-distributed/tryon-kafka.png

bench-distributed: infra-up up
	$(INFRA_ENV); $(STACK_KEY); $(FR) bench distributed --out-dir $(OUT)/bench

bench-hop: infra-up
	$(INFRA_ENV); $(FR) bench hop --out-dir $(OUT)/bench

bench-curve: infra-up up
	$(INFRA_ENV); $(STACK_KEY); $(FR) bench curve --out-dir $(OUT)/bench

# Prometheus (built once with go install) with the chart's rendered alert rules; the
# dashboard without Grafana: fittingroom dashboard snapshot --out $(OUT)/observe/dashboard.png
observe: infra-up up
	$(FR) observe up --work $(OUT)/observe

observe-down:
	$(FR) observe down --work $(OUT)/observe

chart-lint: $(STAMP)
	helm="$$(bash shared/infra/fetch-helm.sh)"; \
	ci=charts/fittingroom/ci/cluster-values.yaml; \
	$$helm lint --strict --kube-version 1.33.0 -f $$ci charts/fittingroom && \
	$$helm lint --strict --kube-version 1.33.0 -f $$ci -f charts/fittingroom/values-cpu.yaml charts/fittingroom && \
	mkdir -p $(OUT)/chart && $$helm template fittingroom charts/fittingroom --kube-version 1.33.0 -f $$ci > $(OUT)/chart/fittingroom.yaml && \
	$$helm lint --strict --kube-version 1.33.0 --set s3.existingSecret=training-s3 charts/fittingroom-training && \
	$$helm template train charts/fittingroom-training --kube-version 1.33.0 --set s3.existingSecret=training-s3 \
		> $(OUT)/chart/fittingroom-training.yaml

# Container images without a registry: podman (runtime runc) on a base made with
# debootstrap; torch from PyPI. Set FITTINGROOM_TORCH_VARIANT=cuda for the CUDA images.
base-image:
	bash shared/infra/base-image.sh

images:
	bash shared/infra/images.sh

# Also part of `make test` when podman is installed (tests/deployment/test_images.py).
images-test: images infra-up
	$(INFRA_ENV); $(VENV)/bin/pytest -q -s -p no:cacheprovider tests/deployment/test_chart_podman.py \
		tests/deployment/test_images.py

# Generated code lands in shared/fittingroom/v1 and is never edited by hand.
protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=shared --pyi_out=shared \
		--grpc_python_out=shared protos/fittingroom/v1/*.proto
	touch shared/fittingroom/v1/__init__.py

lock:
	$(PY) -m pip freeze --all --exclude-editable | grep -v '^fittingroom' > requirements.lock

clean:
	rm -rf $(OUT) .pytest_cache

# minikn: the two commands a new user needs are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,sklearn,xgboost,lightgbm,s3,plot,grpc,otel
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit integration images base-image bench clean grpc-proto

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff format --check minikn tests bench
	$(BIN)/ruff check minikn tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

# The whole gate: format, lint, layering, types, then every test (Docker ones included).
test: lint typecheck
	$(BIN)/pytest -q --cov --cov-report=term:skip-covered

# Serve the example sklearn ISVC on http://localhost:8080 (Ctrl-C to stop).
demo: $(STAMP)
	$(BIN)/minikn demo $(DEMO_ARGS)

# Regenerate the model server's gRPC modules from minikn/modelserver/grpc/grpc_predict_v2.proto.
grpc-proto: $(STAMP)
	PYTHON=$(BIN)/python scripts/gen-grpc.sh

base-image:
	scripts/build-base-image.sh

images: $(STAMP)
	$(BIN)/minikn images build

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache

# docker compose: example models, wheels and the model-server image on the host, then the platform.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
.PHONY: compose-up compose-down platform-image

# The compose platform's API token: random, made once, readable by you only (gitignored).
# `export $(cat .minikn-compose.env)` gives it to the CLI; a MINIKN_API_TOKEN already set wins.
COMPOSE_ENV := .minikn-compose.env
WITH_TOKEN := if [ -z "$$MINIKN_API_TOKEN" ] && [ -f $(COMPOSE_ENV) ]; then set -a; . ./$(COMPOSE_ENV); set +a; fi;

$(COMPOSE_ENV):
	umask 077 && echo "MINIKN_API_TOKEN=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))')" > $@

compose-up: $(STAMP) $(COMPOSE_ENV)
	$(BIN)/python config/examples/train.py
	PYTHON=$(BIN)/python scripts/build-platform-image.sh --wheels-only
	$(BIN)/minikn images build
	$(WITH_TOKEN) $(COMPOSE) up -d --build
	@echo 'The API wants its token: export $$(cat $(COMPOSE_ENV))   # then minikn get isvc'

compose-down:
	$(WITH_TOKEN) $(COMPOSE) down

platform-image: $(STAMP)
	PYTHON=$(BIN)/python scripts/build-platform-image.sh

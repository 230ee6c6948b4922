# Yihao: the two commands of the quick start are `make run` and `make test`.
# Everything installs into .venv from pinned versions (requirements.lock).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
PROTOS := $(wildcard protos/yihao/v1/*.proto)
GEN    := yihao/v1/common_pb2.py

.PHONY: install protos hot-path run test test-fast lint bench clean client-wheel

install: $(STAMP) $(GEN) hot-path

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock grpcio-tools
	$(MAKE) --no-print-directory protos
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

# Generated stubs live in ./yihao (not committed): one command regenerates them.
protos:
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --grpc_python_out=. \
		--pyi_out=. $(PROTOS)
	touch yihao/__init__.py yihao/v1/__init__.py

$(GEN): $(PROTOS) | $(STAMP)
	$(MAKE) --no-print-directory protos

# The verification hot path compiled with mypyc, in place, when a C compiler and the Python
# headers are present (YIHAO_PURE=1: pure Python, the compiled modules removed). Quick when the
# compiled modules are newer than their sources. See docs/benchmarks.md#compiled-hot-path.
hot-path: $(STAMP) $(GEN)
	$(BIN)/python packaging/hot_path.py build

# Start the whole suite on embedded defaults: SQLite under ./var, in-process cache,
# a generated development PKI and the demo catalogue; Prometheus metrics on 127.0.0.1:9464;
# the web desk on 127.0.0.1:8080 beside it, with demo staff accounts (printed) and the holder
# page's development sign-in (/me: a one-time code in the desk's log). Ctrl-C stops both.
run: install
	$(BIN)/yihao pki init
	$(BIN)/yihao catalogue load-demo
	YIHAO_WEB_DEV=1 $(BIN)/yihao web users demo
	YIHAO_WEB_DEV=1 YIHAO_ADDRESS=$${YIHAO_ADDRESS:-$${YIHAO_LISTEN:-127.0.0.1:50051}} $(BIN)/yihao web serve & \
	desk=$$!; trap 'kill $$desk 2>/dev/null; wait $$desk 2>/dev/null' EXIT INT TERM; \
	YIHAO_METRICS_LISTEN=$${YIHAO_METRICS_LISTEN:-127.0.0.1:9464} $(BIN)/yihao serve

# The whole test suite (PostgreSQL and Redis tests start their own servers), one worker per
# core up to four (pytest-xdist; each worker starts its own servers): 17.6 min in one process,
# 9.2 min in two on a slow 2-core host (docs/development.md).
test: install
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services clients yihao_shared

# The client distribution alone (clients/ + yihao_shared/ + generated stubs) into ./dist.
client-wheel: install
	$(BIN)/python packaging/yihao-client/build.py dist

bench: install
	$(BIN)/python -m benchmarks.all

clean:
	test ! -x $(BIN)/python || $(BIN)/python packaging/hot_path.py clean
	rm -rf $(VENV) yihao var build dist *.egg-info

# Parley: `make run` starts it, `make test` runs the whole suite. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
# uv is used as a module of the Python that runs make, installed with pip when missing.
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never
export HF_HUB_OFFLINE := 1

.PHONY: install run test lint format migrate clean

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed

run: install
	$(UV) run --frozen parley serve

migrate: install
	$(UV) run --frozen parley migrate

test: install
	$(UV) run --frozen pytest -n 2 --dist loadfile

lint: install
	$(UV) run --frozen ruff format --check src tests
	$(UV) run --frozen ruff check src tests
	$(UV) run --frozen mypy --strict src

format: install
	$(UV) run --frozen ruff format src tests
	$(UV) run --frozen ruff check --fix src tests

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache

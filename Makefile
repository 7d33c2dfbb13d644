# Parley: `make run` starts it, `make test` runs the whole suite. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
# uv is used as a module of the Python that runs make, installed with pip when missing.
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never
export HF_HUB_OFFLINE := 1

# The web app (web/) and its TypeScript SDK (sdk/typescript/) are built into the Python package.
WEB_BUILD := src/parley/web/static/index.html
WEB_SOURCES := $(shell find web sdk/typescript -type f \
	-not -path '*/node_modules/*' -not -path '*/dist/*' -not -name '*.tsbuildinfo' 2>/dev/null)

.PHONY: install run test test-python test-web lint format migrate web clean

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@# SAML single sign-on (pysaml2) checks XML signatures with Debian's xmlsec1.
	@command -v xmlsec1 >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null)
	@# deploy/: Debian's promtool checks and unit-tests the alert rules; Debian's nginx checks deploy/nginx
	@# and balances the three replicas of tests/replicas.
	@command -v promtool >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null)
	@command -v nginx >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)
	@# Debian's docker-compose validates and resolves deploy/compose.yaml (no container engine runs here).
	@command -v docker-compose >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null)
	@touch $@

install: .venv/.installed

# npm ci only when a lock file changed; a build only when a source changed. tests/identity/op is the OpenID
# Provider (npm oidc-provider) the single sign-on tests run; tests/conformance/node the Node OpenAI SDK the
# conformance tests run against a Parley.
node_modules/.installed: $(wildcard package.json package-lock.json web/package.json web/package-lock.json sdk/typescript/package.json sdk/typescript/package-lock.json tests/identity/op/package-lock.json tests/conformance/node/package-lock.json)
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
	else for dir in sdk/typescript web tests/identity/op; do \
	  if [ -f $$dir/package-lock.json ]; then (cd $$dir && npm ci --no-audit --no-fund) || exit 1; fi; done; fi
	@cd tests/conformance/node && npm ci --no-audit --no-fund
	@mkdir -p node_modules && touch $@

$(WEB_BUILD): node_modules/.installed $(WEB_SOURCES)
	@if [ -f web/package.json ]; then cd web && npm run build; else echo "no web/ yet"; fi

web: $(WEB_BUILD)

run: install web
	$(UV) run --frozen parley serve

migrate: install
	$(UV) run --frozen parley migrate

test: install web test-web test-python

test-web: node_modules/.installed
	@if [ -f sdk/typescript/package.json ]; then cd sdk/typescript && npm test; fi
	@if [ -f web/package.json ]; then cd web && npm test; fi

test-python: install
	$(UV) run --frozen pytest -n 2 --dist loadfile

lint: install
	$(UV) run --frozen ruff format --check src tests bench
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen mypy --strict src
	$(UV) run --frozen hadolint deploy/Dockerfile

format: install
	$(UV) run --frozen ruff format src tests bench
	$(UV) run --frozen ruff check --fix src tests bench

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache node_modules web/node_modules sdk/typescript/node_modules

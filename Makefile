# SPDX-License-Identifier: MIT
# lethe - the two commands a newcomer needs are `make run` and `make test`.
# Both install missing Debian packages first (scripts/deps): `make run` only
# what building and running need, `make test` also the test tools.

BUILD      ?= build
ASAN_BUILD ?= build-asan
# The app database (and state store) on PostgreSQL: make run DATABASE=postgresql://...
# [STATE=postgresql://...] (README, "The demo on PostgreSQL"); its demo goes to demo-pg/.
DATABASE   ?=
STATE      ?=
DEMO       ?= $(if $(strip $(DATABASE)),demo-pg,demo)
PYTHON     ?= /usr/bin/python3
LETHE      := $(BUILD)/lethe
SOURCES    := $(shell find src tests/unit tests/fuzz bench -name '*.[ch]' 2>/dev/null)

.PHONY: all deps deps-run build asan-build run demo check test unit e2e asan format format-check lint \
	bench clean

all: build

# Packages to build and run (run), and to test (test): see scripts/deps.
deps:
	@scripts/deps run test

deps-run:
	@scripts/deps run

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true --buildtype=debugoptimized >/dev/null

build: deps-run $(BUILD)/build.ninja
	@ninja -C $(BUILD) >$(BUILD)/ninja.log 2>&1 || { cat $(BUILD)/ninja.log; exit 1; }

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null

asan-build: deps $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) >$(ASAN_BUILD)/ninja.log 2>&1 || { cat $(ASAN_BUILD)/ninja.log; exit 1; }

# The demo app: database, media files, data map and configuration under ./demo.
demo: build
	@if [ -n "$(DATABASE)" ]; then \
		[ -f $(DEMO)/lethe.yaml ] || $(LETHE) demo --dir $(DEMO) --users 50 \
			--database '$(DATABASE)' $(if $(STATE),--state '$(STATE)'); \
	elif [ ! -f $(DEMO)/app.db ]; then \
		$(LETHE) demo --dir $(DEMO) --users 50 $(if $(STATE),--state '$(STATE)'); fi

# Demo secrets for the Meta callbacks; set real ones in the environment to override.
LETHE_FACEBOOK_APP_SECRET ?= demo-facebook-secret
LETHE_INSTAGRAM_APP_SECRET ?= demo-instagram-secret
LISTEN ?= 127.0.0.1:8080
export LETHE_FACEBOOK_APP_SECRET LETHE_INSTAGRAM_APP_SECRET

# The demo with its platform simulator (loopback): scripts/run-demo prints what to
# try once lethe listens, and stops both at Ctrl-C.  EXAMPLE=<company> runs one of
# examples/ instead (its own demo in var/examples/<company>; examples/README.md);
# an unknown name lists them.
EXAMPLE    ?=
run: $(if $(strip $(EXAMPLE)),build,demo)
	@exec $(PYTHON) scripts/run-demo --lethe $(LETHE) --listen $(LISTEN) \
		$(if $(strip $(EXAMPLE)),--example '$(EXAMPLE)',--config $(DEMO)/lethe.yaml) \
		$(if $(strip $(DATABASE)),--database '$(DATABASE)')

unit: build
	meson test -C $(BUILD) --print-errorlogs

# The S3-compatible server the media tests run against (s3rver, tests/s3/package-lock.json):
# npm ci only when the lock is newer than the installed packages.
.PHONY: s3-deps
s3-deps:
	@cd tests/s3 && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
		npm ci --no-audit --no-fund --loglevel=error; }

# The e2e tests run in E2E_JOBS pytest-xdist workers (default: twice the cores; most
# of a test's time is spent waiting on lethe, a server or a deadline, not computing),
# one test module per worker at a time (--dist loadfile: a module's demo template and
# its order stay as they were). Each worker has its own session fixtures (its own
# PostgreSQL server, s3rver, temp dirs); every port is a free one. E2E_JOBS=0: one process.
E2E_JOBS   ?= $(shell echo $$(( $$(nproc) * 2 )))
PYTEST_E2E  = $(PYTHON) -m pytest -q -n $(E2E_JOBS) --dist loadfile tests/e2e

e2e: deps build s3-deps
	LETHE_BIN=$(abspath $(LETHE)) $(PYTEST_E2E)

# The self-service page in Debian's Chromium, driven by playwright-core (tests/browser/
# README.md): npm installs the locked packages, never a browser; at most 10 minutes.
.PHONY: browser
BROWSER_TESTS = $(notdir $(wildcard tests/browser/*.test.mjs))
browser: deps build
	@cd tests/browser && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error; }
	cd tests/browser && LETHE_BIN=$(abspath $(LETHE)) PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
		timeout 600 node --test --test-concurrency=1 --test-timeout=180000 $(BROWSER_TESTS)

# Unit and e2e tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: asan-build s3-deps
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LETHE_BIN=$(abspath $(ASAN_BUILD))/lethe LETHE_SANITIZED=1 $(PYTEST_E2E)

format:
	clang-format -i $(SOURCES)

format-check: deps
	@clang-format --dry-run --Werror $(SOURCES)
	@echo "clang-format: ok"

# Functions our style bans (see docs/internals/util.md); the poison pragma also catches them.
# And no #include pointing up a layer (scripts/check-layers, docs/internals/architecture.md).
lint:
	@! grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|gets|atoi|atol|strtok)\s*\(' \
		src --include='*.c' --include='*.h' | grep -v poison || \
		(echo "banned function used" >&2; exit 1)
	@scripts/check-layers
	@echo "lint: ok"

# The fast tier for day-to-day work: no sanitizer builds, no fuzzers.
check: deps lint format-check unit e2e

# The full suite CI runs (.ci/run): the fast tier, then ASan + UBSan and the fuzzers.
test: deps lint format-check unit e2e browser asan fuzz

# libFuzzer targets (tests/fuzz/) under ASan + UBSan, FUZZ_SECONDS each, FUZZ_JOBS of
# them at a time (default: one per core, so each still has a core for its seconds).
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= $(shell nproc)
.PHONY: fuzz
fuzz: deps build
	FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run $(FUZZ_SECONDS)

bench: build s3-deps
	@scripts/deps bench
	bench/erase
	bench/callbacks
	bench/disconnect
	bench/sweep
	bench/requests
	bench/selfservice
	bench/proof
	bench/audit
	bench/export
	bench/media

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

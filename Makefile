# SPDX-License-Identifier: MIT
# lethe - the two commands a newcomer needs are `make run` and `make test`.
# Both install missing Debian packages first (scripts/deps).

BUILD      ?= build
ASAN_BUILD ?= build-asan
DEMO       ?= demo
PYTHON     ?= /usr/bin/python3
LETHE      := $(BUILD)/lethe
SOURCES    := $(shell find src tests/unit bench -name '*.[ch]' 2>/dev/null)

.PHONY: all deps build asan-build run demo test unit e2e asan format format-check lint bench clean

all: build

deps:
	@scripts/deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true --buildtype=debugoptimized >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null

asan-build: deps $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) >/dev/null

# The demo app: database, media files, data map and configuration under ./demo.
demo: build
	@if [ ! -f $(DEMO)/app.db ]; then $(LETHE) demo --dir $(DEMO) --users 50; fi

run: demo
	@echo
	@echo "== The plan for erasing demo user user1@example.com (nothing is changed yet):"
	@$(LETHE) plan -c $(DEMO)/lethe.yaml --scope account --id email=user1@example.com
	@echo
	@echo "== What to try next:"
	@echo "  $(LETHE) plan  -c $(DEMO)/lethe.yaml --scope meta --id instagram_user_id=17841000000101   # user1's Instagram account"
	@echo "  $(LETHE) erase -c $(DEMO)/lethe.yaml --scope account --id email=user1@example.com"
	@echo "  $(LETHE) erase --help"
	@echo "  (rm -rf $(DEMO) to start over)"

unit: build
	meson test -C $(BUILD) --print-errorlogs

e2e: build
	LETHE_BIN=$(abspath $(LETHE)) $(PYTHON) -m pytest -q tests/e2e

# Unit and e2e tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: asan-build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LETHE_BIN=$(abspath $(ASAN_BUILD))/lethe LETHE_SANITIZED=1 $(PYTHON) -m pytest -q tests/e2e

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES)
	@echo "clang-format: ok"

# Functions our style bans (see docs/internals/util.md); the poison pragma also catches them.
lint:
	@! grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|gets|atoi|atol|strtok)\s*\(' \
		src --include='*.c' --include='*.h' | grep -v poison || \
		(echo "banned function used" >&2; exit 1)
	@echo "lint: ok"

test: deps lint format-check unit e2e asan

bench: build
	bench/erase

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

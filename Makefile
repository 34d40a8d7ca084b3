# SPDX-License-Identifier: MIT
# lethe - the two commands a newcomer needs are `make run` and `make test`.
# Both install missing Debian packages first (scripts/deps).

BUILD      ?= build
ASAN_BUILD ?= build-asan
DEMO       ?= demo
PYTHON     ?= /usr/bin/python3
LETHE      := $(BUILD)/lethe
SOURCES    := $(shell find src tests/unit tests/fuzz bench -name '*.[ch]' 2>/dev/null)

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

# Demo secrets for the Meta callbacks; set real ones in the environment to override.
LETHE_FACEBOOK_APP_SECRET ?= demo-facebook-secret
LETHE_INSTAGRAM_APP_SECRET ?= demo-instagram-secret
LISTEN ?= 127.0.0.1:8080
export LETHE_FACEBOOK_APP_SECRET LETHE_INSTAGRAM_APP_SECRET

run: demo
	@case "$(LETHE_FACEBOOK_APP_SECRET)$(LETHE_INSTAGRAM_APP_SECRET)" in *demo-*) \
		echo "warning: using demo Meta app secrets (set LETHE_FACEBOOK_APP_SECRET and LETHE_INSTAGRAM_APP_SECRET)";; esac
	@echo
	@echo "== lethe serves the demo at http://$(LISTEN)  (Ctrl-C stops it; work in flight resumes at the next start)"
	@echo "== Try, in another terminal (a Meta data-deletion request for demo user1's Instagram account):"
	@echo "  SR=\$$(LETHE_INSTAGRAM_APP_SECRET=$(LETHE_INSTAGRAM_APP_SECRET) $(LETHE) sign-request --secret-env LETHE_INSTAGRAM_APP_SECRET --user-id 17841000000101)"
	@echo "  curl -s -X POST -d \"signed_request=\$$SR\" http://$(LISTEN)/api/meta/instagram/data-deletion"
	@echo "  # then open the url it answers with; also: curl http://$(LISTEN)/metrics"
	@echo "== Or erase from the command line:"
	@echo "  $(LETHE) plan  -c $(DEMO)/lethe.yaml --scope account --id email=user1@example.com"
	@echo "  $(LETHE) erase -c $(DEMO)/lethe.yaml --scope account --id email=user1@example.com"
	@echo "  (rm -rf $(DEMO) to start over)"
	@echo
	@exec $(LETHE) serve -c $(DEMO)/lethe.yaml --listen $(LISTEN)

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

test: deps lint format-check unit e2e asan fuzz

# libFuzzer targets (tests/fuzz/) under ASan + UBSan, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: build
	tests/fuzz/run $(FUZZ_SECONDS)

bench: build
	@scripts/deps bench
	bench/erase
	bench/callbacks
	bench/disconnect
	bench/sweep

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

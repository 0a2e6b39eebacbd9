# Switchyard — two commands do everything on a fresh Debian machine:
#   make demo   installs what is missing, builds, runs the proxy with two demo backends
#   make test   installs what is missing, builds, runs every test
SHELL := /bin/bash
SWIFT ?= swift
BUILD_DIR := .build
# Debian packages: to build (OpenSSL, nghttp2 through pkg-config) and for the tests' clients.
BUILD_PACKAGES := pkg-config libssl-dev libnghttp2-dev zlib1g-dev
TEST_PACKAGES := curl socat openssl strace nghttp2-client util-linux chromium prometheus systemd lintian man-db wrk binutils logrotate etcd-server etcd-client
BENCH_PACKAGES := haproxy nginx wrk nghttp2-client

.PHONY: demo test build release deps test-deps bench-deps install-cli clean bench deb

# Installs missing Debian packages when run as root, or prints the exact command.
define ensure_packages
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing"; \
			echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi
endef

deps:
	$(call ensure_packages,$(BUILD_PACKAGES))

test-deps: deps
	$(call ensure_packages,$(TEST_PACKAGES))

bench-deps: deps
	$(call ensure_packages,$(BENCH_PACKAGES))

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The Debian package (dist/make-deb): release binary, systemd unit, sysusers, example routes
# file (a conffile), logrotate, man page and completions generated from the argument parser.
DEB_PACKAGES := binutils
deb: deps
	$(call ensure_packages,$(DEB_PACKAGES))
	$(SWIFT) build -c release --static-swift-stdlib --product switchyard
	dist/make-deb $(BUILD_DIR)/deb

# `switchyard` on the PATH, so a second terminal can type `switchyard status`.
install-cli: build
	@if [ "$$(id -u)" = 0 ]; then \
		ln -sf "$(CURDIR)/$(BUILD_DIR)/debug/switchyard" /usr/local/bin/switchyard; \
		echo "switchyard is on your PATH (/usr/local/bin/switchyard → $(BUILD_DIR)/debug/switchyard)"; \
	else \
		echo "to type 'switchyard' in another terminal: export PATH=\"$(CURDIR)/$(BUILD_DIR)/debug:\$$PATH\""; \
	fi

demo: install-cli
	$(BUILD_DIR)/debug/switchyard demo

# `deb` first: the package tests install what `make deb` built from this commit.
test: test-deps build deb
	$(SWIFT) test 2>&1 | tee $(BUILD_DIR)/test.log; exit $${PIPESTATUS[0]}
	$(MAKE) bench-smoke

# One short round of each bench script, so they cannot rot (the debug binary is enough
# to prove they run; figures come from `make bench` on a release build).
.PHONY: bench-smoke
bench-smoke: bench-deps build
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/compare --smoke
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/idle --smoke
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/flip --smoke
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/slowloris --smoke
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/h2 --smoke
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/h2 --smoke --h1
	SWITCHYARD_BIN=$(CURDIR)/$(BUILD_DIR)/debug/switchyard bench/mirror --smoke

bench: bench-deps
	bench/compare
	bench/h2
	bench/micro/run

clean:
	rm -rf $(BUILD_DIR)

# libFuzzer + ASan harnesses (Tests/Fuzz), built with swiftc: SwiftPM cannot link them.
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD_DIR)/fuzz
FUZZ_FLAGS := -sanitize=fuzzer,address -parse-as-library -O -g
# swiftc with its "Cannot export local symbol" notes (one per static library) left out, and
# its own exit status kept: a harness that does not build stops `make fuzz`.
FUZZ_SWIFTC = sh -c 'out=$$(swiftc "$$@" 2>&1); rc=$$?; printf "%s\n" "$$out" | grep -v "Cannot export local symbol"; exit $$rc' swiftc
# SwitchyardHTTP is built without HTTP2/ (the wrapper around nghttp2, whose frame parsing
# nghttp2's own project fuzzes; our use of it is what the HTTP/2 attack tests check): the
# harnesses need the HTTP/1.1 parsers only.
.PHONY: fuzz fuzz-build
fuzz-build:
	@mkdir -p $(FUZZ_DIR)/artifacts
	$(FUZZ_SWIFTC) $(FUZZ_FLAGS) -module-name SwitchyardHTTP Sources/SwitchyardHTTP/*.swift -emit-module -emit-library -static -o $(FUZZ_DIR)/libSwitchyardHTTP.a -emit-module-path $(FUZZ_DIR)/SwitchyardHTTP.swiftmodule
	$(FUZZ_SWIFTC) $(FUZZ_FLAGS) -module-name SwitchyardRouting $$(find Sources/SwitchyardRouting -name '*.swift' | sort) -emit-module -emit-library -static -o $(FUZZ_DIR)/libSwitchyardRouting.a -emit-module-path $(FUZZ_DIR)/SwitchyardRouting.swiftmodule
	for h in request response; do \
		$(FUZZ_SWIFTC) $(FUZZ_FLAGS) -I $(FUZZ_DIR) Tests/Fuzz/$$h.swift $(FUZZ_DIR)/libSwitchyardHTTP.a -o $(FUZZ_DIR)/$$h || exit 1; done
	$(FUZZ_SWIFTC) $(FUZZ_FLAGS) -I $(FUZZ_DIR) Tests/Fuzz/chunked.swift Tests/SwitchyardTestSupport/ChunkedFeed.swift $(FUZZ_DIR)/libSwitchyardHTTP.a -o $(FUZZ_DIR)/chunked
	$(FUZZ_SWIFTC) $(FUZZ_FLAGS) -I $(FUZZ_DIR) Tests/Fuzz/routes.swift $(FUZZ_DIR)/libSwitchyardRouting.a -o $(FUZZ_DIR)/routes

# Fails when a harness left a crash, leak or timeout in $(FUZZ_DIR)/artifacts (from this run
# or an earlier one: read it, fix the parser, then delete it).
fuzz: fuzz-build
	@for h in request response chunked routes; do \
		mkdir -p $(FUZZ_DIR)/found/$$h; \
		echo "== $$h: $(FUZZ_SECONDS) s"; \
		$(FUZZ_DIR)/$$h -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$h- \
			$(FUZZ_DIR)/found/$$h Tests/Fuzz/corpus/$$h 2>&1 | grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs|ERROR|SUMMARY|crash-" ; \
		$(FUZZ_DIR)/$$h -merge=1 Tests/Fuzz/corpus/$$h $(FUZZ_DIR)/found/$$h >/dev/null 2>&1; \
	done; \
	if [ -n "$$(ls -A $(FUZZ_DIR)/artifacts)" ]; then echo "make fuzz: findings in $(FUZZ_DIR)/artifacts:"; ls $(FUZZ_DIR)/artifacts; exit 1; fi

# ThreadSanitizer over the integration tests (a separate build folder: it shares nothing
# with the normal build). Fails on a test failure or on any ThreadSanitizer report: all
# reports are collected (halt_on_error=0) and counted at the end. Process tests find the
# `switchyard` executable next to the test bundle, so they run this build's TSan binary.
# DebianPackageTests are left out: they check the package `make deb` builds from the release
# binary (lintian, dpkg), nothing this build's threads do.
.PHONY: tsan
tsan: test-deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	@set -o pipefail; \
	TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0" $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan \
		--filter "SwitchyardProxyTests|SwitchyardAdminTests" --skip DebianPackageTests 2>&1 | tee .build-tsan/tsan.log; \
	status=$$?; \
	reports=$$(grep -c "WARNING: ThreadSanitizer" .build-tsan/tsan.log); \
	echo "make tsan: test exit status $$status, $$reports ThreadSanitizer report(s) (log: .build-tsan/tsan.log)"; \
	[ "$$status" -eq 0 ] && [ "$$reports" -eq 0 ]

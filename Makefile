# Switchyard — two commands do everything on a fresh Debian machine:
#   make demo   installs what is missing, builds, runs the proxy with two demo backends
#   make test   installs what is missing, builds, runs every test
SHELL := /bin/bash
SWIFT ?= swift
BUILD_DIR := .build
# Debian packages: to build (OpenSSL, nghttp2 through pkg-config) and for the tests' clients.
BUILD_PACKAGES := pkg-config libssl-dev libnghttp2-dev
TEST_PACKAGES := curl socat
BENCH_PACKAGES := haproxy nginx wrk nghttp2-client

.PHONY: demo test build release deps test-deps bench-deps install-cli clean bench

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

test: test-deps build
	$(SWIFT) test 2>&1 | tee $(BUILD_DIR)/test.log; exit $${PIPESTATUS[0]}

bench: bench-deps
	bench/compare

clean:
	rm -rf $(BUILD_DIR)

# WebRTC Gateway. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Go toolchain every target uses: the newest patch release of the go.mod
# version (the go command fetches it through the module proxy on first use).
# `make GOTOOLCHAIN=local ...` uses the installed Go instead.
export GOTOOLCHAIN := go1.26.10

GO       ?= go
BASE     := $(shell sed -n 's/^const Base = "\(.*\)"/\1/p' version/version.go)
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
VERSION  ?= $(BASE)-dev.$(COMMIT)
LDFLAGS  := -X webrtcgw/version.Version=$(VERSION)
BINARIES := webrtc-gateway confserv lca gwctl
FUZZTIME ?= 30s
BENCHTIME ?= 3s

.PHONY: help deps build run test bench soak lint generate check fuzz clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## install what builds and tests need (Debian test peers when root; Go modules)
	@scripts/install-deps

build: ## build the binaries into bin/
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINARIES))

run: deps build ## run the local demo: the gateway on var/webrtc-gateway.ini and a demo SIP Server
	@scripts/run

test: deps ## run every test with the race detector (E2E_REQUIRED=1: a missing test peer fails)
	$(GO) test -race ./...

bench: deps ## run every benchmark (BENCHTIME each, default 3s; method and results in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

soak: deps build ## run the soak harness: calls while options change every second, for SOAK_DURATION (default 5m; SOAK_FLAGS adds flags)
	$(GO) run ./internal/soak -bin bin -duration $(or $(SOAK_DURATION),5m) $(SOAK_FLAGS)

lint: ## gofmt, go vet, staticcheck, govulncheck
	@scripts/lint

generate: ## regenerate the files derived from the option catalog
	$(GO) generate ./...

check: generate ## generate, then fail on a stale generated file; lint; test
	@git diff --exit-code -- docs packaging templates || { echo "check: generated files were stale; commit them"; exit 1; }
	@$(MAKE) --no-print-directory lint test

fuzz: ## run every fuzz test for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$f"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

clean: ## remove build output (keeps var/, the local run's state)
	rm -rf bin dist

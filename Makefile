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
FUZZMINIMIZETIME ?= 10s
FUZZPKGS ?= ./...
BENCHTIME ?= 3s

.PHONY: help deps build run test bench soak lint generate check fuzz rpm deb clean

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

# Fuzzing. Every func FuzzX in a package's *_test.go (most live in
# fuzz_test.go) fuzzes a parser of outside input: ROAP/RSMP messages
# (gateway/calls), SDP from the browser and from SIP (gateway/media), the
# sign-in handler (gateway/web), SIP datagrams and streams at a running UA
# with a DN registered at Kamailio, sipgo's parser and the DN and header
# validators (gateway/sipua), the LCA protocol and first message
# (lca/wire, lca/agent), the Configuration Server's write bodies
# (confserv/server), option values and INI files (options).
#
#   make fuzz                          every target, FUZZTIME (30s) each
#   make fuzz FUZZPKGS=./gateway/sipua the targets of some packages
#   go test ./gateway/media -run '^$' -fuzz '^FuzzBrowserSDP$' -fuzztime 5m
#
# CI runs `make fuzz FUZZTIME=10s FUZZMINIMIZETIME=1s` after make test.
# Seeds are the table cases and real captures (Chromium's offer and answer,
# grtc's messages, sipp's messages, RFC 4475's torture messages) under each
# package's testdata/fuzz; without -fuzz, `go test` runs them as unit tests.
# What a run finds goes to testdata/fuzz/FuzzX/<id>: reproduce it with
# `go test ./pkg -run 'FuzzX/<id>'`, fix the code, and commit the file with
# the fix as a regression. The inputs a run found interesting stay in
# $(go env GOCACHE)/fuzz, so later local runs start from them.
# FUZZMINIMIZETIME bounds the minimisation of each new input: minimising a
# large one would otherwise take most of a short run.
#
# Go 1.26's fuzz coordinator may end a run that found nothing with a bare
# "context deadline exceeded" failure at the end of FUZZTIME
# (golang/go#75804, fixed in Go 1.27): such a run is reported and passed;
# any other failure, and every run that wrote a failing input, fails.
fuzz: ## run every fuzz target for FUZZTIME each (default 30s; FUZZPKGS narrows)
	@set -o pipefail; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	$(GO) list -f '{{.ImportPath}} {{.Dir}}' $(FUZZPKGS) | while read -r pkg dir; do \
		for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$dir"/*_test.go 2>/dev/null); do \
			echo "fuzz: $$pkg $$f"; \
			$(GO) test "$$pkg" -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) 2>&1 | tee "$$out" && continue; \
			if grep -q 'Failing input written to' "$$out" || ! grep -qx '    context deadline exceeded' "$$out"; then exit 1; fi; \
			echo "fuzz: $$pkg $$f: no failing input; the deadline failure is golang/go#75804, not this target"; \
		done; \
	done

# Packages: webrtc-gateway, webrtc-gateway-confserv and webrtc-gateway-lca,
# from the one definition in internal/pkgbuild (packaging/README.md). The
# program compiles the binaries itself (no cgo, PIE, -trimpath, VERSION in
# -ldflags) and maps VERSION to the package version (0.1.0-dev.COMMIT is
# 0.1.0~dev.COMMITTIME.gCOMMIT-1). PKG_RELEASE numbers a repackaging of the
# same VERSION. nfpm comes through the module proxy.
PKG_RELEASE ?= 1

rpm: ## build the RPM packages into dist/ (packaging/README.md)
	$(GO) run ./internal/pkgbuild -format rpm -version $(VERSION) -release $(PKG_RELEASE) -out dist

deb: ## build the deb packages into dist/ (packaging/README.md)
	$(GO) run ./internal/pkgbuild -format deb -version $(VERSION) -release $(PKG_RELEASE) -out dist

clean: ## remove build output (keeps var/, the local run's state)
	rm -rf bin dist

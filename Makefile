# Make targets (CONVENTIONS §10). `make test` is the one command that runs every test;
# .ci/run calls exactly it.
GO ?= go
GOLANGCI_LINT_VERSION := v2.15.0
PKGS := ./...

.PHONY: all build test test-short vet tidy tidy-check fmt lint bench bench-e2e fuzz rabbitmq redis

all: build

# VERSION stamps the binaries (-version, the User-Agent, the registration); without it they
# report the module version Go recorded, or "dev".
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/ ./cmd/...

rabbitmq:
	@./scripts/ensure-rabbitmq.sh

redis:
	@./scripts/ensure-redis.sh

vet:
	$(GO) vet $(PKGS)

tidy-check:
	$(GO) mod tidy -diff

## test: vet, module drift check, then every unit and integration test with the race detector.
test: rabbitmq redis vet tidy-check
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## test-short: unit tests only (integration tests skip under -short).
test-short:
	$(GO) test -race -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-e2e: the end-to-end benchmarks (real RabbitMQ): each connector and a no-logic baseline
## connector making the same protocol calls, run one after the other in the same benchmark; prints
## req/s (wall for the import), CPU per request (per message for the import) and peak RSS of both,
## and each as a ratio to the baseline (the *-x-baseline metrics; docs/performance.md).
## BENCH_REQUESTS=100 for a quick run, BENCH_PROFILE=<dir> writes the connectors' CPU profiles.
bench-e2e: rabbitmq
	$(GO) test -run '^$$' -bench 'E2E' -benchtime=1x -timeout 30m ./cmd/riskiq-passive-total/ ./cmd/riskiq-import/

## fuzz: run every fuzz target, one after the other, each for FUZZTIME (e.g. make fuzz FUZZTIME=1m;
## FUZZ=Envelope selects targets by name). New failing inputs land in the package's testdata/fuzz/.
FUZZTIME ?= 10s
fuzz:
	@GO="$(GO)" FUZZTIME="$(FUZZTIME)" FUZZ="$(FUZZ)" ./scripts/fuzz.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

lint:
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run $(PKGS)

.PHONY: demo

## demo: build riskiqctl, start its PassiveTotal simulator on a free loopback port, run a lookup
## and an import from it into ./out, print a summary and stop the simulator (needs only Go).
demo:
	@GO="$(GO)" ./scripts/demo.sh

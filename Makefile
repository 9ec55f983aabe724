# shaper: make help lists the targets.
SHELL    := /bin/bash
GO       ?= go
export PATH := /usr/local/go/bin:$(PATH)
BIN      := bin/shaper
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# Privileged and traffic tests must not share the machine's two cores with
# each other: packages run one at a time.
TESTFLAGS ?= -count=1 -p 1 -timeout 40m

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install every apt package and Go tool the build and tests need (idempotent)
	@scripts/deps.sh

.PHONY: generate
generate: ## Rebuild the BPF objects and Go bindings (bpf2go)
	$(GO) generate ./bpf/...

.PHONY: generate-check
generate-check: generate ## Fail when regenerating the BPF bindings changes anything
	@git diff --exit-code -- bpf/ || { echo "make generate changed bpf/: commit the regenerated files" >&2; exit 1; }

.PHONY: build
build: ## Build bin/shaper
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/shaper

.PHONY: test
test: deps build ## Run all tests (privileged ones need root)
	$(GO) test $(TESTFLAGS) ./...

.PHONY: test-vm
test-vm: deps ## Run the privileged tests in qemu on Debian 12's 6.1 kernel (no TCX); a few minutes
	@scripts/vm/deps.sh
	@scripts/vm/test.sh

.PHONY: bench
bench: deps build ## Run the benchmarks and print their tables (root)
	@scripts/bench.sh

.PHONY: demo
demo: deps build ## Build, bring up a lab, apply examples/policy.yaml, run traffic, show status and the per-app report
	@scripts/demo.sh

.PHONY: demo-down
demo-down: build ## Remove what make demo left up (its policy and its lab)
	bin/shaper delete --netns shaper-demo-client
	bin/shaper lab down shaper-demo
	rm -rf /tmp/shaper-demo /tmp/shaper-demo.serve.log

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: clean
clean: ## Remove build output
	rm -rf bin

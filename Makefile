# Clickstream — every target needs only Go (and the PostgreSQL server
# binaries for dev and test). Tools are pinned in tools/go.mod.

GO   ?= go
TOOL := $(GO) tool -modfile=tools/go.mod
BUF  := $(TOOL) buf

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: dev
dev: ## Run the whole platform: PostgreSQL, NATS JetStream, registry, ingest, awards
	$(GO) run ./cmd/clickstream dev

# The slow process-level suites run verbosely so the figures they check
# (events sent, on EVENTS, in DEADLETTER, ...) show in the output.
SLOW_SUITES := ./e2e/faults/ ./e2e/cluster/ ./docs/

.PHONY: cluster
cluster: ## Run the platform as in production on loopback: 3 NATS nodes, PostgreSQL primary + replica, 2 ingest, 2 awards
	$(GO) run ./cmd/clickstream dev --cluster

.PHONY: test
test: ## Run every test against real PostgreSQL and NATS JetStream
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -x -e '.*/e2e/faults' -e '.*/e2e/cluster' -e '.*/docs')
	$(GO) test -count=1 -v $(SLOW_SUITES)

.PHONY: faults
faults: ## Run the process-level fault tests only (SIGKILL mid-load, PostgreSQL down, awards under load)
	$(GO) test -count=1 -v ./e2e/faults/

.PHONY: cluster-test
cluster-test: ## Run the cluster tests only (3-node JetStream, leader failover, several instances)
	$(GO) test -count=1 -v ./e2e/cluster/

.PHONY: e2e
e2e: ## Run every end-to-end test (platform, faults, cluster, browser)
	$(GO) test -count=1 -v ./e2e/...

.PHONY: test-short
test-short: ## Run the fast tests only (-short skips those that start servers)
	$(GO) test -short ./...

.PHONY: lint
lint: ## buf lint, gofmt, go vet and the event version lock
	$(BUF) lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./cmd/clickstream schema check

TS_RUNTIME := services/registry/langpack/runtime/typescript

.PHONY: generate
generate: ## Regenerate gen/ from proto/, the console's web/dist and the TypeScript langpack runtime (deterministic; all committed)
	rm -rf gen/go gen/openapi/*.json
	$(BUF) generate
	# The console: REST types from gen/openapi, then the bundle (npm packages pinned in web/package-lock.json).
	test -x web/node_modules/.bin/esbuild || npm ci --prefix web --no-audit --no-fund
	npm run --prefix web --silent build
	# The TypeScript langpack's runtime: ES modules, declarations and source maps embedded by the registry (which has no Node).
	test -x tools/npm/node_modules/.bin/tsc || npm ci --prefix tools/npm --no-audit --no-fund
	rm -rf $(TS_RUNTIME)/dist
	tools/npm/node_modules/.bin/tsc -p $(TS_RUNTIME)

.PHONY: check-generate
check-generate: generate ## Fail when gen/, web/dist or the TypeScript langpack runtime is not what make generate writes
	@git diff --exit-code --stat -- gen || { echo "gen/ is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen)" || { git status --porcelain -- gen; echo "gen/ has untracked or changed files: run make generate and commit"; exit 1; }
	@git diff --exit-code --stat -- web/dist web/src/api.gen.ts || { echo "web/dist is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- web/dist web/src/api.gen.ts)" || { git status --porcelain -- web/dist web/src/api.gen.ts; echo "web/dist has untracked or changed files: run make generate and commit"; exit 1; }
	@git diff --exit-code --stat -- $(TS_RUNTIME)/dist || { echo "$(TS_RUNTIME)/dist is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- $(TS_RUNTIME)/dist)" || { git status --porcelain -- $(TS_RUNTIME)/dist; echo "$(TS_RUNTIME)/dist has untracked or changed files: run make generate and commit"; exit 1; }

.PHONY: bench
bench: ## Run the benchmarks (each prints ratios against a baseline from the same run)
	$(GO) test -run='^$$' -bench=. -benchmem $$($(GO) list ./... | grep -v /services/awards$$)
	# awards seeds 10 M rows once per run: a fixed count instead of b.N probing
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=20x -timeout=30m ./services/awards/

.PHONY: build
build: ## Build bin/clickstream
	$(GO) build -o bin/clickstream ./cmd/clickstream

# Faultline — see README.md.
GO       ?= go
BIN      ?= bin/faultline
DEMO_DIR ?= demo-data
PKGS     := ./...

.PHONY: all build test test-short bench bench-scale lint gofmt-check fmt demo quality quality-loop quality-truth fuzz clean

all: build

build: ## build bin/faultline
	$(GO) build -o $(BIN) ./cmd/faultline

test: gofmt-check ## all tests (installs missing PostgreSQL/Prometheus when root; starts throwaway servers); fails on unformatted Go files
	./scripts/install-deps.sh
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)

test-short: ## unit tests that need no database
	$(GO) test -short -count=1 $(PKGS)

bench: ## benchmarks with their same-run references (psql \copy, COPY TO, XGBoost)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m $(PKGS)

bench-scale: build ## nightly job at 100k and 1M deploys: time, CPU, peak memory per stage, disk (long; not part of test; ~30 GB in $(SCALE_DIR) or scale-data)
	./scripts/bench-scale.sh $(BIN) $(or $(SCALE_DIR),scale-data)

fuzz: ## a short fuzzing session on every parser (FUZZTIME each, default 20s)
	./scripts/fuzz.sh $(or $(FUZZTIME),20s)

lint: gofmt-check ## gofmt, go vet
	$(GO) vet $(PKGS)

gofmt-check: ## fail listing the Go files gofmt would change (make fmt formats them)
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting (make fmt)" && exit 1)

fmt:
	gofmt -w .

demo: build ## simulate a fleet into an embedded store and run the whole pipeline on it
	./scripts/demo.sh $(BIN) $(DEMO_DIR)

quality: build ## detection-quality benchmark: every simulator regime and the independent generator's (alt-*) × 2 seeds, writes docs/quality.md (not part of test)
	$(BIN) --log-format text quality --workdir $(DEMO_DIR)/quality --out docs/quality.md $(QUALITY_FLAGS)

quality-loop: build ## the same with the annotation loop (30 rows of annotate.csv per fleet labelled from truth, then a second run), writes docs/quality-loop.md (not part of test)
	$(BIN) --log-format text quality --annotate 30 --workdir $(DEMO_DIR)/quality --out docs/quality-loop.md $(QUALITY_FLAGS)

quality-truth: build ## the same with a second run per fleet trained on the truth of every deploy: what perfect labels would give; writes docs/quality-truth.md (not part of test)
	$(BIN) --log-format text quality --truth-labels --workdir $(DEMO_DIR)/quality --out docs/quality-truth.md $(QUALITY_FLAGS)

clean:
	rm -rf bin $(DEMO_DIR)

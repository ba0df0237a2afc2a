# circa — see README.md. `make demo` runs the server on the demo library;
# `make test` runs every test offline, with nothing but Go installed.

GO       ?= go
BIN      := bin/circa
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
# The build's time, or SOURCE_DATE_EPOCH's for a reproducible build.
BUILD_DATE ?= $(shell date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
DATA_DIR ?= demo-data
FUZZTIME ?= 30s

.PHONY: all build test demo bench fuzz lint conformance clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/circa

# The whole suite with the race detector, then every fuzz target briefly.
# The checks that need xmllint or stunnel skip where they are missing, as
# the sshd checks always do here: make conformance runs them all.
test:
	@command -v xmllint >/dev/null || echo "make test: xmllint is not on PATH: the schema checks skip; they run in make conformance"
	@command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || echo "make test: stunnel is not on PATH: its check skips; it runs in make conformance"
	@command -v marclint >/dev/null || echo "make test: marclint is not on PATH: its check of the published catalogue skips; it runs in make conformance"
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	scripts/fuzz.sh 3s

demo: build
	$(BIN) serve --demo --data-dir $(DATA_DIR) --log-format console

# Go benchmarks (store, circulation, codecs), then a short circa bench run
# against the demo server; BENCHMARKS.md records a full run of both.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 20m ./store/ ./circ/ ./sip2/ ./ncip/ ./ncip/responder/ ./marc/
	$(BIN) bench --self --mix kiosk --conns 20 --duration 6s --windows 3 --store-time 500ms

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" >&2; exit 1)
	$(GO) vet ./...

# Checks against real outside parts: stunnel, OpenSSH's sshd, marclint, promtool on
# the example alert rules and xmllint with the official schemas in schemas/. Installs what it needs with apt-get when
# missing; a test that still lacks one fails instead of skipping.
conformance: build
	scripts/conformance.sh

clean:
	rm -rf bin $(DATA_DIR)

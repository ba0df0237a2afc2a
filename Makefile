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

# The Debian package (make deb): its version from git (packaging/version.sh),
# its dates (files, man pages, build date) the commit's unless
# SOURCE_DATE_EPOCH says otherwise, so a rebuild of a commit is the same.
DEB_VERSION    ?= $(shell packaging/version.sh)
DEB_ARCH       ?= $(shell $(GO) env GOARCH)
DEB_MAINTAINER ?= circa maintainers <circa@example.org>
DEB            := build/circa_$(DEB_VERSION)-1_$(DEB_ARCH).deb
DEB_EPOCH      ?= $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null || date +%s))
DEB_LDFLAGS    := -s -w -X main.version=$(DEB_VERSION) -X main.commit=$(COMMIT) \
	-X main.buildDate=$(shell date -u -d @$(DEB_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
NFPM           ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

.PHONY: all build test demo bench fuzz lint conformance deb clean

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
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 20m ./store/... ./circ/ ./sip2/ ./ncip/ ./ncip/responder/ ./marc/
	$(BIN) bench --self --mix kiosk --conns 20 --duration 6s --windows 3 --store-time 500ms

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" >&2; exit 1)
	$(GO) vet ./...

# Checks against real outside parts: stunnel, OpenSSH's sshd, marclint, promtool on
# the example alert rules and xmllint with the official schemas in schemas/. Installs what it needs with apt-get when
# missing; a test that still lacks one fails instead of skipping.
conformance: build deb
	DEB_PACKAGE=$(DEB) scripts/conformance.sh

# build/circa_VERSION-1_ARCH.deb: the binary (static, stripped, position-independent), a man
# page per command and the shell completions, all made by the binary itself,
# and the unit, maintainer scripts and logrotate snippet in packaging/.
deb:
	rm -rf build/deb && mkdir -p build/deb/man build/deb/completions
	CGO_ENABLED=0 $(GO) build -trimpath -buildmode=pie -ldflags "$(DEB_LDFLAGS)" -o build/deb/circa ./cmd/circa
	SOURCE_DATE_EPOCH=$(DEB_EPOCH) build/deb/circa man build/deb/man
	gzip -9n build/deb/man/*.1
	for sh in bash zsh fish; do build/deb/circa completion $$sh > build/deb/completions/circa.$$sh || exit 1; done
	mv build/deb/completions/circa.zsh build/deb/completions/_circa
	sed -e 's/@VERSION@/$(DEB_VERSION)-1/' -e "s/@COMMIT@/$$(git rev-parse --short HEAD)/" \
		-e 's/@MAINTAINER@/$(DEB_MAINTAINER)/' -e "s/@DATE@/$$(date -R -u -d @$(DEB_EPOCH))/" \
		packaging/changelog.in | gzip -9n > build/deb/changelog.Debian.gz
	SOURCE_DATE_EPOCH=$(DEB_EPOCH) CIRCA_DEB_VERSION=$(DEB_VERSION) CIRCA_DEB_ARCH=$(DEB_ARCH) CIRCA_DEB_MAINTAINER="$(DEB_MAINTAINER)" \
		$(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DEB)

clean:
	rm -rf bin build $(DATA_DIR)

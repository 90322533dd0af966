# make test: every test of every module, with the real servers they need
# (redis-server, memcached and PostgreSQL, installed from Debian's packages
# when missing, started on free loopback ports, stopped afterwards): go vet,
# go mod tidy -diff and staticcheck on every module, then go test -race.
GO ?= go

# The modules of the workspace (go.work): the root module is the library;
# the others have heavy dependencies of their own.
MODULES := . bench/eviction dashboard gormcache redisbus sample-site storetest
PKGS := ./... $(patsubst %,./%/...,$(filter-out .,$(MODULES)))

# staticcheck, pinned, installed into .bin when missing.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CURDIR)/.bin/staticcheck-$(STATICCHECK_VERSION)

.PHONY: test check lint fmt vet tidy bench gobench fuzz run

test:
	./scripts/with-services.sh $(MAKE) --no-print-directory check

# check is test without starting the servers (their tests skip).
check: lint
	$(GO) test -race $(PKGS)

lint: fmt vet tidy $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

fmt:
	@out=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "not gofmt-ed (gofmt -w):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

tidy:
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy -diff) || { echo "go.mod of $$m is not tidy: cd $$m && go mod tidy"; exit 1; }; done

$(STATICCHECK):
	@mkdir -p $(CURDIR)/.bin
	GOBIN=$(CURDIR)/.bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(CURDIR)/.bin/staticcheck $@

# End to end: the sample page through every variant, wrk against each on
# loopback, one table with ratios to prebuilt bytes.
bench:
	@command -v wrk >/dev/null 2>&1 || ./scripts/with-services.sh true
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(GO) run ./bench

# Go benchmarks of every module, peers side by side (Redis ones included).
gobench:
	./scripts/with-services.sh $(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 $(PKGS)

# A short run of every fuzz target.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

run:
	$(GO) run ./sample-site

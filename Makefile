# make test: every test, with the real Redis and Memcached servers they need
# (installed from Debian's packages when missing, started on free loopback
# ports, stopped afterwards), under the race detector.
GO ?= go

.PHONY: test vet bench gobench fuzz run

test:
	./scripts/with-services.sh sh -c '$(GO) vet ./... && $(GO) test -race ./...'

vet:
	$(GO) vet ./...

# End to end: the sample page through every variant, wrk against each on
# loopback, one table with ratios to prebuilt bytes.
bench:
	@command -v wrk >/dev/null 2>&1 || ./scripts/with-services.sh true
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(GO) run ./bench

# Go benchmarks of every package, peers side by side (Redis ones included).
gobench:
	./scripts/with-services.sh $(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 ./...

# A short run of every fuzz target.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

run:
	$(GO) run ./sample-site

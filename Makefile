# openwfp: the three entry points. Each installs missing Debian packages, configures, builds, runs.
.PHONY: deps build build-asan demo test test-asan bench clean

JOBS ?= $(shell nproc)

deps:
	bash scripts/install-deps.sh

build: deps
	cmake --preset default
	cmake --build --preset default -j $(JOBS)

build-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)

demo: build
	./build/default/openwfp demo

test: build
	ctest --preset default -j $(JOBS)

test-asan: build-asan
	ctest --preset asan -j $(JOBS)

bench: build
	bash scripts/run-bench.sh build/default

clean:
	rm -rf build

# torii: `make run` and `make test` do all the set-up on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-release
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?=

.PHONY: all deps build asan fuzz-build run test fuzz-long testssl bench image image-base image-check clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug $(MESON_OPTS)

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_lundef=false -Dbuildtype=debug $(MESON_OPTS)

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

run: build
	@./scripts/quickstart.sh $(BUILD)

test: build asan fuzz-build
	@python3 tests/run-all --build $(BUILD) --asan-build $(ASAN_BUILD) --fuzz-build $(FUZZ_BUILD)

# The long fuzz search (not part of make test, which replays the corpora deterministically):
# every target for FUZZ_SECONDS (default 10 minutes), FUZZ_JOBS side by side. What it finds is
# kept in $(FUZZ_BUILD)/tests/fuzz/work; a crash lands in tests/fuzz/crashes/.
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1
fuzz-long: fuzz-build
	@python3 tests/fuzz/run --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

# testssl.sh against an HTTPS listener and a TLSRoute-terminating one (tests/tls/run --testssl):
# any finding of severity LOW or above but the test certificates' own fails. It takes minutes,
# so `make test` runs only the fast openssl s_client probes of the same suite.
testssl: build
	@python3 tests/tls/run --torii $(BUILD)/torii --testssl

$(BENCH_BUILD)/build.ninja: | deps
	meson setup $(BENCH_BUILD) -Dbuildtype=release $(MESON_OPTS)

# Benchmarks run on a release build (-O3, no assertions compiled differently: TR_BUG_ON stays).
# scripts/bench-deps.sh installs wrk, h2load, nginx, HAProxy and Caddy (the data-plane section
# compares torii with them; their distro services are never started).
bench: deps $(BENCH_BUILD)/build.ninja
	@./scripts/bench-deps.sh
	ninja -C $(BENCH_BUILD)
	@./bench/run.sh $(BENCH_BUILD)

# The container image (Containerfile): podman or buildah, both Debian packages. Pushing it, and
# pointing deploy/kustomization.yaml's `images:` at the pushed name, is docs/kubernetes.md.
# IMAGE_BASE replaces docker.io/library/debian (a mirror, or a local base image where no registry
# is reachable); IMAGE_FLAGS go to the build command as they are.
VERSION := $(shell sed -n "s/^  version : '\\(.*\\)',/\\1/p" meson.build)
IMAGE ?= localhost/torii:$(VERSION)
IMAGE_BASE ?= docker.io/library/debian
IMAGE_FLAGS ?=
image:
	@if command -v podman >/dev/null 2>&1; then \
	    podman build -f Containerfile --build-arg DEBIAN=$(IMAGE_BASE) -t $(IMAGE) $(IMAGE_FLAGS) .; \
	elif command -v buildah >/dev/null 2>&1; then \
	    buildah bud -f Containerfile --build-arg DEBIAN=$(IMAGE_BASE) -t $(IMAGE) $(IMAGE_FLAGS) .; \
	else \
	    echo "make image: needs podman or buildah (apt-get install podman, or apt-get install buildah)" >&2; \
	    exit 1; \
	fi

# Local Debian 12 base images (mmdebstrap, Debian's apt mirror only) for machines that reach no
# container registry; then `make image IMAGE_BASE=localhost/debian`.
image-base:
	@./scripts/image-base.sh localhost/debian

# The image's runtime stage without an image build, for machines that cannot build one: the same
# Debian packages installed into a directory (mmdebstrap), $(BUILD)/torii copied in and run there
# as the image's user.
image-check: build
	@./scripts/image-check.sh $(BUILD)/torii

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD)

# kvm-prefault workbench.  See README.md.
#   make setup            install build dependencies (Debian 12, as root)
#   make run [ARCH=...]   build and show KVM_PRE_FAULT_MEMORY on ARCH (arm64)
#   make test [ARCH=...]  build, boot and test ARCH (default: all three)
#   make test-debug [ARCH=...]  the same tests on debug kernels (KASAN,
#                         lockdep, kmemleak, UBSAN), one boot per arch
#   make bench [ARCH=...] benchmark pre-fault on ARCH (default: all three),
#                         results in build/bench/
#   make profile [ARCH=...]  where a guest fault's and a pre-fault's time
#                         goes, per kernel function, in build/bench/
#   make series           the upstream series (git format-patch) in build/series/
#   make series-check [ARCH=...]  git am it on a fresh base, compare with the
#                         tested tree, checkpatch and build every patch
#   make prepare | build | clean
SHELL := /bin/sh

# ARCH names our arches (or "all"); it reaches the scripts as an argument,
# and the kernel builds they run must not inherit it.
MAKEOVERRIDES :=
unexport ARCH

.PHONY: setup prepare build run test test-debug bench profile series series-check clean distclean

setup:
	@scripts/setup.sh

prepare: setup
	@scripts/prepare.sh

build: prepare
	@for a in $(if $(filter-out all,$(ARCH)),$(ARCH),x86_64 arm64 riscv64); do \
		scripts/build.sh $$a || exit 1; done

run: prepare
	@scripts/run.sh $(or $(ARCH),arm64)

test: prepare
	@scripts/test.sh $(or $(ARCH),all)

test-debug: prepare
	@scripts/test.sh --debug $(or $(ARCH),all)

bench: prepare
	@scripts/bench.sh $(or $(ARCH),all)

profile: prepare
	@scripts/bench.sh --profile $(or $(ARCH),all)

series: prepare
	@scripts/series.sh

series-check: series
	@scripts/series-check.sh $(filter-out all,$(ARCH))

clean:
	rm -rf build/x86_64* build/arm64* build/riscv64* build/ppc64le* build/logs build/bench build/series*

distclean:
	rm -rf build

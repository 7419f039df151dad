# rampart — top-level wrapper around CMake.
#   make run    install what is missing, build, start one node (foreground)
#   make test   install, build, run every test (also under ASan+UBSan)
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all deps build build-asan run test test-fast test-asan bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DRAMPART_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

run: build
	@bash scripts/run.sh $(BUILD)

# Everything: the optimised build's full suite, then the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer.
test: build build-asan
	@bash scripts/test.sh $(BUILD) $(BUILD_ASAN)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@bash bench/smtp/run.sh $(BUILD)
	@bash bench/scan/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

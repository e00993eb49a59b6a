# Thin wrapper: `make run` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages: build, run, and test (real clients the tests drive).
BUILD_PKGS = cmake make gcc pkg-config libssl-dev libnghttp2-dev zlib1g-dev \
             libev-dev libpcre2-dev libjansson-dev
TEST_PKGS  = curl python3 python3-pytest python3-h2 python3-websockets \
             nghttp2-client openssl git zip unzip clang libclang-rt-14-dev

.PHONY: all deps test-deps build asan run test unit clean bench

all: build

deps:
	@sh tools/ensure-packages.sh $(BUILD_PKGS)

test-deps: deps
	@sh tools/ensure-packages.sh $(TEST_PKGS)

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPORTICO_SANITIZE=ON

asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	exec $(BUILD)/portico -c .

# Every test on the normal build, then every test again under
# AddressSanitizer + UBSan (LeakSanitizer on).
test: test-deps build asan
	cd $(BUILD) && ctest --output-on-failure
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-bench

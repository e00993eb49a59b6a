# Thin wrapper: `make run` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages: build, run, and test (real clients the tests drive).
BUILD_PKGS = cmake make gcc pkg-config libssl-dev libnghttp2-dev zlib1g-dev \
             libev-dev libpcre2-dev libjansson-dev libcap-dev libcrypt-dev
TEST_PKGS  = curl python3 python3-pytest python3-h2 python3-websockets \
             nghttp2-client nghttp2-server openssl git zip unzip clang libclang-rt-14-dev wrk \
             apache2-utils whois python3-prometheus-client chromium

.PHONY: all deps test-deps build asan run test unit clean bench fuzz soak install uninstall

all: build

deps:
	@sh tools/ensure-packages.sh $(BUILD_PKGS)

test-deps: deps
	@sh tools/ensure-packages.sh $(TEST_PKGS)

PREFIX ?= /usr/local

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPORTICO_SANITIZE=ON

asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	exec $(BUILD)/portico -c .

# The binary (PREFIX/sbin), portico(8), share/portico/www, the docs, the
# systemd unit, the logrotate file, and an example /etc/portico unless one
# exists.  DESTDIR stages it.
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) > /dev/null
	cmake --build $(BUILD) -j$(JOBS)
	cmake --install $(BUILD)

uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "nothing installed from $(BUILD)"; exit 1; }
	sed 's|^|$(DESTDIR)|' $(BUILD)/install_manifest.txt | xargs -d '\n' rm -f

# Every parser under libFuzzer + ASan/UBSan (and LeakSanitizer) for
# FUZZ_SECS seconds each: the zip central directory, HTTP/1 heads and
# chunked bodies (requests and responses), request-target paths, Range
# headers, the PROXY protocol and X-Forwarded-For, the conditional fields
# (If-Match/If-None-Match ETag lists, HTTP-dates), Accept-Encoding, CGI
# response heads (whole and in pieces), the configuration loader (JSON with
# comments, positions, every key type, mount setup), basic-auth user files
# and credentials, and HTTP/2 server connections (nghttp2 and h2/ over the
# real transport, requests through dispatch to file and echo handlers).
# Seeds from tests/fuzz (make_corpus.py, seeds.py); findings land in
# $(BUILD)/fuzz/.  A target is name:source+source+...; shell globs and
# linker arguments (-l..., -Wl,...) may be among the sources.
FUZZ_SECS ?= 8
FUZZ_CC = clang -std=c11 -D_GNU_SOURCE -DPORTICO_VERSION='"fuzz"' -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined
FUZZ_LIBS = -lssl+-lcrypto+-lcrypt+-ljansson+-lev+-lz+-lpcre2-8+-lpthread
FUZZ_CONFIG_WRAP = -Wl,--wrap=open,--wrap=openat,--wrap=fopen,--wrap=dlopen,--wrap=pt_diag_error,--wrap=pt_diag_warn,--wrap=pt_diag_mount_error
FUZZ_TARGETS = zip:fops/zip_index.c h1:http1/parser.c urlpath:gateway/urlpath.c \
	       range:mounts/range.c proxyproto:gateway/proxyproto_parse.c+gateway/ipaddr.c \
	       cond:mounts/etag.c+gateway/httpdate.c ws:ws/frame.c+ws/deflate.c+-lz \
	       accept_enc:mounts/coding.c+gateway/pool.c+gateway/log.c+gateway/httpdate.c+-lz \
	       cgi_output:cgi/output.c+gateway/http.c+gateway/httpdate.c+gateway/log.c+gateway/pool.c \
	       htpasswd:gateway/*.c+$(FUZZ_LIBS) \
	       config:gateway/*.c+mounts/*.c+fops/*.c+cgi/*.c+plugins/*.c+ws/*.c+http1/parser.c+$(FUZZ_LIBS)+-ldl+$(FUZZ_CONFIG_WRAP) \
	       h2:gateway/*.c+h2/*.c+mounts/*.c+fops/*.c+-lnghttp2+$(FUZZ_LIBS)
fuzz: test-deps
	@mkdir -p $(BUILD)/fuzz
	@/usr/bin/python3 tests/fuzz/make_corpus.py $(BUILD)/fuzz/seeds/zip
	@/usr/bin/python3 tests/fuzz/seeds.py $(BUILD)/fuzz/seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; srcs=$$(echo $${t#*:} | tr + ' '); \
	  $(FUZZ_CC) tests/fuzz/fuzz_$$name.c $$srcs -o $(BUILD)/fuzz/fuzz_$$name; \
	  mkdir -p $(BUILD)/fuzz/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECS)s (log: $(BUILD)/fuzz/$$name.log)"; \
	  $(BUILD)/fuzz/fuzz_$$name -max_total_time=$(FUZZ_SECS) -max_len=65536 -timeout=10 \
	    -artifact_prefix=$(BUILD)/fuzz/$$name- $(BUILD)/fuzz/corpus/$$name \
	    $(BUILD)/fuzz/seeds/$$name > $(BUILD)/fuzz/$$name.log 2>&1 \
	    || { tail -n 60 $(BUILD)/fuzz/$$name.log; exit 1; }; \
	  grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/$$name.log || tail -n 3 $(BUILD)/fuzz/$$name.log; \
	done

# Every test on the normal build, then every test again under
# AddressSanitizer + UBSan (LeakSanitizer on), then the fuzzer.
test: test-deps build asan fuzz
	cd $(BUILD) && ctest --output-on-failure
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure

# Soak (not part of `make test`): SOAK_SECS of mixed traffic with client
# aborts against the ASan build, then SIGTERM; fails on any sanitizer
# report, leak, corrupted response, RSS growth over 10% or descriptor left
# over.  See tests/soak/README.md.
SOAK_SECS ?= 600
soak: test-deps asan
	SOAK_SECS=$(SOAK_SECS) PORTICO_BIN=$${PORTICO_BIN:-$(ASAN_BUILD)/portico} \
	  /usr/bin/python3 tests/soak/soak.py

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-bench

# sluice - one Makefile: the binary, unit tests (plain and ASan+UBSan), integration
# tests against real servers, the demo and the benchmarks.
#
#   make            build ./sluice
#   make test       install missing packages, unit + sanitizer + integration tests
#   make unit       unit tests only (no servers)
#   make demo       throwaway servers + a live pipeline on this machine
#   make bench      throughput figures against pg_recvlogical (bench/results.md)
#   make fuzz       libFuzzer harnesses (tests/fuzz), each run FUZZ_SECONDS (not in `test`)

PKGS      := libpq mysqlclient rdkafka hiredis yaml-0.1 libmicrohttpd openssl jansson libzstd zlib
CC        ?= cc
OPT       ?= -O2
WARN      := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Werror
CPPFLAGS  += -Isrc -Iapi -MMD -MP -DSL_HAVE_ZSTD
CFLAGS    += -std=c11 $(OPT) -g $(WARN) -pthread
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS    += $(PKG_LIBS) -lm -pthread

SRCS      := $(wildcard src/*.c sources/*/*.c processors/*/*.c sinks/*/*.c api/*.c)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=build/obj/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=build/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=build/asan/%.o)

# Duktape (JavaScript processors): the amalgamation the duktape-dev package installs is
# compiled here with sluice's configuration (processors/javascript/duk_custom.h: the
# bytecode interrupt hook that enforces time limits, fastint, the JSON fast path). It is
# never copied into the repository, and Debian's libduktape (built without the hook) is
# not linked. Third-party code: no -Werror/-Wextra. About 10 s to compile, then cached.
DUK_DIR   ?= /usr/share/duktape
DUK_FLAGS := -std=c11 -g -pthread -DSL_DUK_AMALGAMATION -I$(DUK_DIR) -MMD -MP \
             -include processors/javascript/duk_custom.h
CPPFLAGS  += -I$(DUK_DIR)
OBJS      += build/obj/duktape.o
LIB_OBJS  += build/obj/duktape.o
ASAN_OBJS += build/asan/duktape.o

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
ASAN_BINS := $(UNIT_SRCS:tests/unit/%.c=build/tests-asan/%)
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Stand-alone helper programs for tests and the demo (e.g. a Kafka mock broker).
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=build/tools/%)

# libFuzzer harnesses (tests/fuzz/fuzz_*.c): clang with ASan+UBSan, the project's objects
# instrumented for coverage. Duktape is linked with ASan only (no coverage, no UBSan: it is
# third-party code, not what is fuzzed, and clang's UBSan flags its pointer arithmetic).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_OBJS := $(LIB_SRCS:%.c=build/fuzz-obj/%.o) build/fuzz-obj/duktape.o

# Quiet by default; `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps test unit unit-asan integration demo bench clean tools print-pkgs fuzz
all: sluice

sluice: $(OBJS)
	@echo "  LINK $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $< (asan)"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -O1 $(SAN) -c -o $@ $<

build/obj/duktape.o: $(DUK_DIR)/duktape.c processors/javascript/duk_custom.h
	@mkdir -p $(dir $@)
	@echo "  CC   $< (Duktape, sluice config)"
	$(Q)$(CC) $(DUK_FLAGS) $(OPT) -c -o $@ $<

build/asan/duktape.o: $(DUK_DIR)/duktape.c processors/javascript/duk_custom.h
	@mkdir -p $(dir $@)
	@echo "  CC   $< (Duktape, sluice config, asan)"
	$(Q)$(CC) $(DUK_FLAGS) -O1 $(SAN) -c -o $@ $<

build/fuzz-obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $< (fuzz)"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	  -c -o $@ $<

build/fuzz-obj/duktape.o: $(DUK_DIR)/duktape.c processors/javascript/duk_custom.h
	@mkdir -p $(dir $@)
	@echo "  CC   $< (Duktape, sluice config, fuzz)"
	$(Q)$(FUZZ_CC) $(DUK_FLAGS) -O1 -fsanitize=address -fno-omit-frame-pointer -c -o $@ $<

build/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $^ $(LDLIBS) -lcmocka

build/tests-asan/%: tests/unit/%.c $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $^ $(LDLIBS) -lcmocka

build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ $@"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer \
	  -o $@ $(filter %.c %.o,$^) $(LDLIBS)

build/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	@echo "  TOOL $@"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(LDLIBS)

tools: $(TOOL_BINS)

deps:
	@bash scripts/deps.sh

# Unit tests read conformance vectors from ../shared (SLUICE_SHARED overrides).
unit: $(UNIT_BINS)
	@bash tests/run-unit.sh build/tests $(UNIT_BINS)

unit-asan: $(ASAN_BINS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  bash tests/run-unit.sh build/tests-asan $(ASAN_BINS)

integration: sluice $(TOOL_BINS)
	@bash tests/integration/run.sh

test: deps
	@$(MAKE) --no-print-directory sluice $(TOOL_BINS) $(UNIT_BINS) $(ASAN_BINS)
	@bash tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory sluice $(TOOL_BINS)
	@bash scripts/demo.sh

# Fuzzing: every harness for FUZZ_SECONDS each, one after the other (tests/fuzz/run.sh;
# FUZZ_TARGETS="binlog_decode pg_decode" picks some). Seeds come from ../shared
# (SLUICE_SHARED) and the repository; crashes are kept under build/fuzz/artifacts.
fuzz:
	@bash scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_BINS)

bench: deps
	@$(MAKE) --no-print-directory sluice $(TOOL_BINS)
	@bash bench/run.sh

# Helm chart and image checks (tests/helm): a `helm template` stand-in built offline from
# Debian's Go packages (no helm in Debian), then tests/helm/run.sh.
build/helm-render: tests/helm/render.go
	@mkdir -p $(dir $@)
	@echo "  GO   $@"
	$(Q)GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(CURDIR)/build/go-cache \
	  go build -o $@ $<

.PHONY: helm-test
helm-test: sluice build/helm-render
	@bash tests/helm/run.sh

# The pkg-config packages sluice links (for scripts that build against the objects).
print-pkgs:
	@echo $(PKGS)

clean:
	rm -rf build sluice

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)

# bitmon — one non-recursive Makefile.
#
# The service is a static library (build/libbitmon.a) with a thin main
# (build/bitmon); every test links the library. Sources are found by folder, so
# adding a file to a module needs no edit here.
#
#   make            build/bitmon and build/bitrise-sim
#   make test       install what is missing, start the local stack, run every test
#   make demo       the monitor pipeline end to end on the local stack
#   make soak       the chaos soak, both delivery modes (tests/soak/README.md)
#   make asan|tsan  the same suite in a sanitizer tree (build-asan/, build-tsan/)
#   make fuzz       libFuzzer targets (clang), build-fuzz/
#   make format     clang-format in place; make style checks it

BUILD     ?= build
CC        ?= cc
WERROR    ?= $(if $(CI),-Werror,)
OPT       ?= -O2 -g
SAN       ?=
# V=1 prints whole command lines; by default one short line per step.
ifeq ($(V),1)
Q_CC :=
Q_AR :=
Q_LD :=
else
Q_CC = @echo "  CC      $<";
Q_AR = @echo "  AR      $@";
Q_LD = @echo "  LD      $@";
endif

PKGS      := rdkafka libcurl libcjson hiredis_ssl hiredis openssl libuv libmicrohttpd
SIM_PKGS  := libmicrohttpd libcjson openssl libcurl

# hiredis >= 1.0 with TLS: the system's where it is new enough (Debian 13,
# Ubuntu 24.04), else the static build scripts/hiredis.sh caches (Debian 12,
# Ubuntu 22.04 ship 0.14). `bitmon version` says which one a binary has.
HIREDIS_PREFIX ?= $(shell scripts/hiredis.sh --prefix)
ifeq ($(shell pkg-config --atleast-version=1.0 hiredis_ssl 2>/dev/null && echo system),system)
PKG_CONFIG := pkg-config
else
PKG_CONFIG := PKG_CONFIG_PATH=$(HIREDIS_PREFIX)/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config
endif

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wvla -Wformat=2 -Wno-format-nonliteral -Wpointer-arith -Wcast-qual \
             -Wwrite-strings -Wundef -Wnull-dereference $(WERROR)
CPPFLAGS  += -D_GNU_SOURCE -I. $(shell $(PKG_CONFIG) --cflags $(PKGS) $(SIM_PKGS) 2>/dev/null)
CFLAGS    += -std=c11 $(OPT) $(WARN) $(SAN) -pthread -MMD -MP
LDFLAGS   += $(SAN) -pthread
LDLIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lrdkafka -lcurl -lcjson -lhiredis_ssl -lhiredis -lssl -lcrypto -luv -lmicrohttpd) -lm
SIM_LIBS  := $(shell $(PKG_CONFIG) --libs $(SIM_PKGS) 2>/dev/null || echo -lmicrohttpd -lcjson -lssl -lcrypto -lcurl) -lm

MODULES   := common bitrise cache consumer workers producer webhook
LIB_SRCS  := $(wildcard $(addsuffix /*.c,$(MODULES)))
CMD_SRCS  := $(wildcard cmd/*.c)
SIM_SRCS  := $(wildcard tests/sim/*.c)
SUPPORT_SRCS := $(wildcard tests/support/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
ITEST_SRCS:= $(wildcard tests/integration/itest_*.c)
BENCH_SRCS:= $(wildcard bench/bench_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
MOCK_SRCS := $(wildcard tests/kafka-mock/*.c)

obj        = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
# TSan builds route librdkafka's C11 threads through intercepted pthreads.
TSAN_OBJS  := $(if $(findstring thread,$(SAN)),$(BUILD)/obj/tests/tsan/c11threads.o)
LIB        := $(BUILD)/libbitmon.a
SUPPORT    := $(BUILD)/libtestsupport.a
BITMON     := $(BUILD)/bitmon
SIM        := $(BUILD)/bitrise-sim
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
ITEST_BINS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(ITEST_SRCS))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
KAFKA_MOCK := $(BUILD)/kafka-mock

# Keep the objects of test and bench programs between runs.
.SECONDARY:

.PHONY: all test unit demo asan tsan fuzz format style clean deps bench tools image image-test soak
.DEFAULT_GOAL := all

all: $(BITMON) $(if $(SIM_SRCS),$(SIM))
tools: all $(UNIT_BINS) $(ITEST_BINS) $(BENCH_BINS) $(KAFKA_MOCK)

# Objects depend on the compiler and flags they were built with, so that a
# change of either (e.g. the system's hiredis 0.14 replaced by the cached 1.2)
# rebuilds them rather than linking stale objects.
BUILD_FLAGS := $(BUILD)/build-flags
FLAGS_LINE  := $(CC) $(CPPFLAGS) $(CFLAGS)
$(shell mkdir -p $(BUILD) && { printf '%s\n' "$(FLAGS_LINE)" | cmp -s - $(BUILD_FLAGS) || printf '%s\n' "$(FLAGS_LINE)" >$(BUILD_FLAGS); })
HIREDIS_DESC := hiredis $(shell $(PKG_CONFIG) --modversion hiredis 2>/dev/null) \
	($(if $(findstring PKG_CONFIG_PATH,$(PKG_CONFIG)),static from $(HIREDIS_PREFIX),system))

$(BUILD)/obj/%.o: %.c $(BUILD_FLAGS)
	@mkdir -p $(dir $@)
	$(Q_CC)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	$(Q_AR)$(AR) rcs $@ $^

$(SUPPORT): $(call obj,$(SUPPORT_SRCS))
	@mkdir -p $(dir $@)
	$(Q_AR)$(AR) rcs $@ $^

$(BITMON): $(call obj,$(CMD_SRCS)) $(LIB) $(TSAN_OBJS)
	@echo "  USING   $(HIREDIS_DESC)"
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(SIM): $(call obj,$(SIM_SRCS)) $(LIB) $(TSAN_OBJS)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS) $(LDLIBS)

# librdkafka's mock cluster: the local stack's Kafka where no JDK exists.
$(KAFKA_MOCK): $(call obj,$(MOCK_SRCS)) $(TSAN_OBJS)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ -lrdkafka

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT) $(LIB) $(TSAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/itest_%: $(BUILD)/obj/tests/integration/itest_%.o $(SUPPORT) $(LIB) $(TSAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(SUPPORT) $(LIB) $(TSAN_OBJS)
	@mkdir -p $(dir $@)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The suite: installs what is missing, starts the local stack, runs every
# unit and integration test, stops the stack, ends with "N passed, N failed".
test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory tools
	@BUILD=$(BUILD) tests/run.sh

# The container image (deploy/Dockerfile), built by scripts/image.sh without
# any registry; image-test runs the demo with `bitmon run` inside it. Part of
# `make test` (tests/integration/image_demo.sh).
image:
	@scripts/image.sh build

image-test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/image.sh test

unit: tools
	@BUILD=$(BUILD) tests/run.sh --unit

demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/demo.sh

bench: tools
	@BUILD=$(BUILD) bench/run.sh
	@BUILD=$(BUILD) bench/api.sh

# The chaos soak (tests/soak/README.md), both modes, about 13 minutes; not
# part of `make test` (tests/integration/soak_short.sh is its short version).
soak: all $(KAFKA_MOCK)
	@rc=0; for m in at_least_once exactly_once; do \
		BITMON_BUILD=$(CURDIR)/$(BUILD) BITMON_BIN=$(CURDIR)/$(BITMON) BITMON_SIM=$(CURDIR)/$(SIM) \
			tests/soak/soak.sh $$m || rc=1; \
	done; exit $$rc

asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

tsan:
	@$(MAKE) --no-print-directory test BUILD=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread"

FUZZ_BUILD := build-fuzz
fuzz:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS)) \
		BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined"
	@BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libbitmon.a
	$(Q_LD)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_SRCS)

style:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && echo "style: ok"

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

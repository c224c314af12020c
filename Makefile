# airlock: one Makefile for both programs, the shared library and the tests.
# `make` builds build/airlock-export and build/airlock-import; `make check`
# runs every test; `make asan` runs them under AddressSanitizer and UBSan.

CC ?= cc
PKGS := libcurl openssl libzstd libarchive jansson yaml-0.1
PKG_CONFIG ?= pkg-config

MISSING := $(strip $(foreach p,$(PKGS),$(if $(shell $(PKG_CONFIG) --exists $(p) && echo y),,$(p))))
ifneq ($(MISSING),)
ifneq ($(MAKECMDGOALS),demo)
$(error missing development packages for: $(MISSING) (Debian: apt-get install libcurl4-openssl-dev libssl-dev libzstd-dev libarchive-dev libjansson-dev libyaml-dev pkg-config))
endif
endif

VERSION := 0.1.0
BUILD ?= build
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wvla -Wformat=2 -Wpointer-arith -Wcast-qual -Wundef -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ifdef SANITIZE
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -DAIRLOCK_VERSION='"$(VERSION)"' $(WARN) \
              -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS) $(SAN_FLAGS)
LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))


COMMON_SRC := $(wildcard common/*.c)
EXPORT_SRC := $(filter-out export/main.c,$(wildcard export/*.c))
IMPORT_SRC := $(filter-out import/main.c,$(wildcard import/*.c))
CLI_SRC := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(BUILD)/fuzz-,$(FUZZ_TARGETS))
FUZZ_MUTATIONS ?= 3000
FUZZ_SECONDS ?= 60

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCOMMON := $(BUILD)/libairlock.a
LIBEXPORT := $(BUILD)/libexport.a
LIBIMPORT := $(BUILD)/libimport.a
LIBCLI := $(BUILD)/libcli.a

.PHONY: all check unit e2e asan valgrind lint clean demo bench fuzz fuzz-replay
all: $(BUILD)/airlock-export $(BUILD)/airlock-import

# V=1 shows whole command lines.
Q := $(if $(V),,@)
$(BUILD)/obj/%.o: %.c $(wildcard include/airlock/*.h export/*.h import/*.h cli/*.h tests/unit/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^
$(LIBEXPORT): $(call obj,$(EXPORT_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^
$(LIBCLI): $(call obj,$(CLI_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^
$(LIBIMPORT): $(call obj,$(IMPORT_SRC))
	@rm -f $@
	$(Q)ar rcs $@ $^ $(if $^,,$(call obj,common/err.c))

$(BUILD)/airlock-export: $(call obj,export/main.c) $(LIBEXPORT) $(LIBCLI) $(LIBCOMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lpthread
$(BUILD)/airlock-import: $(call obj,import/main.c) $(LIBIMPORT) $(LIBCLI) $(LIBCOMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lpthread

$(BUILD)/unit-tests: $(call obj,$(UNIT_SRC)) $(LIBEXPORT) $(LIBIMPORT) $(LIBCLI) $(LIBCOMMON)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lpthread

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

# Fuzz targets replayed without libFuzzer: the saved corpus and a fixed
# number of repeatable mutations of it, under whatever sanitizers the build has.
$(BUILD)/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIBEXPORT) $(LIBCOMMON)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lpthread

fuzz-replay: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    $(WRAP) $(BUILD)/fuzz-$$t -n $(FUZZ_MUTATIONS) tests/fuzz/corpus/$$t >/dev/null || \
	        { echo "fuzz-replay: $$t failed" >&2; exit 1; }; \
	done; echo "fuzz-replay: $(words $(FUZZ_TARGETS)) targets, $(FUZZ_MUTATIONS) mutations each: ok"

# Coverage-guided fuzzing with clang's libFuzzer (apt-get install clang).
FUZZ_CC ?= clang
fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs clang (apt-get install clang)" >&2; exit 1; }
	@mkdir -p $(BUILD)/libfuzzer
	@for t in $(FUZZ_TARGETS); do \
	    $(FUZZ_CC) -std=c17 -D_GNU_SOURCE -DAIRLOCK_VERSION='"$(VERSION)"' -g -O1 \
	        -fsanitize=fuzzer,address,undefined -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS)) \
	        tests/fuzz/fuzz_$$t.c common/*.c $(EXPORT_SRC) -o $(BUILD)/libfuzzer/$$t $(LIBS) -lpthread || exit 1; \
	    mkdir -p $(BUILD)/libfuzzer/corpus-$$t; \
	    $(BUILD)/libfuzzer/$$t -max_total_time=$(FUZZ_SECONDS) $(BUILD)/libfuzzer/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

e2e: all
	BUILD=$(BUILD) tests/e2e/run-all.sh

check: all unit fuzz-replay e2e

asan:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined CFLAGS="-O1 -g" check

VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
valgrind: all $(BUILD)/unit-tests
	$(VALGRIND) $(BUILD)/unit-tests
	WRAP="$(VALGRIND)" BUILD=$(BUILD) tests/e2e/run-all.sh

# Banned: unbounded string functions.
lint:
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets)\s*\(' common/*.c export/*.c import/*.c cli/*.c include/airlock/*.h \
	    || (echo "lint: use snprintf/strncat-free code instead of the calls above" >&2; false)

# Not part of check: airlock against the skopeo workflow (BENCH_SCALE=0.25
# for a smaller corpus).
bench: all
	BUILD=$(BUILD) tests/bench/bench.sh

# The whole journey on one machine; installs its packages first when needed.
demo:
	BUILD=$(BUILD) tests/demo.sh

clean:
	rm -rf build build-asan

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

# Objects made along pattern chains (fuzz targets) are kept between runs.
.SECONDARY:

.PHONY: all check unit e2e asan tsan valgrind lint clean demo bench fuzz fuzz-replay fuzz-short mutants
.PHONY: install uninstall
all: $(BUILD)/airlock-export $(BUILD)/airlock-import

# V=1 shows whole command lines.
Q := $(if $(V),,@)
$(BUILD)/obj/%.o: %.c $(wildcard include/airlock/*.h common/*.h export/*.h import/*.h cli/*.h tests/unit/*.h tests/fuzz/*.h)
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
$(BUILD)/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIBIMPORT) $(LIBEXPORT) $(LIBCOMMON)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) -lpthread

fuzz-replay: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    $(WRAP) $(BUILD)/fuzz-$$t -n $(FUZZ_MUTATIONS) tests/fuzz/corpus/$$t >/dev/null || \
	        { echo "fuzz-replay: $$t failed" >&2; exit 1; }; \
	done; echo "fuzz-replay: $(words $(FUZZ_TARGETS)) targets, $(FUZZ_MUTATIONS) mutations each: ok"

# Coverage-guided fuzzing with clang's libFuzzer (apt-get install clang
# libclang-rt-14-dev): every target for FUZZ_SECONDS, new inputs kept in
# $(BUILD)/libfuzzer/corpus-*. make check runs each for a few seconds where
# clang is installed (.ci/run installs it).
FUZZ_CC ?= clang
FZ := $(BUILD)/libfuzzer
FZ_FLAGS := -std=c17 -D_GNU_SOURCE -DAIRLOCK_VERSION='"$(VERSION)"' -g -O1 -Iinclude \
            $(shell $(PKG_CONFIG) --cflags $(PKGS))
# the importer's reader (fuzz_bundle_tar) and what it calls, not the pusher
FZ_OBJ := $(patsubst %.c,$(FZ)/obj/%.o,$(COMMON_SRC) $(EXPORT_SRC) import/read.c import/plan.c)
$(FZ)/obj/%.o: %.c $(wildcard include/airlock/*.h common/*.h export/*.h import/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FZ)/fuzz-%: $(FZ)/obj/tests/fuzz/fuzz_%.o $(FZ_OBJ)
	$(Q)$(FUZZ_CC) $(FZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS) -lpthread
fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(addprefix $(FZ)/fuzz-,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FZ)/corpus-$$t; \
	    $(FZ)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	        $(FZ)/corpus-$$t tests/fuzz/corpus/$$t 2>$(FZ)/$$t.log || \
	        { tail -40 $(FZ)/$$t.log >&2; echo "fuzz: $$t failed (crash input saved in the current directory)" >&2; exit 1; }; \
	    echo "fuzz: $$t: $$(grep -o 'Done [0-9]* runs' $(FZ)/$$t.log | tail -1) in $(FUZZ_SECONDS) s, no crash"; \
	done

# A few seconds of libFuzzer per target in make check, where clang can link it.
fuzz-short:
	@if command -v $(FUZZ_CC) >/dev/null && echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; return (int)(n & 0); }' | \
	        $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then \
	    $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SHORT_SECONDS:-3}; \
	elif [ "$${CI:-}" = true ]; then echo "fuzz-short: no clang with libFuzzer, required with CI=true" >&2; exit 1; \
	else echo "fuzz-short: skipped (no clang with libFuzzer; the replay above ran)"; fi

e2e: all
	BUILD=$(BUILD) tests/e2e/run-all.sh

check: all unit fuzz-replay fuzz-short e2e

# Sanitizer reports are fatal: the first one ends the program with 86 (an
# exit code no test expects), and the e2e harness (tests/e2e/lib.sh) fails
# any suite during which a report was written, whatever exit code it expected.
SAN_ENV := ASAN_OPTIONS="halt_on_error=1:exitcode=86:detect_leaks=1:abort_on_error=0$${ASAN_OPTIONS:+:$$ASAN_OPTIONS}" \
           UBSAN_OPTIONS="halt_on_error=1:exitcode=86:print_stacktrace=1$${UBSAN_OPTIONS:+:$$UBSAN_OPTIONS}" \
           LSAN_OPTIONS="exitcode=86$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}"
asan:
	$(SAN_ENV) E2E_TIMEOUT=$${E2E_TIMEOUT:-1200} \
	    $(MAKE) BUILD=build-asan SANITIZE=address,undefined CFLAGS="-O1 -g" all unit fuzz-replay e2e

# ThreadSanitizer over the unit tests and the suites that run the download
# and upload threads hardest (TSAN_SUITES; all of them with TSAN_SUITES=);
# a race ends the program with 86 and the harness fails on the report.
TSAN_SUITES ?= test_import.sh test_faults.sh test_retry.sh test_kill.sh test_since.sh test_requests.sh \
               test_export.sh test_volumes.sh
tsan:
	TSAN_OPTIONS="halt_on_error=1:exitcode=86$${TSAN_OPTIONS:+:$$TSAN_OPTIONS}" E2E_TIMEOUT=$${E2E_TIMEOUT:-1200} \
	    $(MAKE) BUILD=build-tsan SANITIZE=thread CFLAGS="-O1 -g" all unit
	TSAN_OPTIONS="halt_on_error=1:exitcode=86$${TSAN_OPTIONS:+:$$TSAN_OPTIONS}" E2E_TIMEOUT=$${E2E_TIMEOUT:-1200} \
	    BUILD=build-tsan tests/e2e/run-all.sh $(TSAN_SUITES)

VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
valgrind: all $(BUILD)/unit-tests
	$(VALGRIND) $(BUILD)/unit-tests
	WRAP="$(VALGRIND)" E2E_TIMEOUT=$${E2E_TIMEOUT:-2400} BUILD=$(BUILD) tests/e2e/run-all.sh

# Mutation testing (not part of make check; minutes per mutant): each
# mutant of tests/mutants/mutants.py breaks one line of the product in a
# copy of the tree and runs the suites that must notice; survivors are
# printed and fail the target. MUTANTS="name ..." runs some of them.
mutants:
	python3 tests/mutants/mutants.py $(MUTANTS)

# Banned: unbounded string functions.
lint:
	@! grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets)\s*\(' common/*.c export/*.c import/*.c cli/*.c include/airlock/*.h \
	    || (echo "lint: use snprintf/strncat-free code instead of the calls above" >&2; false)

# Not part of check: airlock against the floors (tests/bench/floor.c: GET,
# POST + PUT of every blob with nothing else to do; openssl + zstd over the
# bundle's tar), the skopeo workflow and many small images
# (docs/PERFORMANCE.md; BENCH_SCALE=0.25 for a smaller corpus).
bench: all $(BUILD)/floor
	BUILD=$(BUILD) tests/bench/bench.sh

$(BUILD)/floor: tests/bench/floor.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=c17 -D_GNU_SOURCE $(WARN) $(shell $(PKG_CONFIG) --cflags libcurl) $(CFLAGS) \
	    -pthread $< -o $@ $(shell $(PKG_CONFIG) --libs libcurl)

# The whole journey on one machine; installs its packages first when needed.
demo:
	BUILD=$(BUILD) tests/demo.sh

# make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR=] [MANDIR=]: both
# programs, their man pages, bash completion and the contrib files (the
# nightly export script, its systemd units, a crontab line) in
# $(DATADIR)/airlock/. make uninstall removes exactly those.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
INSTALL ?= install
PROGRAMS := airlock-export airlock-import
CONTRIB := $(notdir $(wildcard contrib/*))
install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR) \
	    $(DESTDIR)$(DATADIR)/airlock
	$(INSTALL) -m 755 $(addprefix $(BUILD)/,$(PROGRAMS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(addprefix man/,$(addsuffix .1,$(PROGRAMS))) $(DESTDIR)$(MANDIR)/man1/
	for p in $(PROGRAMS); do $(INSTALL) -m 644 completion/airlock.bash $(DESTDIR)$(COMPLETIONDIR)/$$p || exit 1; done
	for f in $(CONTRIB); do \
	    $(INSTALL) -m $$(if [ -x contrib/$$f ]; then echo 755; else echo 644; fi) contrib/$$f \
	        $(DESTDIR)$(DATADIR)/airlock/$$f || exit 1; \
	done
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(PROGRAMS)) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(addsuffix .1,$(PROGRAMS))) \
	    $(addprefix $(DESTDIR)$(COMPLETIONDIR)/,$(PROGRAMS)) \
	    $(addprefix $(DESTDIR)$(DATADIR)/airlock/,$(CONTRIB))
	-rmdir $(DESTDIR)$(DATADIR)/airlock 2>/dev/null

clean:
	rm -rf build build-asan

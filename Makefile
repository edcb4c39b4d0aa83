# SPDX-License-Identifier: MIT
# facteur build. Plain GNU Make: one static library of every module, the
# facteur binary, one unit-test binary per tests/unit/test-*.c, and fuzz
# targets with clang. `make SAN=1` builds with ASan+UBSan into build-san/.

CC      ?= cc
PKGS    := openssl sqlite3 libsodium gmime-3.0 zlib opendkim jansson libidn libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lunbound
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS  ?= -O2 -g
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) -Isrc -pthread

ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
endif

SRCS      := $(shell find src -name '*.c' ! -path 'src/cli/main.c' | sort)
OBJS      := $(SRCS:%.c=$(BUILD)/obj/%.o)
DEPS      := $(OBJS:.o=.d)
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Shared test fixtures (tests/unit/*.c that are not test-*.c), linked into every unit test.
UNIT_LIB_SRCS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_LIB_OBJS := $(UNIT_LIB_SRCS:%.c=$(BUILD)/obj/%.o)
DEPS      += $(UNIT_LIB_OBJS:.o=.d)
.SECONDARY: $(UNIT_LIB_OBJS)

# The web application (web/dist, built by npm in web/) is embedded into the
# facteur binary only: scripts/embed-web turns it into one C file (an empty
# asset set when web/dist does not exist). WEB_DIST and WEB_GEN_DIR can be
# overridden to link a facteur with another dist ($(WEB_GEN_DIR)/facteur),
# which the e2e tests of static files do.
WEB_DIST    ?= web/dist
WEB_GEN_DIR ?= $(BUILD)/gen
WEB_FILES   := $(shell find $(WEB_DIST) -type f 2>/dev/null | sort)
# A list of the files, rewritten only when it changes: removing a file
# from the dist must regenerate too.
WEB_LIST    := $(WEB_GEN_DIR)/web-files.txt
$(shell mkdir -p $(WEB_GEN_DIR); echo "$(WEB_DIST) $(WEB_FILES)" | cmp -s - $(WEB_LIST) || \
	echo "$(WEB_DIST) $(WEB_FILES)" > $(WEB_LIST))

all: $(BUILD)/facteur $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libfacteur.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(WEB_GEN_DIR)/web-assets.c: scripts/embed-web $(WEB_LIST) $(WEB_FILES)
	python3 scripts/embed-web $(WEB_DIST) $@

$(WEB_GEN_DIR)/web-assets.o: $(WEB_GEN_DIR)/web-assets.c src/http/http.h
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/facteur $(WEB_GEN_DIR)/facteur: $(BUILD)/obj/src/cli/main.o $(WEB_GEN_DIR)/web-assets.o $(BUILD)/libfacteur.a
	$(CC) $(LDSAN) -pthread -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_LIB_OBJS) $(wildcard tests/unit/*.h) $(BUILD)/libfacteur.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(UNIT_LIB_OBJS) $(BUILD)/libfacteur.a $(LDSAN) $(PKG_LIBS) -lcmocka

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# libFuzzer targets: tests/fuzz/fuzz-*.c, built with clang.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
# Every module is compiled once (with -fsanitize=fuzzer-no-link) into one
# library that all targets link, instead of once per target.
FUZZ_LIB_SRCS := $(filter-out src/cli/%,$(SRCS))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=build-fuzz/obj/%.o)
FUZZ_CFLAGS   := -std=c17 -D_GNU_SOURCE -Isrc -pthread -g -O1 $(PKG_CFLAGS)
DEPS      += $(FUZZ_LIB_OBJS:.o=.d)
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
build-fuzz/libfuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libfuzz.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< build-fuzz/libfuzz.a $(PKG_LIBS)
fuzz: $(FUZZ_BINS)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all unit fuzz clean
-include $(DEPS)

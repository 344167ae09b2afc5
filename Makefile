# tweedle — build, run and test. `make run` and `make test` do all the set-up.
PKGS     := libmicrohttpd gnutls jansson sqlite3 libssl libcrypto expat zlib libpq
CC       ?= cc
OPT      ?= -O2
CFLAGS   := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Isrc -Iinclude
LDLIBS   := -lpthread -lm
BUILD    := build

# make SANITIZE=1: ASan + UBSan build in build/san (make SANITIZE=1 test runs the suites on it)
ifeq ($(SANITIZE),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
  BUILD   := build/san
endif
OBJDIR   := $(BUILD)/obj

# pkg-config is asked only once the deps step has made sure the packages exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(OBJDIR)/%.o)
# the web console's static files, embedded in the binary (src/console/assets.h)
CONSOLE_ASSETS := $(sort $(wildcard src/console/assets/*))
CONSOLE_GEN    := $(BUILD)/gen/console_assets.c
LIB_OBJS  += $(OBJDIR)/$(CONSOLE_GEN:.c=.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps run test unit integration clean format bench
all: deps $(BUILD)/tweedle $(BUILD)/libtweedle-worker.a $(BUILD)/examples/c-handler

deps:
	@bash scripts/deps.sh build

test-deps:
	@bash scripts/deps.sh test

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(CONSOLE_GEN): scripts/embed_assets.sh $(CONSOLE_ASSETS)
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	@bash scripts/embed_assets.sh $@ $(CONSOLE_ASSETS)

$(BUILD)/libtweedle.a: $(LIB_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/tweedle: $(OBJDIR)/src/main.o $(BUILD)/libtweedle.a
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# The worker's C API (include/tweedle/worker.h): the runtime, the clients and
# the few core pieces they use, for programs with in-process handlers.
WORKER_LIB_SRCS := $(sort $(wildcard src/worker/*.c src/client/*.c src/net/*.c src/auth/sigv4*.c)) \
                   src/auth/auth_text.c src/core/buf.c src/core/crypto.c src/core/clock.c \
                   src/core/log.c src/core/json_out.c src/core/errors.c src/core/hist.c \
                   src/sqs/msg_digest.c
WORKER_LIBS     = $(shell pkg-config --libs jansson libssl libcrypto 2>/dev/null)

$(BUILD)/libtweedle-worker.a: $(WORKER_LIB_SRCS:%.c=$(OBJDIR)/%.o)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/examples/c-handler: examples/c-handler/handler.c $(BUILD)/libtweedle-worker.a
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtweedle-worker.a $(WORKER_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtweedle.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtweedle.a $(PKG_LIBS) $(LDLIBS)

run: all
	$(BUILD)/tweedle serve $(ARGS)

unit: all $(UNIT_BINS)

# One summary line at the end: "N passed, N failed, N skipped".
test: all test-deps $(UNIT_BINS)
	@TWEEDLE_BIN=$(CURDIR)/$(BUILD)/tweedle UNIT_DIR=$(BUILD)/tests bash tests/run.sh

bench: all
	@bash bench/compare.sh

format:
	clang-format -i $(SRCS) $(shell find src include -name '*.h')

clean:
	rm -rf $(BUILD)

include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

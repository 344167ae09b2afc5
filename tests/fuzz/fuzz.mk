# libFuzzer targets (tests/fuzz/fuzz_*.c), included by the Makefile.
#   make fuzz FUZZ_SECONDS=N   builds every target with clang into build/fuzz/ and
#                              fuzzes each for N seconds, one after the other
#   make fuzz-regress          runs every target once over its corpus (no fuzzing)
#   make fuzz-build            only builds them
#   FUZZ_TARGETS="sigv4 xml"   limits fuzz / fuzz-regress to those targets
# Everything, the library included, is built with ASan + UBSan and libFuzzer's
# coverage instrumentation; see tests/fuzz/README.md.
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Isrc -Iinclude $(FUZZ_SAN)
FUZZ_OBJS    := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/$(CONSOLE_GEN:.c=.o)
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

.PHONY: fuzz fuzz-deps fuzz-build fuzz-regress
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libtweedle.a: $(FUZZ_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libtweedle.a
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_BUILD)/libtweedle.a \
	  $(PKG_LIBS) $(LDLIBS)

fuzz-deps:
	@bash scripts/deps.sh fuzz

fuzz-build: deps fuzz-deps $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_BUILD="$(FUZZ_BUILD)" bash tests/fuzz/run.sh fuzz $(FUZZ_SECONDS)

fuzz-regress: fuzz-build
	@FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_BUILD="$(FUZZ_BUILD)" bash tests/fuzz/run.sh regress

# header dependencies of the fuzz objects (when BUILD is not build/, the
# Makefile's own -include does not reach them)
ifneq ($(BUILD),build)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
endif

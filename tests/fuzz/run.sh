#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (built by `make fuzz-build` into build/fuzz/).
#   tests/fuzz/run.sh regress [--build]  every target once over its corpus
#                                       (tests/fuzz/corpus/<target>/, no fuzzing)
#   tests/fuzz/run.sh fuzz SECONDS       fuzz each target for SECONDS, one at a time;
#                                       new inputs go to build/fuzz/corpus/<target>/,
#                                       crashes to build/fuzz/artifacts/<target>/
# FUZZ_TARGETS="sigv4 xml" limits either mode to those targets.
# FUZZ_BUILD=DIR reads the targets from DIR instead of build/fuzz (and writes there).
# Ends with "SUMMARY passed=N failed=M skipped=K" (one per target); exit 1 on a failure.
set -u
cd "$(dirname "$0")/../.."
mode=${1:-regress}
arg=${2:-}
B=${FUZZ_BUILD:-build/fuzz} # where the targets were built (fuzz.mk passes its FUZZ_BUILD)

skip_all() {
  echo "fuzz: skipped: $1"
  echo "SUMMARY passed=0 failed=0 skipped=1"
  exit 0
}
command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1 || skip_all "no clang (scripts/deps.sh fuzz installs it)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
  >"$probe/p.c"
"${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1 ||
  skip_all "clang cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-dev missing?)"

if [ "$mode" = regress ] && [ "$arg" = --build ]; then
  if ! make --no-print-directory -j2 FUZZ_BUILD="$B" fuzz-build; then
    echo "fuzz: build failed"
    echo "SUMMARY passed=0 failed=1 skipped=0"
    exit 1
  fi
fi

pass=0; fail=0; skip=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  t=${name#fuzz_}
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $t "* ]]; then continue; fi
  bin=$B/$name
  seeds=tests/fuzz/corpus/$t
  if [ ! -x "$bin" ]; then
    echo "FAIL $t: $bin not built (make fuzz-build)"
    fail=$((fail + 1)); continue
  fi
  if [ ! -d "$seeds" ]; then
    echo "FAIL $t: no corpus $seeds"
    fail=$((fail + 1)); continue
  fi
  log=$B/$t.$mode.log
  mkdir -p "$B/artifacts/$t"
  case "$mode" in
    regress)
      # every file once (-runs=0: no mutations after the corpus); ASan/UBSan abort on an error
      "$bin" -runs=0 -timeout=25 -rss_limit_mb=2048 -artifact_prefix="$B/artifacts/$t/" "$seeds" \
        >"$log" 2>&1
      ;;
    fuzz)
      mkdir -p "$B/corpus/$t"
      "$bin" -max_total_time="${arg:-60}" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/artifacts/$t/" "$B/corpus/$t" "$seeds" >"$log" 2>&1
      ;;
    *) echo "usage: $0 regress [--build] | fuzz SECONDS" >&2; exit 2 ;;
  esac
  rc=$?
  units=$(ls "$seeds" | wc -l)
  last=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    echo "ok   $t ($units seeds) $last"
    pass=$((pass + 1))
  else
    echo "FAIL $t (exit $rc; log $log)"
    grep -a -E 'ERROR|runtime error|SUMMARY: |Test unit written|abort' "$log" | head -n 8 | sed 's/^/     /'
    fail=$((fail + 1))
  fi
done
echo "SUMMARY passed=$pass failed=$fail skipped=$skip"
[ "$fail" -eq 0 ]

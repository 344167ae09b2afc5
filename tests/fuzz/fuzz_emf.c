/* Embedded Metric Format (src/logs/logs_emf.c): log events whose message is
 * a JSON object with "_aws": {"Timestamp", "CloudWatchMetrics": [{"Namespace",
 * "Dimensions", "Metrics"}]} become metrics through tw_logs_emf_put, into a
 * real metrics engine over a store in a temporary directory (as
 * tests/unit/test_metrics.c makes one; the clock fixed at NOW_MS, at most 200
 * distinct metrics, the store made anew every RESET_EVERY inputs so that it
 * stays small). Checked: a batch without any "_aws" puts nothing (ticket 0);
 * the tickets returned are committed by the store's writer within 10 s
 * (waited for every WAIT_EVERY inputs, and before a reset: waiting for each
 * commit made the target 30 times slower); no crash, leak or UB report. Input: the log events'
 * messages, one a line (up to 64; a message may hold NULs). */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "logs/logs.h"
#include "monitoring/metrics.h"
#include "store/store.h"

#define NOW_MS 1700000000000LL /* 2023-11-14T22:13:20Z */
#define RESET_EVERY 20000
#define WAIT_EVERY 64

static tw_store *S;
static tw_metrics *M;
static char dir[128];
static unsigned long runs;
static uint64_t pending; /* the newest ticket not yet seen committed */

static void wait_pending(void) {
  for (int k = 0; k < 20000 && tw_store_committed(S) < pending; k++) usleep(500);
  if (tw_store_committed(S) < pending) abort();
  pending = 0;
}

static int64_t fixed_now(void *ud) {
  (void)ud;
  return NOW_MS;
}

static void close_all(void) {
  if (M) tw_metrics_close(M);
  if (S) tw_store_close(S);
  M = NULL;
  S = NULL;
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {
  }
}

static void open_all(void) {
  const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/tw-fuzz-emf-XXXXXX", tmp);
  if (!mkdtemp(dir)) abort();
  char err[256] = "";
  S = tw_store_open(dir, err, sizeof err);
  if (!S || tw_store_start(S, NULL, NULL)) {
    fprintf(stderr, "fuzz_emf: store: %s\n", err);
    abort();
  }
  tw_metrics_opts o = {.max_metrics = 200, .now_ms = fixed_now};
  M = tw_metrics_open(S, &o, err, sizeof err);
  if (!M) {
    fprintf(stderr, "fuzz_emf: metrics: %s\n", err);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!M) {
    open_all();
    atexit(close_all);
  } else if (++runs % RESET_EVERY == 0) {
    wait_pending();
    close_all();
    open_all();
  }
  fz_lines l;
  fz_split(&l, data, size);
  tw_log_input ev[FZ_MAX_LINES];
  for (size_t i = 0; i < l.n; i++)
    ev[i] = (tw_log_input){.ts = NOW_MS, .msg = l.line[i], .len = l.len[i]};
  uint64_t t = tw_logs_emf_put(M, ev, l.n);
  if (t && !memmem(data, size, "\"_aws\"", 6)) abort(); /* not EMF: nothing put */
  if (t > pending) pending = t;
  if (pending && runs % WAIT_EVERY == 0) wait_pending();
  fz_free(&l);
  return 0;
}

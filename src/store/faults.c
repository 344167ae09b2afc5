#include "store/faults.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *dir;                                /* TWEEDLE_TEST_FAULTS, or NULL */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* a count goes down once per strike */

static void init(void) {
  const char *d = getenv("TWEEDLE_TEST_FAULTS");
  dir = d && *d ? d : NULL;
}

static long read_number(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1) v = -1;
  fclose(f);
  return v;
}

long tw_fault_value(const char *name) {
  pthread_once(&once, init);
  if (!dir) return -1;
  char p[1200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return read_number(p);
}

int tw_fault_take(const char *name) {
  pthread_once(&once, init);
  if (!dir) return 0;
  char p[1200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  pthread_mutex_lock(&mu);
  long n = read_number(p);
  int strike = n > 0;
  if (strike) {
    FILE *f = fopen(p, "w");
    if (f) {
      fprintf(f, "%ld\n", n - 1);
      fclose(f);
    }
  }
  pthread_mutex_unlock(&mu);
  if (strike) tw_error("fault injection (test): %s", name);
  return strike;
}

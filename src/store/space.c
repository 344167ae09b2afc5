#include "store/space.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "core/clock.h"
#include "core/log.h"

static char dir[1024];
static atomic_int watching;
static _Atomic int64_t reserve, avail, reusable, reusable_ms;
static atomic_int low; /* the last answer, to log changes once */

void tw_space_watch(const char *d) {
  snprintf(dir, sizeof dir, "%s", d);
  struct statvfs v;
  if (statvfs(dir, &v)) {
    tw_warn("disk: cannot statvfs %s: free space is not watched", dir);
    return;
  }
  int64_t total = (int64_t)v.f_blocks * (int64_t)v.f_frsize, r;
  const char *env = getenv("TWEEDLE_MIN_FREE_MB");
  if (env && *env) {
    r = (int64_t)atoll(env) << 20;
  } else {
    /* room for the WAL to reach its checkpoint size (wal_autocheckpoint=4000
     * pages: 16 MiB) and for the checkpoint to grow the database by as much */
    r = total / 8;
    if (r < (32 << 20)) r = total / 2 < (32 << 20) ? total / 2 : (32 << 20);
    if (r > (256 << 20)) r = 256 << 20;
  }
  atomic_store(&reserve, r);
  atomic_store(&low, 0);
  atomic_store(&watching, r > 0);
}

int tw_space_low(void) {
  if (!atomic_load(&watching)) return 0;
  struct statvfs v; /* a microsecond or two: exact beats cached here */
  if (!statvfs(dir, &v)) atomic_store(&avail, (int64_t)v.f_bavail * (int64_t)v.f_frsize);
  int64_t free_b = atomic_load(&avail) + atomic_load(&reusable), r = atomic_load(&reserve);
  int is_low = free_b < r;
  if (atomic_exchange(&low, is_low) != is_low) {
    if (is_low)
      tw_warn(
          "disk: %lld KiB free for %s, below the reserve of %lld KiB: writes that add data "
          "are refused until space is freed",
          (long long)(free_b >> 10), dir, (long long)(r >> 10));
    else
      tw_info("disk: %lld KiB free for %s again: writes accepted", (long long)(free_b >> 10), dir);
  }
  return is_low;
}

void tw_space_set_reusable(int64_t bytes) {
  atomic_store(&reusable, bytes);
}

int tw_space_reusable_due(void) {
  if (!atomic_load(&watching)) return 0;
  int64_t now = tw_mono_ms(), last = atomic_load(&reusable_ms);
  return now - last >= 250 && atomic_compare_exchange_strong(&reusable_ms, &last, now);
}

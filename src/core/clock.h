/* Time in the units the APIs speak. */
#ifndef TW_CORE_CLOCK_H
#define TW_CORE_CLOCK_H
#include <stdint.h>

int64_t tw_now_ms(void);  /* wall clock, epoch milliseconds */
int64_t tw_mono_ms(void); /* monotonic milliseconds, for timeouts */
double tw_mono_sec(void); /* monotonic seconds with fractions, for latency */

#endif

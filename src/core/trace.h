/* Trace propagation: the caller's trace from X-Amzn-Trace-Id (X-Ray:
 * "Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1") or W3C traceparent
 * ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), in the X-Ray
 * form SQS keeps as AWSTraceHeader and Lambda hands to code as
 * _X_AMZN_TRACE_ID. A traceparent maps as the OpenTelemetry X-Ray propagator
 * maps it: Root=1-<first 8 hex of the trace id>-<its last 24>. */
#ifndef TW_CORE_TRACE_H
#define TW_CORE_TRACE_H
#include <stddef.h>

/* Writes the trace into out (X-Amzn-Trace-Id wins when both are given);
 * returns 1, or 0 (out "") when neither is a usable trace. */
int tw_trace_header(const char *amzn, const char *traceparent, char *out, size_t n);

#endif

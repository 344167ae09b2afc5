/* The CloudWatch API over HTTP (service "monitoring"): what the protocol
 * front ends (JSON 1.0 in cw_http.c, the query protocol in cw_query.c) and the
 * operations (cw_ops.c, cw_math.c) share. Operations take a transport-free
 * call: the request as JSON in the JSON protocol's shapes (the query front
 * end converts its form into them, values may then be strings), and answer
 * with JSON in the same shapes, timestamps as epoch seconds. */
#ifndef TW_MONITORING_CW_FRONT_H
#define TW_MONITORING_CW_FRONT_H
#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errors.h"
#include "http/request.h"
#include "http/service.h"
#include "monitoring/metrics.h"

#define TW_CW_XMLNS "http://monitoring.amazonaws.com/doc/2010-08-01/"
#define TW_CW_TARGET_PREFIX "GraniteServiceVersion20100801."
#define TW_CW_MAX_BODY (1u << 20)     /* a request as sent (AWS: 1 MB) */
#define TW_CW_MAX_INFLATED (8u << 20) /* a gzip body once inflated */

extern const tw_service tw_cw_service;

typedef struct {
  tw_metrics *metrics;
  tw_store *store;
  const char *account; /* this server's account id */
  json_t *in;          /* the request */
  json_t *out;         /* the answer (an object), set by the operation */
  tw_err err;
  char msg[2048];
  uint64_t ticket;          /* the batch holding the call's change (0: none) */
  uint64_t seen_ticket;     /* the batch holding the state it reports (0: none) */
  struct tw_alarms *alarms; /* alarms and dashboards (cw_alarms.h) */
  const char *region;
  json_t *err_extra; /* members added to an error's JSON body (owned; NULL: none) */
} tw_cw_call;

typedef struct {
  const char *name;
  tw_err (*run)(tw_cw_call *c);
} tw_cw_op;

const tw_cw_op *tw_cw_find_op(const char *name);
/* The alarm and dashboard operations (cw_alarms.c, cw_dashboards.c). */
const tw_cw_op *tw_cw_alarm_find_op(const char *name);

/* Sets c->err and c->msg (printf-style); returns the error. */
tw_err tw_cw_fail(tw_cw_call *c, tw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reading the request: values may be JSON-typed (JSON protocol) or strings
 * (the query protocol). Each returns 0 when absent, 1 when read, -1 when
 * present but not of the type. */
int tw_cw_get_str(const json_t *o, const char *key, const char **out);
int tw_cw_get_num(const json_t *o, const char *key, double *out);
int tw_cw_get_int(const json_t *o, const char *key, long long *out);
int tw_cw_get_bool(const json_t *o, const char *key, int *out);
int tw_cw_get_time(const json_t *o, const char *key, double *out); /* epoch seconds */
/* A list (the query protocol's empty "Key=" is an empty list); NULL absent. */
const json_t *tw_cw_get_list(const json_t *o, const char *key, int *bad);
/* The text a parameter was given as, for error messages. */
void tw_cw_value_text(const json_t *v, char *out, size_t n);

/* ISO 8601 (2016-10-03T23:00:00Z, fractions, offsets) to epoch seconds; 0/-1. */
int tw_cw_parse_iso8601(const char *s, double *out);
void tw_cw_format_iso8601(double t, char *out, size_t n);
/* A double the shortest way that reads back exactly. */
void tw_cw_format_double(double v, char *out, size_t n);

/* GetMetricData's metric math (cw_math.c). */
tw_err tw_cw_get_metric_data(tw_cw_call *c);

/* The query protocol: form body to the JSON shapes; XML answers and errors. */
json_t *tw_cw_query_to_json(const char *body, size_t len, char *action, size_t actionlen);
int tw_cw_render_xml(tw_buf *b, const char *action, const json_t *out, const char *request_id);
void tw_cw_query_error(tw_request *r, tw_err e, const char *msg);
void tw_cw_json_error(tw_request *r, tw_err e, const char *msg);

#endif

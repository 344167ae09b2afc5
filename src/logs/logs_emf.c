/* Embedded Metric Format: a log event whose message is a JSON object with
 *   "_aws": {"Timestamp": <ms>, "CloudWatchMetrics": [{"Namespace": "...",
 *            "Dimensions": [["A", "B"], ...], "Metrics": [{"Name", "Unit",
 *            "StorageResolution"}]}]}
 * and each metric's value (a number, or an array of up to 100) and each
 * dimension's value (a string) as root members becomes metrics, one datum
 * per metric and dimension set, as CloudWatch does for Lambda. A document
 * that does not follow the format stays a log event and nothing more. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logs/logs.h"
#include "monitoring/metrics.h"

#define EMF_MAX_VALUES 100
#define EMF_MAX_DATUMS 1000 /* per put: more are put in further batches */

typedef struct {
  tw_metric_datum *d;
  tw_metric_dim *dims; /* per datum, TW_METRICS_MAX_DIMS each */
  double *values;      /* per datum, EMF_MAX_VALUES each */
  size_t n;
  json_t **docs; /* kept alive until put */
  size_t ndocs;
  uint64_t ticket;
  struct tw_metrics *m;
} emf_batch;

static void flush(emf_batch *b) {
  if (b->n) {
    uint64_t t = 0;
    char msg[512];
    if (tw_metrics_put(b->m, b->d, b->n, &t, msg, sizeof msg) == TW_ERR_OK) {
      if (t > b->ticket) b->ticket = t;
    } else if (b->n > 1) { /* a put is all or none: one bad datum must not drop the others */
      for (size_t i = 0; i < b->n; i++)
        if (tw_metrics_put(b->m, &b->d[i], 1, &t, msg, sizeof msg) == TW_ERR_OK && t > b->ticket)
          b->ticket = t;
    }
  }
  for (size_t i = 0; i < b->ndocs; i++) json_decref(b->docs[i]);
  b->n = 0;
  b->ndocs = 0;
}

/* Adds the datums of one document; 0, or -1 when it is not valid EMF. */
static int add_doc(emf_batch *b, json_t *doc) {
  json_t *aws = json_object_get(doc, "_aws");
  json_t *dirs = json_object_get(aws, "CloudWatchMetrics");
  json_t *tsv = json_object_get(aws, "Timestamp");
  if (!json_is_object(aws) || !json_is_array(dirs) || !json_is_integer(tsv)) return -1;
  double ts = (double)json_integer_value(tsv) / 1000.0;
  size_t i;
  json_t *dir;
  json_array_foreach(dirs, i, dir) {
    json_t *ns = json_object_get(dir, "Namespace"), *dsets = json_object_get(dir, "Dimensions"),
           *mets = json_object_get(dir, "Metrics");
    if (!json_is_string(ns) || !json_is_array(mets)) return -1;
    const char *nss = json_string_value(ns);
    if (!*nss || !strncmp(nss, "AWS/", 4)) return -1;
    size_t ndsets = json_is_array(dsets) && json_array_size(dsets) ? json_array_size(dsets) : 1;
    size_t k;
    json_t *met;
    json_array_foreach(mets, k, met) {
      json_t *name = json_object_get(met, "Name"), *unit = json_object_get(met, "Unit"),
             *res = json_object_get(met, "StorageResolution");
      if (!json_is_string(name)) return -1;
      json_t *val = json_object_get(doc, json_string_value(name));
      double vals[EMF_MAX_VALUES];
      size_t nv = 0;
      if (json_is_number(val)) {
        vals[nv++] = json_number_value(val);
      } else if (json_is_array(val)) {
        size_t j;
        json_t *x;
        json_array_foreach(val, j, x) {
          if (!json_is_number(x) || nv == EMF_MAX_VALUES) return -1;
          vals[nv++] = json_number_value(x);
        }
        if (!nv) continue;
      } else {
        continue; /* a metric without a value: nothing to put */
      }
      int u = json_is_string(unit) ? tw_metric_unit_parse(json_string_value(unit)) : TW_UNIT_NONE;
      if (u < 0) u = TW_UNIT_NONE;
      for (size_t s = 0; s < ndsets; s++) {
        json_t *set = json_is_array(dsets) ? json_array_get(dsets, s) : NULL;
        if (set && !json_is_array(set)) return -1;
        size_t nd = set ? json_array_size(set) : 0;
        if (nd > TW_METRICS_MAX_DIMS) return -1;
        if (b->n == EMF_MAX_DATUMS) return -2; /* caller flushes and retries */
        tw_metric_dim *dims = b->dims + b->n * TW_METRICS_MAX_DIMS;
        for (size_t j = 0; j < nd; j++) {
          json_t *key = json_array_get(set, j);
          json_t *dv = json_is_string(key) ? json_object_get(doc, json_string_value(key)) : NULL;
          if (!json_is_string(dv)) return -1;
          dims[j].name = json_string_value(key);
          dims[j].value = json_string_value(dv);
        }
        double *vv = b->values + b->n * EMF_MAX_VALUES;
        memcpy(vv, vals, nv * sizeof *vals);
        b->d[b->n++] =
            (tw_metric_datum){.ns = nss,
                              .name = json_string_value(name),
                              .dims = dims,
                              .ndims = nd,
                              .unit = u,
                              .ts = ts,
                              .high_res = json_is_integer(res) && json_integer_value(res) == 1,
                              .values = vv,
                              .nvalues = nv};
      }
    }
  }
  return 0;
}

uint64_t tw_logs_emf_put(struct tw_metrics *m, const tw_log_input *ev, size_t n) {
  if (!m) return 0;
  emf_batch b = {.m = m};
  for (size_t i = 0; i < n; i++) {
    const char *p = ev[i].msg;
    size_t len = ev[i].len;
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    if (!len || *p != '{' || !memmem(p, len, "\"_aws\"", 6)) continue;
    json_t *doc = json_loadb(p, len, 0, NULL);
    if (!json_is_object(doc)) {
      json_decref(doc);
      continue;
    }
    if (!b.d) {
      b.d = malloc(EMF_MAX_DATUMS * sizeof *b.d);
      b.dims = malloc((size_t)EMF_MAX_DATUMS * TW_METRICS_MAX_DIMS * sizeof *b.dims);
      b.values = malloc((size_t)EMF_MAX_DATUMS * EMF_MAX_VALUES * sizeof *b.values);
      b.docs = malloc(n * sizeof *b.docs);
      if (!b.d || !b.dims || !b.values || !b.docs) {
        json_decref(doc);
        break;
      }
    }
    size_t mark = b.n;
    int rc = add_doc(&b, doc);
    if (rc == -2) { /* full: put what came before this document, then it again */
      b.n = mark;
      flush(&b);
      rc = add_doc(&b, doc);
    }
    if (rc) {
      b.n = mark; /* not EMF: its datums, if any, are dropped */
      json_decref(doc);
      continue;
    }
    b.docs[b.ndocs++] = doc;
  }
  if (b.d) flush(&b);
  free(b.d);
  free(b.dims);
  free(b.values);
  free(b.docs);
  return b.ticket;
}

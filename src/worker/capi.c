/* The C API: in-process handlers (include/tweedle/worker.h). The function
 * runs on a helper thread so the slot can enforce --timeout: past it the batch
 * is failed and handed back while the call, which cannot be killed, keeps the
 * slot until it returns. The event owns references to everything it points
 * into, so it outlives the batch it came from. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "worker/internal.h"
#include "worker/payload.h"

struct tw_batch_result {
  char **ids;
  size_t n, cap;
  int oom;
};

int tw_batch_result_fail(tw_batch_result *out, const char *message_id) {
  if (!out || !message_id) return -1;
  if (out->n == out->cap) {
    size_t nc = out->cap ? out->cap * 2 : 8;
    char **ni = realloc(out->ids, nc * sizeof *ni);
    if (!ni) {
      out->oom = 1;
      return -1;
    }
    out->ids = ni;
    out->cap = nc;
  }
  if (!(out->ids[out->n] = strdup(message_id))) {
    out->oom = 1;
    return -1;
  }
  out->n++;
  return 0;
}

/* One in-process call: the event, its backing storage, the result. */
typedef struct {
  tw_sqs_event ev;
  tw_sqs_record *recs;
  json_t **raws; /* referenced */
  size_t n;
  tw_wstream *json_src; /* to build the JSON form on demand */
  char *json;
  size_t json_len;
  void **maps; /* mapped body files */
  size_t *map_lens;
  tw_batch_result res;
  tw_handler_fn fn;
  int rc, done;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} call;

static const char *const attr_order[] = {"ApproximateReceiveCount",
                                         "SentTimestamp",
                                         "SenderId",
                                         "ApproximateFirstReceiveTimestamp",
                                         "SequenceNumber",
                                         "MessageGroupId",
                                         "MessageDeduplicationId",
                                         NULL};

const char *tw_sqs_record_attribute(const tw_sqs_record *r, const char *name) {
  for (size_t i = 0; i < r->nattributes; i++)
    if (!strcmp(r->attributes[i].name, name)) return r->attributes[i].value;
  return NULL;
}

const tw_sqs_message_attribute *tw_sqs_record_message_attribute(const tw_sqs_record *r,
                                                                const char *name) {
  for (size_t i = 0; i < r->nmessage_attributes; i++)
    if (!strcmp(r->message_attributes[i].name, name)) return &r->message_attributes[i];
  return NULL;
}

const char *tw_sqs_event_json(const tw_sqs_event *ev, size_t *len) {
  call *c = ev->reserved_;
  if (!c) return NULL;
  if (!c->json) {
    tw_buf b;
    tw_buf_init(&b, (size_t)1 << 34);
    if (tw_wstream_read_all(c->json_src, &b)) {
      tw_buf_free(&b);
      return NULL;
    }
    tw_buf_cstr(&b);
    c->json = tw_buf_detach(&b, &c->json_len);
  }
  if (len) *len = c->json_len;
  return c->json;
}

static const char *jstr(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* Maps path read-only with a NUL after its last byte (an anonymous page
 * behind the file mapping when the size is a multiple of the page size). */
static void *map_body(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st)) {
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size, page = (size_t)sysconf(_SC_PAGESIZE);
  size_t total = (size + 1 + page - 1) / page * page;
  void *base = mmap(NULL, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    close(fd);
    return NULL;
  }
  if (size && mmap(base, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
    munmap(base, total);
    close(fd);
    return NULL;
  }
  close(fd);
  *len = total;
  return base;
}

static void call_free(call *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    tw_sqs_record *r = &c->recs[i];
    free((void *)r->attributes);
    for (size_t k = 0; k < r->nmessage_attributes; k++)
      free((void *)r->message_attributes[k].binary_value);
    free((void *)r->message_attributes);
    if (c->maps && c->maps[i]) munmap(c->maps[i], c->map_lens[i]);
    json_decref(c->raws[i]);
  }
  for (size_t i = 0; i < c->res.n; i++) free(c->res.ids[i]);
  free(c->res.ids);
  free(c->recs);
  free(c->raws);
  free(c->maps);
  free(c->map_lens);
  free(c->json);
  tw_wstream_free(c->json_src);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

static int fill_record(call *c, size_t i, tw_wmsg *m, const char *arn, const char *region) {
  tw_sqs_record *r = &c->recs[i];
  json_t *raw = c->raws[i] = json_incref(m->raw);
  r->message_id = jstr(raw, "MessageId");
  r->receipt_handle = jstr(raw, "ReceiptHandle");
  if (m->body_path) {
    size_t st = 0;
    void *map = map_body(m->body_path, &c->map_lens[i]);
    if (!map) return -1;
    c->maps[i] = map;
    r->body = map;
    struct stat sb;
    if (stat(m->body_path, &sb) == 0) st = (size_t)sb.st_size;
    r->body_len = st;
  } else {
    json_t *b = json_object_get(raw, "Body");
    r->body = json_string_value(b) ? json_string_value(b) : "";
    r->body_len = json_string_length(b);
  }
  r->md5_of_body = jstr(raw, "MD5OfBody");
  r->md5_of_message_attributes = jstr(raw, "MD5OfMessageAttributes");
  r->event_source_arn = arn;
  r->aws_region = region;
  json_t *attrs = json_object_get(raw, "Attributes");
  size_t na = json_object_size(attrs), k = 0;
  tw_sqs_attribute *a = calloc(na + 1, sizeof *a);
  if (!a) return -1;
  for (int o = 0; attr_order[o]; o++) {
    const char *v = jstr(attrs, attr_order[o]);
    if (v) a[k++] = (tw_sqs_attribute){attr_order[o], v};
  }
  const char *key;
  json_t *val;
  json_object_foreach(attrs, key, val) {
    int known = 0;
    for (int o = 0; attr_order[o] && !known; o++) known = !strcmp(attr_order[o], key);
    if (!known && json_is_string(val)) a[k++] = (tw_sqs_attribute){key, json_string_value(val)};
  }
  r->attributes = a;
  r->nattributes = k;
  json_t *ma = json_object_get(raw, "MessageAttributes");
  size_t nm = json_object_size(ma);
  tw_sqs_message_attribute *x = calloc(nm + 1, sizeof *x);
  if (!x) return -1;
  k = 0;
  json_object_foreach(ma, key, val) {
    tw_sqs_message_attribute *t = &x[k++];
    t->name = key;
    t->data_type = jstr(val, "DataType");
    t->string_value = jstr(val, "StringValue");
    t->binary_b64 = jstr(val, "BinaryValue");
    if (t->binary_b64) {
      size_t bl = strlen(t->binary_b64);
      unsigned char *d = malloc(3 * (bl / 4) + 4);
      long dl = d ? tw_base64_decode(t->binary_b64, bl, d) : -1;
      if (dl < 0) {
        free(d);
        d = NULL;
        dl = 0;
      }
      t->binary_value = d;
      t->binary_len = (size_t)dl;
    }
  }
  r->message_attributes = x;
  r->nmessage_attributes = k;
  return 0;
}

static call *call_new(tw_worker *w, tw_wslot *s, tw_wmsg **run, size_t n) {
  call *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->recs = calloc(n, sizeof *c->recs);
  c->raws = calloc(n, sizeof *c->raws);
  c->maps = calloc(n, sizeof *c->maps);
  c->map_lens = calloc(n, sizeof *c->map_lens);
  c->json_src = tw_wstream_new();
  if (!c->recs || !c->raws || !c->maps || !c->map_lens || !c->json_src) {
    call_free(c);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    c->n = i + 1;
    if (fill_record(c, i, run[i], w->queue_arn, w->creds.region)) {
      call_free(c);
      return NULL;
    }
  }
  if (tw_wevent_write(c->json_src, run, n, w->queue_arn, w->creds.region)) {
    call_free(c);
    return NULL;
  }
  c->ev.records = c->recs;
  c->ev.nrecords = n;
  c->ev.queue_url = w->queue_url;
  c->ev.job_output_path = w->o.jobs ? s->job_output : NULL;
  c->ev.reserved_ = c;
  c->fn = w->o.fn;
  return c;
}

static void *call_main(void *arg) {
  call *c = arg;
  int rc = c->fn(&c->ev, &c->res);
  pthread_mutex_lock(&c->mu);
  c->rc = rc;
  c->done = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

void tw_wcapi_wait(tw_wslot *s) {
  call *c = s->capi_pending;
  if (!c) return;
  int logged = 0;
  pthread_mutex_lock(&c->mu);
  while (!c->done && !s->w->force) {
    if (!logged) {
      tw_warn("worker: slot %d waits for an in-process handler that outlived its timeout", s->idx);
      logged = 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  int done = c->done;
  pthread_mutex_unlock(&c->mu);
  s->capi_pending = NULL;
  if (done) {
    pthread_join(c->th, NULL);
    call_free(c);
  } else {
    pthread_detach(c->th); /* the process is going away: leave it */
  }
}

tw_wanswer_kind tw_wcapi_run(tw_worker *w, tw_wslot *s, tw_wbatch *b, tw_wmsg **run, size_t n,
                             char *why, size_t whylen) {
  call *c = call_new(w, s, run, n);
  if (!c) {
    snprintf(why, whylen, "could not build the event");
    return TW_WANSWER_FAILED;
  }
  int64_t t0 = tw_mono_ms();
  if (pthread_create(&c->th, NULL, call_main, c)) {
    call_free(c);
    snprintf(why, whylen, "cannot start a thread for the handler");
    return TW_WANSWER_FAILED;
  }
  int64_t deadline = w->o.timeout > 0 ? t0 + (int64_t)(w->o.timeout * 1000) : INT64_MAX;
  pthread_mutex_lock(&c->mu);
  while (!c->done && tw_mono_ms() < deadline && !w->force) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  int done = c->done;
  pthread_mutex_unlock(&c->mu);
  b->handler_ms = (double)(tw_mono_ms() - t0);
  if (!done) {
    snprintf(why, whylen, "in-process handler %s after %.1f s",
             w->force ? "abandoned at shutdown" : "timed out", b->handler_ms / 1000);
    s->capi_pending = c;
    return TW_WANSWER_FAILED;
  }
  pthread_join(c->th, NULL);
  tw_wanswer_kind k = TW_WANSWER_SUCCESS;
  if (c->rc != 0) {
    snprintf(why, whylen, "in-process handler returned %d", c->rc);
    k = TW_WANSWER_FAILED;
  } else if (c->res.oom) {
    snprintf(why, whylen, "out of memory recording failures");
    k = TW_WANSWER_FAILED;
  } else if (c->res.n && w->o.report_failures) {
    /* the same rules as a JSON answer: every id must be in the batch */
    k = TW_WANSWER_PARTIAL;
    for (size_t i = 0; i < c->res.n && k == TW_WANSWER_PARTIAL; i++) {
      size_t j = 0;
      while (j < n && strcmp(run[j]->id, c->res.ids[i])) j++;
      if (j == n) {
        snprintf(why, whylen, "tw_batch_result_fail names %.80s, which is not in the batch",
                 c->res.ids[i]);
        k = TW_WANSWER_FAILED;
      }
    }
    if (k == TW_WANSWER_PARTIAL)
      for (size_t i = 0; i < c->res.n; i++)
        for (size_t j = 0; j < n; j++)
          if (!strcmp(run[j]->id, c->res.ids[i])) run[j]->outcome = TW_WMSG_FAILED;
  }
  call_free(c);
  return k;
}

/* --- the runtime's main for C handlers --------------------------------------------------- */

/* --keep-payloads (the payload hooks' own option; `tweedle pipeline` passes it the same way). */
static int payload_option(void *ud, const char *name, const char *value) {
  (void)value;
  if (strcmp(name, "keep-payloads")) return -1;
  ((tw_payload_worker *)ud)->keep_payloads = 1;
  return 0;
}

int tw_worker_main(int argc, char **argv, tw_handler_fn fn) {
  tw_worker_opts o;
  tw_worker_opts_defaults(&o);
  char err[512];
  tw_payload_worker pw = {0};
  int p = tw_worker_parse(&o, argc, argv, 0, payload_option, &pw, err, sizeof err);
  if (p == 1) return 0;
  if (p < 0) {
    fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "worker", err);
    return 2;
  }
  if (!fn) {
    fprintf(stderr, "tw_worker_main: no handler function\n");
    return 2;
  }
  o.mode = TW_WMODE_FN;
  o.fn = fn;
  tw_log_setup(o.log_json, TW_LOG_INFO);
  /* extended-client pointers are resolved before the handler sees a record */
  tw_worker_ext ext = {0};
  tw_payload_worker_ext(&ext, &pw);
  return tw_worker_run(&o, &ext);
}

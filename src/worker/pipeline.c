/* `tweedle pipeline`: a state-machine pipeline over one queue (seed 004).
 *
 * Each message body is a JSON state record. The router (a command) reads it on
 * stdin and prints the next state record, or `null` / nothing when the record
 * is finished; a JSON array prints several next records (fan-out, up to 10).
 * The runtime then sends the next state and deletes the current message:
 *
 * - against tweedle in one transaction (TweedleDeleteAndSend), so a crash can
 *   neither lose nor double a state: exactly-once transitions;
 * - against other SQS servers, which answer that action with their usual
 *   unknown-operation error, as SendMessageBatch then DeleteMessage: a crash
 *   between the two runs the step again (at-least-once), which is logged.
 *
 * A router that fails (non-zero exit, crash, timeout, output that is not a
 * state) leaves the message to come back after the visibility timeout, and so
 * to the queue's dead-letter queue after maxReceiveCount tries.
 *
 * Built on the worker runtime (polling, concurrency, heartbeat, SIGTERM
 * drain, metrics) through its hooks: payload pointers are resolved before the
 * router runs, and `process` runs the routers of a batch in order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "tweedle/pipeline.h"
#include "worker/internal.h"
#include "worker/payload.h"

#define ROUTER_OUT_CAP (2u << 20) /* a state record must fit in a message (1 MiB) */
#define MAX_NEXT 10

typedef enum { ATOMIC_AUTO, ATOMIC_ALWAYS, ATOMIC_NEVER } atomic_mode;

typedef struct {
  tw_payload_worker pw; /* first: the payload hooks take ud as a tw_payload_worker */
  atomic_mode mode;
  int persistent;  /* --exec-persistent router */
  tw_router_fn fn; /* the C API's in-process router */
  pthread_mutex_t mu;
  int unsupported; /* the server answered TweedleDeleteAndSend as unknown */
} pipeline;

static const char *pipeline_usage =
    "usage: tweedle pipeline --queue NAME|URL (--exec ROUTER | --exec-persistent ROUTER) "
    "[options]\n"
    "\n"
    "Runs a state-machine pipeline: each message body is a JSON state record. ROUTER gets\n"
    "the record on stdin and prints the next state record, or null / nothing when the\n"
    "record is finished (a JSON array of records fans out). The next state is sent and the\n"
    "current message deleted in one transaction against tweedle; against other SQS servers\n"
    "as send-then-delete (at-least-once). A failing router leaves the message for retry\n"
    "and the queue's dead-letter queue. See docs/pipelines.md.\n"
    "\n"
    "  --exec ROUTER             run '/bin/sh -c ROUTER' once per record\n"
    "  --exec-persistent ROUTER  run it once per slot: one record per line in, one line out\n"
    "  --atomic auto|always|never\n"
    "                            auto (default): TweedleDeleteAndSend when the server has it,\n"
    "                            else send-then-delete; always: fail the step instead of\n"
    "                            falling back; never: always send-then-delete\n"
    "  --keep-payloads           leave payload objects of offloaded records in place\n"
    "%s"
    "\n"
    "The router's environment: TWEEDLE_MESSAGE_ID, TWEEDLE_RECEIVE_COUNT, TWEEDLE_QUEUE_URL.\n"
    "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; region AWS_REGION.\n";

/* --- the router ----------------------------------------------------------------------- */

/* Parses the router's answer: *next NULL (finished) or an array of 1..10 records. */
static int parse_answer(const char *out, size_t len, json_t **next, char *why, size_t whylen) {
  *next = NULL;
  size_t a = 0, b = len;
  while (a < b && strchr(" \t\r\n", out[a])) a++;
  while (b > a && strchr(" \t\r\n", out[b - 1])) b--;
  if (a == b) return 0;
  json_error_t je;
  json_t *doc = json_loadb(out + a, b - a, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!doc) {
    snprintf(why, whylen, "router output is not JSON: %.150s", je.text);
    return -1;
  }
  if (json_is_null(doc)) {
    json_decref(doc);
    return 0;
  }
  if (json_is_object(doc)) {
    *next = json_array();
    json_array_append_new(*next, doc);
    return 0;
  }
  size_t i;
  json_t *x;
  int ok = json_is_array(doc) && json_array_size(doc) <= MAX_NEXT;
  json_array_foreach(doc, i, x) ok = ok && json_is_object(x);
  if (!ok) {
    snprintf(why, whylen,
             "router output must be a JSON object (the next state), an array of at most %d "
             "objects, null or nothing",
             MAX_NEXT);
    json_decref(doc);
    return -1;
  }
  if (json_array_size(doc) == 0) { /* [] : nothing follows */
    json_decref(doc);
    return 0;
  }
  *next = doc;
  return 0;
}

/* The C API: the record in memory (a resolved payload is read from its file). */
static int route_fn(pipeline *p, tw_wmsg *m, json_t **next, char *why, size_t whylen) {
  tw_buf in;
  tw_buf_init(&in, (size_t)TW_PAYLOAD_MAX_SIZE);
  const char *rec = tw_wmsg_str(m, "Body");
  size_t len = strlen(rec);
  if (m->body_path) {
    FILE *f = fopen(m->body_path, "rb");
    char chunk[1 << 16];
    size_t r;
    while (f && (r = fread(chunk, 1, sizeof chunk, f)) > 0) tw_buf_append(&in, chunk, r);
    if (f) fclose(f);
    if (!f || tw_buf_append(&in, "", 1)) {
      tw_buf_free(&in);
      snprintf(why, whylen, "cannot read the payload file");
      return -1;
    }
    rec = in.data;
    len = in.len - 1;
  }
  char *out = NULL;
  int rc = p->fn(rec, len, &out);
  tw_buf_free(&in);
  if (rc) {
    free(out);
    snprintf(why, whylen, "the router returned %d", rc);
    return -1;
  }
  rc = parse_answer(out ? out : "", out ? strlen(out) : 0, next, why, whylen);
  free(out);
  return rc;
}

/* Runs the router on one record. 0 with *next set (NULL: finished), -1 with why. */
static int route(pipeline *p, tw_worker *w, tw_wslot *s, tw_wmsg *m, json_t **next, char *why,
                 size_t whylen) {
  if (p->fn) return route_fn(p, m, next, why, whylen);
  const char *body = tw_wmsg_str(m, "Body");
  tw_wstream *in = tw_wstream_new();
  int rc = -1;
  char *line = NULL;
  if (!in) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if (p->persistent) {
    /* one record per line: the body re-written as compact JSON */
    json_t *doc = m->body_path ? json_load_file(m->body_path, 0, NULL) : json_loads(body, 0, NULL);
    line = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    json_decref(doc);
    if (!line) {
      snprintf(why, whylen, "the record is not JSON (a persistent router reads one per line)");
      goto done;
    }
    tw_wstream_str(in, line);
  } else if (m->body_path) {
    if (tw_wstream_file(in, m->body_path, 0)) {
      snprintf(why, whylen, "cannot open the payload file");
      goto done;
    }
  } else {
    tw_wstream_str(in, body);
  }
  char e_id[200], e_count[64], e_url[2100];
  snprintf(e_id, sizeof e_id, "TWEEDLE_MESSAGE_ID=%s", m->id);
  snprintf(e_count, sizeof e_count, "TWEEDLE_RECEIVE_COUNT=%d", m->receive_count);
  snprintf(e_url, sizeof e_url, "TWEEDLE_QUEUE_URL=%s", tw_worker_queue_url(w));
  char *env[] = {e_id, e_count, e_url, NULL};
  tw_proc_result r;
  tw_proc_result_init(&r, ROUTER_OUT_CAP);
  char desc[300];
  if (!p->persistent) {
    tw_proc_run(w->o.exec_cmd, env, in, w->o.timeout, w->o.kill_grace, &w->force, &r);
    if (r.spawn_failed || r.timed_out || r.aborted || r.signo || r.exit_code != 0 || r.out_overflow)
      snprintf(why, whylen, "router pid=%d %.200s", (int)r.pid,
               tw_proc_describe(&r, desc, sizeof desc));
    else
      rc = parse_answer(r.out.data ? r.out.data : "", r.out.len, next, why, whylen);
  } else {
    char err[256];
    if (s->pp && !tw_pproc_alive(s->pp)) {
      tw_pproc_stop(s->pp, 0);
      s->pp = NULL;
    }
    if (!s->pp && (s->pp = tw_pproc_start(w->o.exec_cmd, NULL, err, sizeof err)))
      tw_info("pipeline: slot %d started router pid=%d", s->idx, (int)tw_pproc_pid(s->pp));
    if (!s->pp) {
      snprintf(why, whylen, "cannot start the router: %.200s", err);
    } else if (tw_pproc_exchange(s->pp, in, w->o.timeout, w->o.kill_grace, &w->force, &r)) {
      snprintf(why, whylen, "router pid=%d %.180s; it will be restarted", (int)r.pid,
               tw_proc_describe(&r, desc, sizeof desc));
      tw_pproc_stop(s->pp, 0);
      s->pp = NULL;
    } else {
      rc = parse_answer(r.out.data ? r.out.data : "", r.out.len, next, why, whylen);
    }
  }
  tw_proc_result_free(&r);
done:
  free(line);
  tw_wstream_free(in);
  return rc;
}

/* --- the step -------------------------------------------------------------------------- */

/* SendMessageBatch-shaped entries for the next states. On FIFO queues every
 * next state stays in the record's message group, with a deduplication id
 * derived from the current message: a step repeated after a crash (the
 * send-then-delete fallback) is then dropped by SQS's deduplication window. */
static json_t *entries_for(tw_worker *w, tw_wmsg *m, json_t *next) {
  json_t *entries = json_array();
  size_t i;
  json_t *st;
  json_array_foreach(next, i, st) {
    char *body = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char id[32];
    snprintf(id, sizeof id, "s%zu", i);
    json_t *e = json_pack("{s:s,s:s}", "Id", id, "MessageBody", body ? body : "");
    free(body);
    if (tw_worker_is_fifo(w)) {
      char seed[256], dedup[65];
      snprintf(seed, sizeof seed, "%s:%zu", m->id, i);
      tw_sha256_hex(seed, strlen(seed), dedup);
      json_object_set_new(e, "MessageGroupId", json_string(m->group ? m->group : "pipeline"));
      json_object_set_new(e, "MessageDeduplicationId", json_string(dedup));
    }
    json_array_append_new(entries, e);
  }
  return entries;
}

static int unsupported_code(const tw_sqsc_error *e) {
  static const char *const codes[] = {"UnknownOperationException", "UnknownOperation",
                                      "InvalidAction", "NotImplemented", NULL};
  for (int i = 0; codes[i]; i++)
    if (!strcmp(e->code, codes[i])) return 1;
  return e->status == 404 || e->status == 501;
}

/* Send then delete: for servers without the atomic step. */
static void step_fallback(tw_worker *w, tw_wmsg *m, json_t *entries) {
  char es[1300];
  tw_sqsc_error e;
  if (json_array_size(entries)) {
    json_t *req = json_pack("{s:s,s:O}", "QueueUrl", tw_worker_queue_url(w), "Entries", entries);
    json_t *resp = NULL;
    int rc = tw_sqsc_call(tw_worker_sqs(w), "SendMessageBatch", req, &resp, &e, NULL);
    json_decref(req);
    json_t *failed = json_object_get(resp, "Failed");
    if (rc || json_array_size(failed)) {
      if (!rc) {
        json_t *f = json_array_get(failed, 0);
        snprintf(e.code, sizeof e.code, "%s", json_string_value(json_object_get(f, "Code")) ?: "");
        snprintf(e.message, sizeof e.message, "%s",
                 json_string_value(json_object_get(f, "Message")) ?: "");
      }
      tw_warn(
          "pipeline: message %s: sending the next state failed (%s); the message comes "
          "back for another try%s",
          m->id, tw_sqsc_strerror(&e, es, sizeof es),
          json_array_size(failed) < json_array_size(entries) && !rc
              ? ", and the states that were sent may be sent again"
              : "");
      json_decref(resp);
      m->outcome = TW_WMSG_FAILED;
      return;
    }
    json_decref(resp);
  }
  json_t *req =
      json_pack("{s:s,s:s}", "QueueUrl", tw_worker_queue_url(w), "ReceiptHandle", m->receipt);
  if (tw_sqsc_call(tw_worker_sqs(w), "DeleteMessage", req, NULL, &e, NULL))
    tw_warn(
        "pipeline: message %s: next state sent but the message could not be deleted (%s): "
        "the step will run again (at-least-once)",
        m->id, tw_sqsc_strerror(&e, es, sizeof es));
  json_decref(req);
  m->outcome = TW_WMSG_DONE;
}

static void release_payload(pipeline *p, tw_worker *w, tw_wmsg *m) {
  if (m->outcome == TW_WMSG_DONE) tw_payload_deleted(&p->pw, w, m);
}

/* Sends the next states and deletes m: sets m->outcome. */
static void step(pipeline *p, tw_worker *w, tw_wmsg *m, json_t *next) {
  json_t *entries = entries_for(w, m, next);
  pthread_mutex_lock(&p->mu);
  int fallback = p->mode == ATOMIC_NEVER || p->unsupported;
  pthread_mutex_unlock(&p->mu);
  if (fallback) {
    step_fallback(w, m, entries);
    release_payload(p, w, m);
    json_decref(entries);
    return;
  }
  json_t *req = json_pack("{s:s,s:s,s:O}", "QueueUrl", tw_worker_queue_url(w), "ReceiptHandle",
                          m->receipt, "Entries", entries);
  tw_sqsc_error e;
  char es[1300];
  if (tw_sqsc_call(tw_worker_sqs(w), "TweedleDeleteAndSend", req, NULL, &e, NULL) == 0) {
    m->outcome = TW_WMSG_DONE;
  } else if (unsupported_code(&e)) {
    if (p->mode == ATOMIC_ALWAYS) {
      tw_error(
          "pipeline: message %s: the server has no atomic step (%s) and --atomic always "
          "forbids send-then-delete",
          m->id, tw_sqsc_strerror(&e, es, sizeof es));
      m->outcome = TW_WMSG_FAILED;
    } else {
      pthread_mutex_lock(&p->mu);
      int first = !p->unsupported;
      p->unsupported = 1;
      pthread_mutex_unlock(&p->mu);
      if (first)
        tw_warn(
            "pipeline: the server does not support TweedleDeleteAndSend (%s): falling back "
            "to send-then-delete, which is at-least-once (a crash between the two runs a "
            "step twice)",
            tw_sqsc_strerror(&e, es, sizeof es));
      step_fallback(w, m, entries);
    }
  } else if (!strcmp(e.code, "ReceiptHandleIsInvalid")) {
    /* deleted or received again since: the step is someone else's (or was
     * already done by an attempt whose answer was lost) */
    tw_warn("pipeline: message %s: not ours any more (%s); nothing sent", m->id,
            tw_sqsc_strerror(&e, es, sizeof es));
    m->outcome = TW_WMSG_DONE;
  } else {
    tw_warn("pipeline: message %s: step failed (%s); the message comes back for another try", m->id,
            tw_sqsc_strerror(&e, es, sizeof es));
    m->outcome = TW_WMSG_FAILED;
  }
  json_decref(req);
  release_payload(p, w, m);
  json_decref(entries);
}

static int group_failed(tw_wbatch *b, size_t upto, const char *group) {
  for (size_t i = 0; i < upto; i++)
    if (b->m[i].group && !strcmp(b->m[i].group, group) &&
        (b->m[i].outcome == TW_WMSG_FAILED || b->m[i].outcome == TW_WMSG_RELEASE))
      return 1;
  return 0;
}

static void process(void *ud, tw_worker *w, tw_wbatch *b) {
  pipeline *p = ud;
  tw_wslot *s = &w->slots[b->slot];
  for (size_t i = 0; i < b->n; i++) {
    tw_wmsg *m = &b->m[i];
    if (m->outcome != TW_WMSG_PENDING) continue;
    if (w->stopping && w->force) { /* a second signal: hand the rest back */
      m->outcome = TW_WMSG_RELEASE;
      continue;
    }
    /* FIFO: after a failure in a group, its later records wait for it */
    if (tw_worker_is_fifo(w) && m->group && group_failed(b, i, m->group)) {
      m->outcome = TW_WMSG_RELEASE;
      continue;
    }
    json_t *next = NULL;
    char why[400] = "";
    if (route(p, w, s, m, &next, why, sizeof why)) {
      tw_warn("pipeline: message %s (receive %d): %s; it comes back for another try", m->id,
              m->receive_count, why);
      m->outcome = TW_WMSG_FAILED;
      continue;
    }
    if (!next) { /* finished: the runtime deletes it (and its payload) */
      m->outcome = TW_WMSG_OK;
      continue;
    }
    step(p, w, m, next);
    json_decref(next);
  }
}

/* --- command line ------------------------------------------------------------------------ */

static int extra_option(void *ud, const char *name, const char *value) {
  pipeline *p = ud;
  if (!strcmp(name, "keep-payloads")) {
    p->pw.keep_payloads = 1;
    return 0;
  }
  if (!strcmp(name, "atomic") && value) {
    if (!strcmp(value, "auto"))
      p->mode = ATOMIC_AUTO;
    else if (!strcmp(value, "always"))
      p->mode = ATOMIC_ALWAYS;
    else if (!strcmp(value, "never"))
      p->mode = ATOMIC_NEVER;
    else
      return -1;
    return 1;
  }
  return -1;
}

static int run(int argc, char **argv, tw_router_fn fn) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      if (fn)
        printf(
            "usage: %s --queue NAME|URL [options]\n\n  --atomic auto|always|never\n"
            "  --keep-payloads\n%s",
            argv[0], tw_worker_options_help);
      else
        printf(pipeline_usage, tw_worker_options_help);
      return 0;
    }
  pipeline p;
  memset(&p, 0, sizeof p);
  p.fn = fn;
  tw_worker_opts o;
  tw_worker_opts_defaults(&o);
  char err[600];
  if (tw_worker_parse(&o, argc, argv, !fn, extra_option, &p, err, sizeof err)) {
    fprintf(stderr, "%s: %s\n", fn ? argv[0] : "tweedle pipeline", err);
    return 2;
  }
  if (o.report_failures || o.jobs) {
    fprintf(stderr, "%s: --report-batch-item-failures and --jobs are worker options\n",
            fn ? argv[0] : "tweedle pipeline");
    return 2;
  }
  pthread_mutex_init(&p.mu, NULL);
  p.persistent = o.mode == TW_WMODE_PERSISTENT;
  o.mode = TW_WMODE_CUSTOM;
  tw_log_setup(o.log_json, TW_LOG_INFO);
  tw_info("pipeline: router %s (%s); steps %s", fn ? "in-process" : o.exec_cmd,
          fn             ? "a function"
          : p.persistent ? "persistent"
                         : "a process per record",
          p.mode == ATOMIC_NEVER    ? "send-then-delete (at-least-once)"
          : p.mode == ATOMIC_ALWAYS ? "atomic only (TweedleDeleteAndSend)"
                                    : "atomic when the server supports it");
  tw_worker_ext ext;
  memset(&ext, 0, sizeof ext);
  tw_payload_worker_ext(&ext, &p.pw);
  ext.ud = &p;
  ext.process = process;
  int rc = tw_worker_run(&o, &ext);
  pthread_mutex_destroy(&p.mu);
  return rc;
}

int tw_pipeline_main(int argc, char **argv) {
  return run(argc, argv, NULL);
}

int tw_pipeline_run_main(int argc, char **argv, tw_router_fn fn) {
  return fn ? run(argc, argv, fn) : 2;
}

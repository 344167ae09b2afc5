/* The lifecycle sweeper: a thread that wakes every quarter of a lifecycle day
 * (at most a minute apart, so every 250 ms with one-second days), finds the
 * objects and incomplete multipart uploads whose rules say they are due, and
 * removes them the way DeleteObject and AbortMultipartUpload do.
 *
 * Finding: the lifecycle repository's scans (store/s3_lifecycle.h), on this
 * thread, bounded per query (SCAN rows) and per pass (PASS_BUDGET removals); a
 * scan that stops early keeps its place in the rule (cursor) and the next pass
 * comes at once. A rule with a prefix walks the keys from the prefix; one
 * without walks the bucket's objects by age (modified_ms, key).
 *
 * Cluster mode: every node runs this thread (and its blob sweep), but only
 * the node holding the cluster's lifecycle lock (a PostgreSQL session
 * advisory lock, store/pg_s3.h) runs the passes; the others try to take it
 * at each wake-up, so when that node dies another takes over within a
 * cadence. Its expirations go through its own store batches as on one node.
 *
 * Removing: under s->mu, which every write of an object row holds, and only
 * after the store has committed everything appended before it, so the reader
 * then sees each key's latest row. A row is removed only if it is still the
 * one that was found (same blob, which every write makes anew) and the rule
 * still applies to it, and the delete itself names that blob: an object
 * written after the decision survives. The event (s3:LifecycleExpiration:
 * Delete) goes in the same store batch; the blob file is unlinked after the
 * commit, once no row names it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "events/bus.h"
#include "s3/s3_lifecycle.h"
#include "store/pg_s3.h"
#include "store/pg_state.h"
#include "store/s3_lifecycle.h"
#include "store/s3_objects.h"
#include "store/s3_refs.h"
#include "store/s3_uploads.h"

#define SCAN 1000        /* rows read by one query */
#define PASS_BUDGET 2000 /* objects and uploads removed by one pass */
#define COMMIT_WAIT_MS 10000
#define LIFECYCLE_PRINCIPAL "s3.amazonaws.com" /* who S3 says acted */

typedef struct {
  char *key;
  size_t klen;
  char blob[37];
} candidate;

static int stopping(tw_s3 *s) {
  return atomic_load(&s->lc->stop);
}

/* Waits until the store has made ticket t durable; -1 on time-out (or when
 * stopping, if `stoppable`). */
static int wait_committed(tw_s3 *s, uint64_t t, int stoppable) {
  int64_t until = tw_mono_ms() + COMMIT_WAIT_MS;
  while (tw_store_committed(s->store) < t) {
    if ((stoppable && stopping(s)) || tw_mono_ms() > until) return -1;
    usleep(500);
  }
  return 0;
}

static void request_id(char out[17]) {
  uint8_t raw[8];
  tw_random_bytes(raw, sizeof raw);
  for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02X", raw[i]);
}

static void set_cursor(lc_rule *ru, int64_t ms, const void *key, size_t klen) {
  free(ru->cur_key);
  ru->cur_key = NULL;
  ru->cur_klen = 0;
  ru->cur_ms = ms;
  if (key) {
    ru->cur_key = malloc(klen + 1);
    memcpy(ru->cur_key, key, klen);
    ru->cur_klen = klen;
  }
}

/* Removes the candidates that are still due; returns how many went. */
static int remove_objects(tw_s3 *s, const char *bucket, const lc_rule *ru, candidate *c, size_t n) {
  char rid[17];
  request_id(rid);
  uint64_t last = 0;
  int removed = 0;
  pthread_mutex_lock(&s->mu);
  if (wait_committed(s, tw_store_ticket(s->store), 1)) {
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  int64_t now = tw_now_ms();
  /* a bucket with versioning configured keeps the object as a noncurrent
   * version behind a delete marker (Suspended: the null version goes; its
   * body is left to the blob sweep) */
  int mode = tw_s3_versioning(s, bucket);
  for (size_t i = 0; i < n; i++) {
    tw_s3_obj o;
    int due = !tw_s3_load_row(s, bucket, c[i].key, c[i].klen, &o) && o.found &&
              !strcmp(o.blob, c[i].blob) &&
              lc_rule_matches(ru, c[i].key, c[i].klen, o.size, o.tags) &&
              lc_expiry_ms(ru, o.modified_ms, lc_day_ms(s)) <= now;
    if (!due) {
      c[i].blob[0] = 0;
      tw_s3_row_free(&o);
      continue;
    }
    tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
    tw_store_hold(s->store);
    uint64_t t;
    if (mode != TW_S3_VERSIONING_OFF) {
      int64_t vseq = tw_s3_version_seq();
      char id[40] = "null";
      if (mode == TW_S3_VERSIONING_ENABLED) tw_s3_version_id(vseq, id);
      t = tw_store_s3_objects(s->store)->add_marker(s->store, bucket, c[i].key, c[i].klen,
                                                    mode == TW_S3_VERSIONING_ENABLED ? id : NULL,
                                                    vseq, now, mode);
      tw_s3_notify_version = id;
      tw_s3_notify(s, bucket, c[i].key, c[i].klen, "LifecycleExpiration:DeleteMarkerCreated", 0,
                   NULL, rid, LIFECYCLE_PRINCIPAL, LIFECYCLE_PRINCIPAL);
      tw_s3_notify_version = NULL;
      c[i].blob[0] = 0; /* the body stays a version's */
    } else {
      t = tw_store_s3_objects(s->store)->remove_if_blob(s->store, bucket, c[i].key, c[i].klen,
                                                        o.blob);
      tw_s3_notify(s, bucket, c[i].key, c[i].klen, "LifecycleExpiration:Delete", o.size, o.etag,
                   rid, LIFECYCLE_PRINCIPAL, LIFECYCLE_PRINCIPAL);
    }
    uint64_t t2 = tw_store_ticket(s->store);
    tw_store_release(s->store);
    tw_events_unlock(s->events);
    tw_s3_gc_object_set(s, bucket, c[i].key, c[i].klen, NULL, t2 > t ? t2 : t);
    if (t > last) last = t;
    if (t2 > last) last = t2;
    removed++;
    tw_s3_row_free(&o);
  }
  pthread_mutex_unlock(&s->mu);
  if (!removed) return 0;
  if (wait_committed(s, last, 0)) {
    tw_warn("lifecycle: %s: the store did not commit the expirations in time; files kept", bucket);
    return removed;
  }
  for (size_t i = 0; i < n; i++) {
    if (!c[i].blob[0]) continue;
    tw_s3_obj o; /* a failed commit leaves the row, and its file must stay */
    int kept = !tw_s3_load_row(s, bucket, c[i].key, c[i].klen, &o) && o.found &&
               !strcmp(o.blob, c[i].blob);
    tw_s3_row_free(&o);
    if (!kept) tw_blob_remove(s->blobs, c[i].blob);
  }
  tw_info("lifecycle: %s: %d object(s) expired", bucket, removed);
  return removed;
}

/* What a scan of a rule's objects collects: the due ones, up to the budget. */
typedef struct {
  lc_rule *ru;
  int64_t now, day;
  int budget;
  candidate *c;
  size_t n;
  int rows, cut;
} scan;

static int scan_row(void *ud, const tw_s3_lc_object *o) {
  scan *sc = ud;
  lc_rule *ru = sc->ru;
  json_t *tags = tw_s3_tags_load(o->tags);
  int due = lc_rule_matches(ru, o->key, o->klen, o->size, tags) &&
            lc_expiry_ms(ru, o->modified_ms, sc->day) <= sc->now;
  json_decref(tags);
  if (due && (int)sc->n == sc->budget) { /* resume here next pass */
    sc->cut = 1;
    return 1;
  }
  if (due) {
    candidate *c = &sc->c[sc->n];
    c->key = malloc(o->klen + 1);
    memcpy(c->key, o->key, o->klen);
    c->key[o->klen] = 0;
    c->klen = o->klen;
    snprintf(c->blob, sizeof c->blob, "%.36s", o->blob);
    sc->n++;
  }
  sc->rows++;
  set_cursor(ru, o->modified_ms, o->key, o->klen);
  return 0;
}

/* One scan of a rule with an Expiration; 1 when it stopped before the end. */
static int expire(tw_s3 *s, const char *bucket, lc_rule *ru, int *budget) {
  int64_t now = tw_now_ms(), day = lc_day_ms(s), cutoff;
  if (ru->days > 0)
    cutoff = (now / day - ru->days) * day; /* created at or before: due (see lc_expiry_ms) */
  else if (ru->has_date && now >= ru->date_ms)
    cutoff = INT64_MAX;
  else
    return 0;
  if (cutoff < 0) return 0;
  int by_key = ru->prefix && *ru->prefix;
  scan sc = {.ru = ru, .now = now, .day = day, .budget = *budget, .c = calloc(SCAN, sizeof *sc.c)};
  if (!sc.c) return 0;
  const tw_s3_lifecycle_repo *lc = tw_store_s3_lifecycle(s->store);
  /* an error ends the scan where it got to, as its end would */
  if (by_key)
    lc->objects_by_prefix(s->store, bucket, ru->prefix, ru->cur_key, ru->cur_klen, cutoff, SCAN,
                          scan_row, &sc);
  else
    lc->objects_by_age(s->store, bucket, cutoff, ru->cur_ms, ru->cur_key, ru->cur_klen, SCAN,
                       scan_row, &sc);
  candidate *c = sc.c;
  size_t n = sc.n;
  int rows = sc.rows, cut = sc.cut;
  int more = cut || rows == SCAN;
  if (!more) set_cursor(ru, -1, NULL, 0); /* the end: start again next time */
  if (n) *budget -= remove_objects(s, bucket, ru, c, n);
  for (size_t i = 0; i < n; i++) free(c[i].key);
  free(c);
  return more;
}

/* --- versions: NoncurrentVersionExpiration and ExpiredObjectDeleteMarker --- */

typedef struct {
  char *key;
  size_t klen;
  char vid[40]; /* "" for the null version */
  char blob[37];
  int marker;
} nc_candidate;

typedef struct {
  lc_rule *ru;
  int64_t now, day;
  int budget;
  nc_candidate *c;
  size_t n;
  int rows;
  /* the key being walked: how many noncurrent versions newer than this row */
  char *key;
  size_t klen;
  int64_t newer;
  /* the last key walked to its end, and where in c its candidates begin */
  char *done_key;
  size_t done_klen;
  size_t key_first;
  int full, past;
  const char *prefix;
} nc_scan;

static int nc_row(void *ud, const tw_s3_object_row *o) {
  nc_scan *sc = ud;
  lc_rule *ru = sc->ru;
  size_t pl = strlen(sc->prefix);
  if (o->key_len < pl || memcmp(o->key, sc->prefix, pl)) { /* past the rule's prefix */
    sc->past = 1;
    return 1;
  }
  if (!sc->key || o->key_len != sc->klen || memcmp(o->key, sc->key, sc->klen)) {
    if (sc->key) { /* the previous key is walked: its candidates stand */
      free(sc->done_key);
      sc->done_key = sc->key;
      sc->done_klen = sc->klen;
      sc->key = NULL;
    }
    if ((int)sc->n >= sc->budget) {
      sc->full = 1;
      return 1;
    }
    sc->key = malloc(o->key_len + 1);
    memcpy(sc->key, o->key, o->key_len);
    sc->klen = o->key_len;
    sc->newer = 0;
    sc->key_first = sc->n;
  }
  sc->rows++;
  int due = 0;
  if (o->delete_marker) {
    /* a latest marker with no version behind it */
    due = o->is_latest == 2 && ru->eodm == 1 && lc_rule_matches(ru, o->key, o->key_len, 0, NULL);
  } else if (!o->is_latest && ru->nc_days > 0) {
    json_t *tags = tw_s3_tags_load(o->tags);
    int64_t when = o->noncurrent_ms + ru->nc_days * sc->day;
    when = (when + sc->day - 1) / sc->day * sc->day; /* the next "midnight" */
    due = lc_rule_matches(ru, o->key, o->key_len, o->size, tags) && when <= sc->now &&
          sc->newer >= ru->nc_newer;
    json_decref(tags);
    sc->newer++;
  }
  if (due) {
    nc_candidate *c = &sc->c[sc->n++];
    c->key = malloc(o->key_len + 1);
    memcpy(c->key, o->key, o->key_len);
    c->klen = o->key_len;
    snprintf(c->vid, sizeof c->vid, "%s", o->version_id ? o->version_id : "");
    snprintf(c->blob, sizeof c->blob, "%.36s", o->blob ? o->blob : "");
    c->marker = o->delete_marker;
  }
  return 0;
}

/* Whether a latest marker still has no version behind it. */
typedef struct {
  const char *key;
  size_t klen;
  int rows, sole;
} sole_marker;

static int sole_row(void *ud, const tw_s3_object_row *o) {
  sole_marker *m = ud;
  if (o->key_len != m->klen || memcmp(o->key, m->key, m->klen)) return 1; /* the next key */
  if (m->rows++ == 0)
    m->sole = o->delete_marker && o->is_latest;
  else
    m->sole = 0;
  return 0;
}

static int remove_versions(tw_s3 *s, const char *bucket, nc_candidate *c, size_t n) {
  char rid[17];
  request_id(rid);
  const tw_s3_objects_repo *objects = tw_store_s3_objects(s->store);
  uint64_t last = 0;
  int removed = 0;
  pthread_mutex_lock(&s->mu);
  if (wait_committed(s, tw_store_ticket(s->store), 1)) {
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    const char *vid = c[i].vid[0] ? c[i].vid : NULL;
    tw_s3_object_row row;
    int still = objects->get_version(s->store, bucket, c[i].key, c[i].klen, vid, &row) == 1 &&
                row.delete_marker == c[i].marker &&
                (c[i].marker || !strcmp(row.blob ? row.blob : "", c[i].blob));
    int64_t vseq = row.vseq;
    tw_s3_object_row_free(&row);
    if (still && c[i].marker) { /* still the key's only version */
      sole_marker m = {c[i].key, c[i].klen, 0, 0};
      objects->list_versions(s->store, bucket, c[i].key, c[i].klen, INT64_MAX, c[i].key, c[i].klen,
                             2, sole_row, &m);
      still = m.rows == 1 && m.sole;
    }
    (void)vseq;
    if (!still) {
      c[i].blob[0] = 0;
      continue;
    }
    tw_events_lock(s->events); /* lock order: the bus (event targets), then the store batch */
    tw_store_hold(s->store);
    uint64_t t = objects->remove_version(s->store, bucket, c[i].key, c[i].klen, vid);
    tw_s3_notify_version = vid ? vid : "null";
    tw_s3_notify(s, bucket, c[i].key, c[i].klen, "LifecycleExpiration:Delete", 0, NULL, rid,
                 LIFECYCLE_PRINCIPAL, LIFECYCLE_PRINCIPAL);
    tw_s3_notify_version = NULL;
    uint64_t t2 = tw_store_ticket(s->store);
    tw_store_release(s->store);
    tw_events_unlock(s->events);
    if (t > last) last = t;
    if (t2 > last) last = t2;
    removed++;
  }
  pthread_mutex_unlock(&s->mu);
  if (!removed) return 0;
  if (wait_committed(s, last, 0)) {
    tw_warn("lifecycle: %s: the store did not commit the expirations in time; files kept", bucket);
    return removed;
  }
  for (size_t i = 0; i < n; i++) {
    if (c[i].marker || !c[i].blob[0]) continue;
    tw_s3_object_row row; /* a failed commit leaves the version, and its file must stay */
    int kept = objects->get_version(s->store, bucket, c[i].key, c[i].klen,
                                    c[i].vid[0] ? c[i].vid : NULL, &row) == 1;
    tw_s3_object_row_free(&row);
    if (!kept) tw_blob_remove(s->blobs, c[i].blob);
  }
  tw_info("lifecycle: %s: %d noncurrent version(s) or delete marker(s) expired", bucket, removed);
  return removed;
}

/* One scan of a rule's versions; 1 when it stopped before the end. A page
 * ends at a key's end (the count of newer noncurrent versions needs the
 * whole key), except for a key with more versions than a page holds. */
static int expire_versions(tw_s3 *s, const char *bucket, lc_rule *ru, int *budget) {
  nc_scan sc = {.ru = ru, .now = tw_now_ms(), .day = lc_day_ms(s), .budget = *budget};
  sc.c = calloc(SCAN, sizeof *sc.c);
  if (!sc.c) return 0;
  if (sc.budget > SCAN) sc.budget = SCAN;
  const char *prefix = ru->prefix ? ru->prefix : "";
  sc.prefix = prefix;
  int rows = tw_store_s3_objects(s->store)->list_noncurrent(
      s->store, bucket, ru->nc_key ? ru->nc_key : "", ru->nc_klen, INT64_MIN, prefix,
      strlen(prefix), SCAN, nc_row, &sc);
  int more = !sc.past && (sc.full || rows == SCAN);
  if (more && !sc.full && sc.done_key) {
    /* the page ended inside a key: walk that key again next time */
    for (size_t i = sc.key_first; i < sc.n; i++) free(sc.c[i].key);
    sc.n = sc.key_first;
  } else if (sc.key && !more) {
    free(sc.done_key);
    sc.done_key = NULL;
  } else if (sc.key) {
    free(sc.done_key); /* one key larger than a page: go on after it */
    sc.done_key = sc.key, sc.done_klen = sc.klen, sc.key = NULL;
  }
  free(ru->nc_key);
  ru->nc_key = NULL;
  ru->nc_klen = 0;
  if (more && sc.done_key) {
    ru->nc_key = sc.done_key, ru->nc_klen = sc.done_klen;
    sc.done_key = NULL;
  }
  if (sc.n) *budget -= remove_versions(s, bucket, sc.c, sc.n);
  for (size_t i = 0; i < sc.n; i++) free(sc.c[i].key);
  free(sc.c);
  free(sc.key);
  free(sc.done_key);
  return more;
}

static int add_id(void *ud, const char *upload) {
  json_array_append_new(ud, json_string(upload));
  return 0;
}

static void add_blob(void *ud, long num, const char *blob) {
  (void)num;
  json_array_append_new(ud, json_string(blob));
}

/* Aborts incomplete multipart uploads DaysAfterInitiation days old. */
static int abort_uploads(tw_s3 *s, const char *bucket, const lc_rule *ru, int *budget) {
  int64_t now = tw_now_ms(), day = lc_day_ms(s);
  int64_t cutoff = (now / day - ru->abort_days) * day;
  if (cutoff < 0) return 0;
  int limit = *budget < SCAN ? *budget : SCAN;
  json_t *ids = json_array();
  tw_store_s3_lifecycle(s->store)->uploads_by_prefix(s->store, bucket, ru->prefix, cutoff, limit,
                                                     add_id, ids);
  int more = (int)json_array_size(ids) == limit;
  if (!json_array_size(ids)) {
    json_decref(ids);
    return 0;
  }
  /* as AbortMultipartUpload; s->mu orders it against CompleteMultipartUpload */
  json_t *done = json_object(); /* upload id -> its part files */
  uint64_t last = 0;
  pthread_mutex_lock(&s->mu);
  if (!wait_committed(s, tw_store_ticket(s->store), 1)) {
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
      const char *upload = json_string_value(id);
      if (tw_store_s3_upload_exists(s->store, upload) != 1) continue;
      json_t *blobs = json_array();
      tw_store_s3_upload_parts(s->store, upload, add_blob, blobs);
      uint64_t t = tw_store_s3_uploads(s->store)->remove(s->store, upload);
      tw_s3_gc_upload_ended(s, json_string_value(id), t); /* no part is added to it now */
      if (t > last) last = t;
      json_object_set_new(done, json_string_value(id), blobs);
    }
  }
  pthread_mutex_unlock(&s->mu);
  json_decref(ids);
  *budget -= (int)json_object_size(done);
  if (last && !wait_committed(s, last, 0)) {
    const char *id;
    json_t *blobs;
    json_object_foreach(done, id, blobs) {
      int live = tw_store_s3_upload_exists(s->store, id); /* 1: the commit failed */
      if (live < 0) continue;
      size_t j;
      json_t *b;
      if (!live) json_array_foreach(blobs, j, b) tw_blob_remove(s->blobs, json_string_value(b));
    }
    tw_info("lifecycle: %s: %zu incomplete multipart upload(s) aborted", bucket,
            json_object_size(done));
  }
  json_decref(done);
  return more;
}

/* One pass over every bucket's enabled rules; 1 when work was left over. */
static int sweep(tw_s3 *s) {
  struct s3_lifecycle_state *st = s->lc;
  size_t n = 0, cap = 0;
  char **names = NULL;
  lc_cfg **cfgs = NULL;
  pthread_mutex_lock(&st->mu);
  tw_map_entry *it = NULL;
  const char *k;
  void *v;
  while ((it = tw_map_next(&st->by_bucket, it, &k, &v))) {
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      names = realloc(names, cap * sizeof *names);
      cfgs = realloc(cfgs, cap * sizeof *cfgs);
    }
    names[n] = strdup(k);
    cfgs[n] = v;
    atomic_fetch_add(&cfgs[n]->refs, 1);
    n++;
  }
  pthread_mutex_unlock(&st->mu);
  int budget = PASS_BUDGET, more = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < cfgs[i]->n && budget > 0 && !stopping(s); j++) {
      lc_rule *ru = &cfgs[i]->rules[j];
      if (!ru->enabled) continue;
      if (ru->days > 0 || ru->has_date) more |= expire(s, names[i], ru, &budget);
      if (ru->abort_days > 0 && budget > 0) more |= abort_uploads(s, names[i], ru, &budget);
      if ((ru->nc_days > 0 || ru->eodm == 1) && budget > 0)
        more |= expire_versions(s, names[i], ru, &budget);
    }
    more |= budget <= 0;
    lc_cfg_put(cfgs[i]);
    free(names[i]);
  }
  free(names);
  free(cfgs);
  return more;
}

static void *sweeper_main(void *arg) {
  tw_s3 *s = arg;
  struct s3_lifecycle_state *st = s->lc;
  int64_t cadence = lc_day_ms(s) / 4;
  if (cadence > 60000) cadence = 60000;
  if (cadence > tw_s3_gc_period_ms(s)) cadence = tw_s3_gc_period_ms(s); /* it runs that too */
  if (cadence < 100) cadence = 100;
  int more = 0;
  for (;;) {
    pthread_mutex_lock(&st->wake_mu);
    if (!st->kicked && !atomic_load(&st->stop)) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      int64_t wait = more ? 10 : cadence; /* left-over work goes on soon, in steps */
      ts.tv_sec += wait / 1000;
      ts.tv_nsec += (wait % 1000) * 1000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&st->wake, &st->wake_mu, &ts);
    }
    st->kicked = 0;
    pthread_mutex_unlock(&st->wake_mu);
    if (atomic_load(&st->stop)) break;
    /* cluster mode: only the node holding the lifecycle lock sweeps */
    more = !st->lead || tw_store_pg_lead(st->lead) == 1 ? sweep(s) : 0;
    tw_s3_gc_tick(s); /* bodies no row names, every few minutes (s3_gc.c) */
  }
  return NULL;
}

int lc_sweeper_start(tw_s3 *s) {
  struct s3_lifecycle_state *st = s->lc;
  if (s->cluster && !(st->lead = tw_store_pg_lead_open(s->store, "s3-lifecycle"))) return -1;
  pthread_mutex_init(&st->wake_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&st->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&st->thread, NULL, sweeper_main, s)) {
    tw_store_pg_lead_close(st->lead);
    st->lead = NULL;
    return -1;
  }
  st->started = 1;
  return 0;
}

void lc_sweeper_stop(tw_s3 *s) {
  struct s3_lifecycle_state *st = s->lc;
  if (!st || !st->started) return;
  pthread_mutex_lock(&st->wake_mu);
  atomic_store(&st->stop, 1);
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->wake_mu);
  pthread_join(st->thread, NULL);
  st->started = 0;
  tw_store_pg_lead_close(st->lead); /* another node may take the sweeps now */
  st->lead = NULL;
  pthread_cond_destroy(&st->wake);
  pthread_mutex_destroy(&st->wake_mu);
}

void lc_sweeper_kick(tw_s3 *s) {
  struct s3_lifecycle_state *st = s->lc;
  if (!st || !st->started) return;
  pthread_mutex_lock(&st->wake_mu);
  st->kicked = 1;
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->wake_mu);
}

/* API keys: created, listed and revoked by admins through /_/api/v1/apikeys;
 * a key is shown once and kept only as its SHA-256. Every key (revoked ones
 * too, so they get a precise error) lives in memory from start to shutdown,
 * found by hash on each request; the store keeps them across restarts.
 *
 * Cluster mode (the keys in PostgreSQL, store/pg_gw.h): memory is a cache of
 * the table. A key created or revoked on any node notifies every node, whose
 * listener reads the keys again (merge_key); a token not in memory is looked
 * up in the table before it is refused, and an id not in memory (or a
 * listing) reads the table first, so a key made on one node works on every
 * other as soon as its creation was answered. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/map.h"
#include "gateway/gateway_internal.h"
#include "store/gw_apikeys.h"
#include "store/pg_gw.h"

#define KEY_PREFIX "twk_"
#define MAX_KEYS 100000
#define MAX_NAME 100

typedef struct {
  char id[24];
  char hash[65];
  char name[MAX_NAME + 1];
  char prefix[16]; /* the key's first characters, to recognise it in listings */
  json_t *scopes;  /* never changed after creation: read without the lock */
  int64_t created_ms, expires_ms, revoked_ms; /* 0: none */
  double rate, burst;                         /* < 0: the server's default */
  tw_gw_bucket bucket;
} gw_key;

struct tw_gw_keys {
  pthread_rwlock_t lock;
  tw_map by_hash, by_id;
  gw_key **all; /* in creation order, for listings */
  size_t n, cap;
  gw_key **retired; /* taken back after a failed commit; requests may hold them */
  size_t nretired;
  atomic_uint_fast64_t synced_failures; /* tw_store_failures at the last resync */
  tw_pg_gw_listener *listener;          /* cluster mode: keys changed on any node */
};

static gw_key *key_new(void) {
  gw_key *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->rate = k->burst = -1;
  tw_gw_bucket_init(&k->bucket);
  return k;
}

static void key_free(gw_key *k) {
  json_decref(k->scopes);
  tw_gw_bucket_destroy(&k->bucket);
  free(k);
}

/* Under the write lock. */
static int key_add(tw_gw_keys *ks, gw_key *k) {
  if (ks->n == ks->cap) {
    size_t cap = ks->cap ? 2 * ks->cap : 64;
    gw_key **a = realloc(ks->all, cap * sizeof *a);
    if (!a) return -1;
    ks->all = a;
    ks->cap = cap;
  }
  if (tw_map_put(&ks->by_hash, k->hash, k) || tw_map_put(&ks->by_id, k->id, k)) return -1;
  ks->all[ks->n++] = k;
  return 0;
}

/* One saved key, at start. */
static int load_key(void *ud, const tw_gw_apikey_row *row) {
  tw_gw_keys *ks = ud;
  gw_key *k = key_new();
  if (!k) return -1;
  snprintf(k->id, sizeof k->id, "%s", row->id);
  snprintf(k->hash, sizeof k->hash, "%s", row->hash);
  snprintf(k->name, sizeof k->name, "%s", row->name);
  snprintf(k->prefix, sizeof k->prefix, "%s", row->prefix);
  k->scopes = json_loads(row->scopes_json, 0, NULL);
  k->created_ms = row->created_ms;
  k->expires_ms = row->expires_ms;
  k->revoked_ms = row->revoked_ms;
  k->rate = row->rate;
  k->burst = row->burst;
  if (!json_is_array(k->scopes)) { /* unreadable: keep it, allowing nothing */
    json_decref(k->scopes);
    k->scopes = json_array();
  }
  if (key_add(ks, k)) {
    key_free(k);
    return -1;
  }
  return 0;
}

/* --- cluster mode: memory follows the table ------------------------------------------- */

/* A row read from the table: a key this node does not know is added, a
 * revocation made elsewhere is taken over. */
static int merge_key(void *ud, const tw_gw_apikey_row *row) {
  tw_gw_keys *ks = ud;
  pthread_rwlock_wrlock(&ks->lock);
  gw_key *k = tw_map_get(&ks->by_id, row->id);
  int rc = 0;
  if (!k)
    rc = ks->n < MAX_KEYS ? load_key(ks, row) : 0;
  else if (row->revoked_ms && !k->revoked_ms)
    k->revoked_ms = row->revoked_ms;
  pthread_rwlock_unlock(&ks->lock);
  return rc;
}

static int cluster(const tw_gateway *g) {
  return g->app->pg_store != NULL;
}

/* Reads every key of the table into memory (cluster mode). */
static void keys_reload(tw_gateway *g) {
  tw_store *st = tw_gw_store(g->app);
  if (tw_store_gw_apikeys(st)->list(st, merge_key, g->keys))
    tw_warn("gateway: cannot read the API keys from the store");
}

/* The listener: a key was created or revoked on some node (id NULL: maybe
 * missed some). */
static void on_key_changed(void *ud, const char *id) {
  tw_gateway *g = ud;
  if (!id || tw_store_pg_gw_key_find(tw_gw_store(g->app), NULL, id, merge_key, g->keys) < 0)
    keys_reload(g);
}

int tw_gw_keys_open(tw_gateway *g, char *err, size_t errlen) {
  tw_gw_keys *ks = calloc(1, sizeof *ks);
  if (!ks) {
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
  }
  pthread_rwlock_init(&ks->lock, NULL);
  tw_map_init(&ks->by_hash);
  tw_map_init(&ks->by_id);
  g->keys = ks;
  atomic_store(&ks->synced_failures, tw_store_failures(tw_gw_store(g->app)));
  if (tw_store_gw_apikeys(tw_gw_store(g->app))->list(tw_gw_store(g->app), load_key, ks)) {
    snprintf(err, errlen, "gateway: cannot load the API keys");
    return -1;
  }
  if (cluster(g) &&
      !(ks->listener = tw_store_pg_gw_listen(tw_gw_store(g->app), on_key_changed, g))) {
    snprintf(err, errlen, "gateway: cannot start the API key listener");
    return -1;
  }
  return 0;
}

/* --- after a failed commit ------------------------------------------------------------- */

/* A key created or revoked in a batch that failed is not on disk, yet memory
 * has it: memory follows the store again. The change appended since are let
 * commit first (the lock keeps new ones out), then every key is compared with
 * its row: one without a row is taken back (kept allocated: a request may
 * hold it), a revocation that did not commit is undone. */
typedef struct {
  tw_map rows; /* id -> revoked_ms + 1 */
} resync_ctx;

static int note_row(void *ud, const tw_gw_apikey_row *row) {
  resync_ctx *x = ud;
  return tw_map_put(&x->rows, row->id, (void *)(intptr_t)(row->revoked_ms + 1));
}

void tw_gw_keys_resync(tw_gateway *g) {
  tw_gw_keys *ks = g->keys;
  tw_store *st = tw_gw_store(g->app);
  if (!ks || atomic_load(&ks->synced_failures) == tw_store_failures(st)) return;
  pthread_rwlock_wrlock(&ks->lock);
  uint64_t failures = tw_store_failures(st);
  if (atomic_load(&ks->synced_failures) == failures) { /* another thread did it */
    pthread_rwlock_unlock(&ks->lock);
    return;
  }
  atomic_store(&ks->synced_failures, failures);
  uint64_t t = tw_store_ticket(st);
  int64_t until = tw_now_ms() + 30000;
  while (tw_store_committed(st) < t && tw_now_ms() < until) usleep(1000);
  resync_ctx x;
  tw_map_init(&x.rows);
  if (tw_store_gw_apikeys(st)->list(st, note_row, &x) == 0) {
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < ks->n; i++) {
      gw_key *k = ks->all[i];
      void *v = tw_map_get(&x.rows, k->id);
      if (v) {
        k->revoked_ms = (int64_t)(intptr_t)v - 1;
        ks->all[kept++] = k;
        continue;
      }
      tw_map_del(&ks->by_hash, k->hash);
      tw_map_del(&ks->by_id, k->id);
      gw_key **r = realloc(ks->retired, (ks->nretired + 1) * sizeof *r);
      if (r) {
        ks->retired = r;
        ks->retired[ks->nretired++] = k;
      }
      dropped++;
    }
    ks->n = kept;
    if (dropped)
      tw_warn("gateway: a commit failed: %zu API key(s) that it held were taken back", dropped);
  } else {
    atomic_store(&ks->synced_failures, failures - 1); /* try again on the next tick */
  }
  tw_map_free(&x.rows);
  pthread_rwlock_unlock(&ks->lock);
}

void tw_gw_keys_close(tw_gateway *g) {
  tw_gw_keys *ks = g->keys;
  if (!ks) return;
  tw_store_pg_gw_listen_stop(ks->listener);
  for (size_t i = 0; i < ks->n; i++) key_free(ks->all[i]);
  for (size_t i = 0; i < ks->nretired; i++) key_free(ks->retired[i]);
  free(ks->retired);
  free(ks->all);
  tw_map_free(&ks->by_hash);
  tw_map_free(&ks->by_id);
  pthread_rwlock_destroy(&ks->lock);
  free(ks);
  g->keys = NULL;
}

tw_gw_key_status tw_gw_keys_lookup(tw_gateway *g, const char *token, tw_gw_caller *c,
                                   tw_gw_bucket **bucket, double *rate, double *burst) {
  tw_gw_keys *ks = g->keys;
  tw_gw_keys_resync(g); /* a failed commit's key changes are taken back first */
  char hash[65];
  tw_sha256_hex(token, strlen(token), hash);
  pthread_rwlock_rdlock(&ks->lock);
  gw_key *k = tw_map_get(&ks->by_hash, hash);
  int64_t revoked = k ? k->revoked_ms : 0;
  pthread_rwlock_unlock(&ks->lock);
  if (!k && cluster(g) &&
      tw_store_pg_gw_key_find(tw_gw_store(g->app), hash, NULL, merge_key, ks) == 1) {
    /* made on another node, its notification not here yet */
    pthread_rwlock_rdlock(&ks->lock);
    k = tw_map_get(&ks->by_hash, hash);
    revoked = k ? k->revoked_ms : 0;
    pthread_rwlock_unlock(&ks->lock);
  }
  if (!k) return TW_GW_KEY_UNKNOWN;
  if (revoked) return TW_GW_KEY_REVOKED;
  if (k->expires_ms && tw_now_ms() >= k->expires_ms) return TW_GW_KEY_EXPIRED;
  snprintf(c->principal, sizeof c->principal, "%s", k->name);
  snprintf(c->key_id, sizeof c->key_id, "%s", k->id);
  c->scopes = k->scopes;
  *bucket = &k->bucket;
  *rate = k->rate >= 0 ? k->rate : g->rate;
  *burst = k->burst >= 0 ? k->burst : g->burst;
  return TW_GW_KEY_OK;
}

/* --- the API -------------------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms) {
  if (!ms) return json_null();
  char t[32];
  tw_gw_iso8601(ms, 0, t);
  return json_string(t);
}

/* The key as listings show it (called with the lock held, or on a new key). */
static json_t *key_json(const gw_key *k, const char *secret) {
  const char *status = k->revoked_ms                                   ? "revoked"
                       : k->expires_ms && tw_now_ms() >= k->expires_ms ? "expired"
                                                                       : "active";
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(k->id));
  if (secret) json_object_set_new(o, "key", json_string(secret));
  json_object_set_new(o, "name", json_string(k->name));
  json_object_set_new(o, "key_prefix", json_string(k->prefix));
  json_object_set_new(o, "status", json_string(status));
  json_object_set(o, "scopes", k->scopes);
  json_object_set_new(o, "created_at", time_or_null(k->created_ms));
  json_object_set_new(o, "expires_at", time_or_null(k->expires_ms));
  json_object_set_new(o, "revoked_at", time_or_null(k->revoked_ms));
  json_object_set_new(o, "rate", k->rate >= 0 ? json_real(k->rate) : json_null());
  json_object_set_new(o, "burst", k->burst >= 0 ? json_real(k->burst) : json_null());
  return o;
}

static int printable(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return 0;
  return 1;
}

/* A number field in [lo, hi], or absent; -1 with the 400's message. */
static int number_field(json_t *body, const char *name, double lo, double hi, double *out,
                        char *msg, size_t n) {
  json_t *v = json_object_get(body, name);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
    snprintf(msg, n, "%s must be a number from %g to %g.", name, lo, hi);
    return -1;
  }
  *out = json_number_value(v);
  return 0;
}

int tw_gw_key_check(json_t *body, int64_t now, tw_gw_key_req *out, char *msg, size_t n) {
  const char *f;
  json_t *v;
  json_object_foreach(body, f, v) {
    if (strcmp(f, "name") && strcmp(f, "scopes") && strcmp(f, "expires_at") &&
        strcmp(f, "expires_in") && strcmp(f, "rate") && strcmp(f, "burst")) {
      snprintf(msg, n,
               "Unknown field '%.64s' (known: name, scopes, expires_at, expires_in, rate, burst).",
               f);
      return -1;
    }
  }
  json_t *name = json_object_get(body, "name");
  if (!json_is_string(name) || !json_string_length(name) || json_string_length(name) > MAX_NAME ||
      !printable(json_string_value(name))) {
    snprintf(msg, n, "name is required: a string of 1 to %d printable characters.", MAX_NAME);
    return -1;
  }
  json_t *scopes = json_object_get(body, "scopes");
  if (!scopes) {
    snprintf(msg, n, "scopes is required: an array of scope objects.");
    return -1;
  }
  if (tw_gw_scopes_check(scopes, msg, n)) return -1;
  if (!json_array_size(scopes)) {
    snprintf(msg, n, "scopes must hold at least one scope.");
    return -1;
  }
  int64_t expires = 0;
  json_t *ea = json_object_get(body, "expires_at"), *ei = json_object_get(body, "expires_in");
  if (ea && ei) {
    snprintf(msg, n, "Give expires_at or expires_in, not both.");
    return -1;
  }
  if (ea) {
    expires = json_is_string(ea) ? tw_gw_parse_time(json_string_value(ea)) : -1;
    if (expires < 0) {
      snprintf(msg, n, "expires_at must be a time like 2030-01-31T12:00:00Z.");
      return -1;
    }
  } else if (ei) {
    if (!json_is_integer(ei) || json_integer_value(ei) < 1 ||
        json_integer_value(ei) > (json_int_t)100 * 365 * 86400) {
      snprintf(msg, n, "expires_in must be a number of seconds from 1 to 3153600000.");
      return -1;
    }
    expires = now + (int64_t)json_integer_value(ei) * 1000;
  }
  if (ea && expires <= now) {
    snprintf(msg, n, "expires_at must be in the future.");
    return -1;
  }
  double rate = -1, burst = -1;
  if (number_field(body, "rate", 0, 1e7, &rate, msg, n) ||
      number_field(body, "burst", 1, 1e7, &burst, msg, n))
    return -1;
  out->name = json_string_value(name);
  out->scopes = scopes;
  out->expires_ms = expires;
  out->rate = rate;
  out->burst = burst;
  return 0;
}

static void create_key(tw_request *r) {
  tw_gateway *g = r->app->gateway;
  json_t *body = tw_gw_body_json(r);
  if (!body) return;
  int64_t now = tw_now_ms();
  tw_gw_key_req req;
  char msg[400];
  if (tw_gw_key_check(body, now, &req, msg, sizeof msg)) {
    json_decref(body);
    tw_gw_error(r, TW_ERR_GW_BAD_REQUEST, msg);
    return;
  }
  json_t *scopes = req.scopes;
  int64_t expires = req.expires_ms;
  double rate = req.rate, burst = req.burst;

  gw_key *k = key_new();
  if (!k) {
    json_decref(body);
    tw_gw_error(r, TW_ERR_INTERNAL, "Out of memory.");
    return;
  }
  uint8_t raw[32], idb[8];
  tw_random_bytes(raw, sizeof raw);
  tw_random_bytes(idb, sizeof idb);
  char b64[48], secret[64];
  size_t n = tw_base64_encode(raw, sizeof raw, b64);
  while (n && b64[n - 1] == '=') b64[--n] = 0;
  for (size_t i = 0; i < n; i++) b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
  snprintf(secret, sizeof secret, KEY_PREFIX "%s", b64);
  char idhex[17];
  tw_hex(idb, sizeof idb, idhex);
  snprintf(k->id, sizeof k->id, "ak_%s", idhex);
  tw_sha256_hex(secret, strlen(secret), k->hash);
  snprintf(k->name, sizeof k->name, "%s", req.name);
  snprintf(k->prefix, sizeof k->prefix, "%.10s", secret);
  k->scopes = json_deep_copy(scopes);
  k->created_ms = now;
  k->expires_ms = expires;
  k->rate = rate;
  k->burst = burst;
  json_decref(body);

  char *scopes_text = json_dumps(k->scopes, JSON_COMPACT);
  tw_gw_apikey_row row = {.id = k->id,
                          .hash = k->hash,
                          .name = k->name,
                          .prefix = k->prefix,
                          .scopes_json = scopes_text,
                          .created_ms = k->created_ms,
                          .expires_ms = k->expires_ms,
                          .rate = rate,
                          .burst = burst};
  /* The row is appended under the lock that makes the key visible: an answer
   * that saw the key (a listing) waits for a ticket that covers its row. */
  tw_gw_keys *ks = g->keys;
  uint64_t t = 0;
  pthread_rwlock_wrlock(&ks->lock);
  int full = ks->n >= MAX_KEYS;
  int failed = full || key_add(ks, k);
  if (!failed) t = tw_store_gw_apikeys(tw_gw_store(g->app))->insert(tw_gw_store(g->app), &row);
  pthread_rwlock_unlock(&ks->lock);
  if (failed) {
    free(scopes_text);
    key_free(k);
    tw_gw_error(r, full ? TW_ERR_GW_LIMIT_EXCEEDED : TW_ERR_INTERNAL,
                full ? "Too many API keys: revoke keys you no longer need." : "Out of memory.");
    return;
  }
  free(scopes_text);
  tw_gw_json_after_commit(r, t, 201, key_json(k, secret));
}

static void list_keys(tw_request *r, uint64_t failures) {
  tw_gw_keys *ks = r->app->gateway->keys;
  if (cluster(r->app->gateway)) keys_reload(r->app->gateway); /* other nodes' keys */
  json_t *arr = json_array();
  pthread_rwlock_rdlock(&ks->lock);
  for (size_t i = 0; i < ks->n; i++) json_array_append_new(arr, key_json(ks->all[i], NULL));
  uint64_t t = tw_store_ticket(tw_gw_store(r->app)); /* keys just added may still be committing */
  pthread_rwlock_unlock(&ks->lock);
  tw_gw_json_when_durable(r, 0, t, failures, 200, json_pack("{s:o}", "keys", arr));
}

static void one_key(tw_request *r, const char *id, int revoke, uint64_t failures) {
  tw_gateway *g = r->app->gateway;
  tw_gw_keys *ks = g->keys;
  if (cluster(g)) { /* made on another node, its notification not here yet */
    pthread_rwlock_rdlock(&ks->lock);
    int known = tw_map_get(&ks->by_id, id) != NULL;
    pthread_rwlock_unlock(&ks->lock);
    if (!known) keys_reload(g);
  }
  pthread_rwlock_wrlock(&ks->lock);
  gw_key *k = tw_map_get(&ks->by_id, id);
  if (!k) {
    pthread_rwlock_unlock(&ks->lock);
    char msg[200];
    snprintf(msg, sizeof msg, "No API key with id '%.64s'.", id);
    tw_gw_error(r, TW_ERR_NOT_FOUND, msg);
    return;
  }
  int changed = revoke && !k->revoked_ms;
  uint64_t t;
  if (changed) { /* from now on every lookup refuses it; the row goes with it */
    k->revoked_ms = tw_now_ms();
    t = tw_store_gw_apikeys(tw_gw_store(g->app))->revoke(tw_gw_store(g->app), id, k->revoked_ms);
  } else {
    /* a repeated revoke (or a read) answers what it saw once that is durable:
     * the first revoke may still be committing */
    t = tw_store_ticket(tw_gw_store(g->app));
  }
  json_t *doc = key_json(k, NULL);
  pthread_rwlock_unlock(&ks->lock);
  tw_gw_json_when_durable(r, changed ? t : 0, t, failures, 200, doc);
}

void tw_gw_apikeys_serve(tw_request *r, const char *sub) {
  /* read before any key is looked at (see tw_gw_json_when_durable) */
  uint64_t failures = tw_store_failures(tw_gw_store(r->app));
  tw_gw_keys_resync(r->app->gateway);
  if (!sub[0]) {
    if (!strcmp(r->method, "POST"))
      create_key(r);
    else
      list_keys(r, failures);
    return;
  }
  one_key(r, sub + 1, !strcmp(r->method, "DELETE"), failures);
}

#include "auth/credentials.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/policy.h"
#include "auth/secrets.h"
#include "core/crypto.h"
#include "core/log.h"
#include "store/pg_state.h"
#include "store/pg_users.h"

/* Cluster mode: where the users come from and the arrays replaced so far
 * (kept until tw_credentials_free: a request may still hold a tw_user). */
struct tw_creds_cluster {
  pthread_mutex_t mu;
  struct tw_store *store;
  int64_t version; /* the "users" counter the array was loaded at */
  tw_user **old;
  size_t *old_n, nold;
};

static void random_chars(char *out, size_t n, const char *alphabet) {
  size_t alen = strlen(alphabet);
  uint8_t b[128];
  tw_random_bytes(b, n);
  for (size_t i = 0; i < n; i++) out[i] = alphabet[b[i] % alen];
  out[n] = 0;
}

static int add(tw_credentials *c, const char *ak, const char *sk, const char *name) {
  tw_user *u = realloc(c->users, (c->n + 1) * sizeof *u);
  if (!u) return -1;
  c->users = u;
  u = &c->users[c->n++];
  memset(u, 0, sizeof *u);
  snprintf(u->access_key, sizeof u->access_key, "%s", ak);
  snprintf(u->secret, sizeof u->secret, "%s", sk);
  snprintf(u->name, sizeof u->name, "%s", name);
  return 0;
}

/* The user's "policies" list (JSON text), each document validated. */
static int add_policies(tw_credentials *c, tw_user *u, const char *list, size_t idx, char *err,
                        size_t errlen) {
  (void)c;
  json_t *arr = json_loads(list, 0, NULL);
  size_t n = json_array_size(arr);
  u->policies = calloc(n + 1, sizeof *u->policies);
  for (size_t i = 0; u->policies && i < n; i++) {
    char *text = json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_ENCODE_ANY);
    char why[512];
    tw_policy *p =
        text ? tw_policy_parse(text, strlen(text), TW_POLICY_IDENTITY, why, sizeof why) : NULL;
    free(text);
    if (!p) {
      snprintf(err, errlen, "users[%zu] (%s): policies[%zu] is not a valid policy: %s", idx,
               u->name, i, why);
      json_decref(arr);
      return -1;
    }
    u->policies[u->npolicies++] = p;
  }
  json_decref(arr);
  return 0;
}

static void generate_pair(char gak[21], char gsk[41]) {
  memcpy(gak, "TW", 2);
  random_chars(gak + 2, 18, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
  random_chars(gsk, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
}

/* <data>/credentials.json with the pair, 0600 whatever the umask. */
static int write_pair(const char *path, const char *ak, const char *sk) {
  json_t *n = json_pack("{s:s,s:s}", "access_key_id", ak, "secret_access_key", sk);
  char *text = json_dumps(n, JSON_INDENT(2));
  json_decref(n);
  int fd = text ? tw_secret_open(path, O_WRONLY | O_TRUNC) : -1;
  int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  free(text);
  return ok ? 0 : -1;
}

int tw_credentials_setup(tw_credentials *c, const tw_config *cfg, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  const char *ak = getenv("TWEEDLE_ACCESS_KEY_ID"), *sk = getenv("TWEEDLE_SECRET_ACCESS_KEY");
  if (ak && *ak && sk && *sk) {
    add(c, ak, sk, "env");
  } else {
    char path[1100];
    snprintf(path, sizeof path, "%s/credentials.json", cfg->data_dir);
    json_t *o = json_load_file(path, 0, NULL);
    const char *fa = json_string_value(json_object_get(o, "access_key_id"));
    const char *fs = json_string_value(json_object_get(o, "secret_access_key"));
    if (fa && fs) {
      add(c, fa, fs, "admin");
    } else if (!cfg->store_url[0]) { /* cluster mode: the cluster's, if it has one */
      char gak[21], gsk[41];
      generate_pair(gak, gsk);
      if (write_pair(path, gak, gsk)) {
        snprintf(err, errlen, "cannot write %s", path);
        json_decref(o);
        return -1;
      }
      add(c, gak, gsk, "admin");
      c->generated = 1;
    }
    json_decref(o);
  }
  for (size_t i = 0; i < cfg->nusers; i++) {
    add(c, cfg->users[i].access_key, cfg->users[i].secret,
        cfg->users[i].name[0] ? cfg->users[i].name : "user");
    if (cfg->users[i].policies &&
        add_policies(c, &c->users[c->n - 1], cfg->users[i].policies, i, err, errlen)) {
      tw_credentials_free(c);
      return -1;
    }
  }
  return 0;
}

static void free_users(tw_user *users, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < users[i].npolicies; k++) tw_policy_free(users[i].policies[k]);
    free(users[i].policies);
  }
  free(users);
}

void tw_credentials_free(tw_credentials *c) {
  free_users(c->users, c->n);
  if (c->cl) {
    for (size_t i = 0; i < c->cl->nold; i++) free_users(c->cl->old[i], c->cl->old_n[i]);
    free(c->cl->old);
    free(c->cl->old_n);
    pthread_mutex_destroy(&c->cl->mu);
    free(c->cl);
  }
  memset(c, 0, sizeof *c);
}

/* --- cluster mode -------------------------------------------------------------------- */

/* The users being loaded: entries past n (when users were removed) are
 * blank and match no key. */
typedef struct {
  tw_credentials next;
  size_t bad;
} loading;

static int load_one(void *ud, const tw_pg_user *u) {
  loading *l = ud;
  if (add(&l->next, u->access_key, u->secret, u->name)) return 1;
  if (u->policies) {
    char err[600];
    tw_user *nu = &l->next.users[l->next.n - 1];
    if (add_policies(&l->next, nu, u->policies, l->next.n - 1, err, sizeof err)) {
      /* a row no node validated: the user gets no access rather than full access */
      tw_warn("users: %s: %s; this user is refused", u->access_key, err);
      for (size_t k = 0; k < nu->npolicies; k++) tw_policy_free(nu->policies[k]);
      free(nu->policies);
      l->next.n--;
      l->bad++;
    }
  }
  return 0;
}

/* Reads the users and makes them c's (cl->mu held). 0, or -1. */
static int reload_locked(tw_credentials *c) {
  struct tw_creds_cluster *cl = c->cl;
  loading l = {0};
  int64_t version = 0;
  if (tw_store_pg_users_load(cl->store, load_one, &l, &version) || !l.next.n) {
    free_users(l.next.users, l.next.n);
    return -1;
  }
  size_t n = l.next.n, cur = __atomic_load_n(&c->n, __ATOMIC_ACQUIRE);
  tw_user *users = l.next.users;
  if (n < cur) { /* a reader may hold the old count: blank entries up to it */
    tw_user *p = realloc(users, cur * sizeof *p);
    if (!p) {
      free_users(users, n);
      return -1;
    }
    users = p;
    memset(users + n, 0, (cur - n) * sizeof *users);
  }
  tw_user **old = realloc(cl->old, (cl->nold + 1) * sizeof *old);
  if (old) cl->old = old;
  size_t *old_n = old ? realloc(cl->old_n, (cl->nold + 1) * sizeof *old_n) : NULL;
  if (!old_n) {
    free_users(users, n);
    return -1;
  }
  cl->old_n = old_n;
  cl->old[cl->nold] = c->users;
  cl->old_n[cl->nold++] = cur;
  /* the array first, then the count: a reader that sees the new count sees it */
  __atomic_store_n(&c->users, users, __ATOMIC_RELEASE);
  __atomic_store_n(&c->n, n, __ATOMIC_RELEASE);
  cl->version = version;
  return 0;
}

/* The counter moved on some node (listener thread): the users again. */
static void on_change(void *ud) {
  tw_credentials *c = ud;
  pthread_mutex_lock(&c->cl->mu);
  if (reload_locked(c)) tw_warn("users: cannot read the cluster's users; the known ones stay");
  pthread_mutex_unlock(&c->cl->mu);
}

/* A key not known here: when the cluster's users changed since they were
 * loaded (one indexed read), they are read again now. 1 when reloaded. */
static int refresh(tw_credentials *c) {
  struct tw_creds_cluster *cl = c->cl;
  if (!cl) return 0;
  int64_t v = tw_store_pg_state_read(cl->store, "users");
  pthread_mutex_lock(&cl->mu);
  int done = v > cl->version && !reload_locked(c);
  pthread_mutex_unlock(&cl->mu);
  return done;
}

int tw_credentials_cluster(tw_credentials *c, struct tw_store *pg, const tw_config *cfg, char *err,
                           size_t errlen) {
  /* this node's pairs: the first (environment or credentials.json), then the
   * config file's users with their policies as written there */
  tw_pg_user *mine = calloc(c->n + 1, sizeof *mine);
  if (!mine) return -1;
  size_t first = c->n - cfg->nusers; /* 0 or 1 */
  for (size_t i = 0; i < c->n; i++)
    mine[i] = (tw_pg_user){.access_key = c->users[i].access_key,
                           .secret = c->users[i].secret,
                           .name = c->users[i].name,
                           .policies = i >= first ? cfg->users[i - first].policies : NULL};
  char gak[21], gsk[41];
  generate_pair(gak, gsk);
  tw_pg_user gen = {.access_key = gak, .secret = gsk, .name = "admin"};
  int rc = tw_store_pg_users_put(pg, mine, c->n, c->n ? NULL : &gen);
  free(mine);
  if (rc) {
    snprintf(err, errlen, "cannot store the access keys in PostgreSQL");
    return -1;
  }
  struct tw_creds_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) return -1;
  pthread_mutex_init(&cl->mu, NULL);
  cl->store = pg;
  c->cl = cl;
  pthread_mutex_lock(&cl->mu);
  rc = reload_locked(c);
  pthread_mutex_unlock(&cl->mu);
  if (rc) {
    snprintf(err, errlen, "cannot read the access keys from PostgreSQL");
    return -1;
  }
  if (tw_credentials_user(c, gak)) { /* this node's pair is the cluster's first */
    char path[1100];
    snprintf(path, sizeof path, "%s/credentials.json", cfg->data_dir);
    if (write_pair(path, gak, gsk)) {
      snprintf(err, errlen, "cannot write %s", path);
      return -1;
    }
    c->generated = 1;
  }
  if (tw_store_pg_state_listen(pg, "users", on_change, c)) {
    snprintf(err, errlen, "cannot listen for changes of the access keys");
    return -1;
  }
  return 0;
}

/* --- lookups ------------------------------------------------------------------------- */

static const tw_user *find(const tw_credentials *c, const char *access_key) {
  size_t n = __atomic_load_n(&c->n, __ATOMIC_ACQUIRE);
  const tw_user *users = __atomic_load_n(&c->users, __ATOMIC_ACQUIRE);
  for (size_t i = 0; i < n; i++)
    if (users[i].access_key[0] && !strcmp(users[i].access_key, access_key)) return &users[i];
  return NULL;
}

const tw_user *tw_credentials_user(const tw_credentials *c, const char *access_key) {
  const tw_user *u = find(c, access_key);
  if (!u && c->cl && *access_key && refresh((tw_credentials *)c)) u = find(c, access_key);
  return u;
}

const char *tw_credentials_secret(void *ud, const char *access_key) {
  const tw_user *u = tw_credentials_user(ud, access_key);
  return u ? u->secret : NULL;
}

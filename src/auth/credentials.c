#include "auth/credentials.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/policy.h"
#include "auth/secrets.h"
#include "core/crypto.h"

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
    } else {
      char gak[21], gsk[41];
      memcpy(gak, "TW", 2);
      random_chars(gak + 2, 18, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
      random_chars(gsk, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
      json_t *n = json_pack("{s:s,s:s}", "access_key_id", gak, "secret_access_key", gsk);
      char *text = json_dumps(n, JSON_INDENT(2));
      json_decref(n);
      int fd = tw_secret_open(path, O_WRONLY | O_TRUNC); /* 0600 whatever the umask */
      int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
      if (fd >= 0) close(fd);
      free(text);
      if (!ok) {
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

void tw_credentials_free(tw_credentials *c) {
  for (size_t i = 0; i < c->n; i++) {
    for (size_t k = 0; k < c->users[i].npolicies; k++) tw_policy_free(c->users[i].policies[k]);
    free(c->users[i].policies);
  }
  free(c->users);
  memset(c, 0, sizeof *c);
}

const tw_user *tw_credentials_user(const tw_credentials *c, const char *access_key) {
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->users[i].access_key, access_key)) return &c->users[i];
  return NULL;
}

const char *tw_credentials_secret(void *ud, const char *access_key) {
  tw_credentials *c = ud;
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->users[i].access_key, access_key)) return c->users[i].secret;
  return NULL;
}

#include "http/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHAIN 16
#define MAX_PEM (1u << 20) /* a PEM file larger than this is not a certificate */

/* One loaded certificate chain and key. A session that was handed one may
 * refer to it until it ends, so a generation replaced by a reload is kept
 * (a few KiB) until the server stops. */
typedef struct gen {
  gnutls_pcert_st pcerts[MAX_CHAIN];
  unsigned npcerts;
  gnutls_privkey_t key;
  char about[512];
  struct gen *older;
} gen;

struct tw_tls {
  char cert_file[1024], key_file[1024];
  pthread_mutex_t mu; /* reloads, one at a time */
  gen *gens;          /* newest first */
};

static _Atomic(gen *) g_current;

int tw_tls_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                    gnutls_pcert_st **certs, unsigned int *ncerts, gnutls_ocsp_data_st **ocsp,
                    unsigned int *nocsp, gnutls_privkey_t *key, unsigned int *flags) {
  (void)session;
  (void)info;
  gen *g = atomic_load(&g_current);
  if (!g) return -1;
  *certs = g->pcerts;
  *ncerts = g->npcerts;
  *ocsp = NULL;
  *nocsp = 0;
  *key = g->key;
  *flags = 0; /* ours: kept until exit */
  return 0;
}

static void gen_free(gen *g) {
  for (unsigned i = 0; i < g->npcerts; i++) gnutls_pcert_deinit(&g->pcerts[i]);
  if (g->key) gnutls_privkey_deinit(g->key);
  free(g);
}

/* Reads a whole file into d (gnutls_free'd by the caller). */
static int read_file(const char *what, const char *path, gnutls_datum_t *d, char *err,
                     size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s %s: cannot open: %s", what, path, strerror(errno));
    return -1;
  }
  unsigned char *buf = gnutls_malloc(MAX_PEM + 1);
  size_t n = buf ? fread(buf, 1, MAX_PEM + 1, f) : 0;
  int bad = !buf || ferror(f);
  int e = errno;
  fclose(f);
  if (bad) {
    snprintf(err, errlen, "%s %s: cannot read: %s", what, path,
             buf ? strerror(e) : "out of memory");
    gnutls_free(buf);
    return -1;
  }
  if (n > MAX_PEM) {
    snprintf(err, errlen, "%s %s: larger than %u bytes: not a PEM file", what, path, MAX_PEM);
    gnutls_free(buf);
    return -1;
  }
  d->data = buf;
  d->size = (unsigned)n;
  return 0;
}

/* The DER encoding of a public key, for comparing two. */
static int pubkey_der(gnutls_pubkey_t pk, gnutls_datum_t *out) {
  return gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, out);
}

static void describe(gen *g, gnutls_x509_crt_t crt) {
  char dn[256] = "?";
  size_t dnl = sizeof dn;
  if (gnutls_x509_crt_get_dn(crt, dn, &dnl) < 0) snprintf(dn, sizeof dn, "?");
  unsigned char serial[40];
  size_t sl = sizeof serial;
  char hex[2 * sizeof serial + 1] = "?";
  if (gnutls_x509_crt_get_serial(crt, serial, &sl) == 0) {
    for (size_t i = 0; i < sl; i++) snprintf(hex + 2 * i, 3, "%02x", serial[i]);
  }
  time_t exp = gnutls_x509_crt_get_expiration_time(crt);
  struct tm tm;
  char when[32] = "?";
  if (exp != (time_t)-1 && gmtime_r(&exp, &tm))
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(g->about, sizeof g->about, "subject %s, serial %s, expires %s", dn, hex, when);
}

/* Loads a generation from the two files; NULL with err. */
static gen *load(const char *cert_file, const char *key_file, char *err, size_t errlen) {
  gnutls_datum_t cd = {0}, kd = {0}, a = {0}, b = {0};
  gnutls_pubkey_t kpub = NULL;
  gnutls_x509_crt_t crt = NULL;
  gen *g = calloc(1, sizeof *g);
  int rc;
  if (!g) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (read_file("--tls-cert", cert_file, &cd, err, errlen)) goto fail;
  if (read_file("--tls-key", key_file, &kd, err, errlen)) goto fail;
  g->npcerts = MAX_CHAIN;
  rc = gnutls_pcert_list_import_x509_raw(g->pcerts, &g->npcerts, &cd, GNUTLS_X509_FMT_PEM, 0);
  if (rc < 0 || g->npcerts == 0) {
    g->npcerts = 0;
    snprintf(err, errlen, "--tls-cert %s: no PEM certificate in it (%s)", cert_file,
             rc < 0 ? gnutls_strerror(rc) : "empty");
    goto fail;
  }
  if ((rc = gnutls_privkey_init(&g->key)) < 0 ||
      (rc = gnutls_privkey_import_x509_raw(g->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
    snprintf(err, errlen, "--tls-key %s: no unencrypted PEM private key in it (%s)", key_file,
             gnutls_strerror(rc));
    goto fail;
  }
  /* the key must be the certificate's */
  if ((rc = gnutls_pubkey_init(&kpub)) < 0 ||
      (rc = gnutls_pubkey_import_privkey(kpub, g->key, 0, 0)) < 0 ||
      (rc = pubkey_der(kpub, &a)) < 0 || (rc = pubkey_der(g->pcerts[0].pubkey, &b)) < 0) {
    snprintf(err, errlen, "--tls-key %s: cannot compare it with the certificate (%s)", key_file,
             gnutls_strerror(rc));
    goto fail;
  }
  if (a.size != b.size || memcmp(a.data, b.data, a.size)) {
    snprintf(err, errlen,
             "--tls-key %s does not belong to the certificate in --tls-cert %s (their public "
             "keys differ)",
             key_file, cert_file);
    goto fail;
  }
  if (gnutls_x509_crt_init(&crt) == 0 &&
      gnutls_x509_crt_import(crt, &g->pcerts[0].cert, GNUTLS_X509_FMT_DER) == 0)
    describe(g, crt);
  gnutls_free(cd.data);
  gnutls_free(kd.data);
  gnutls_free(a.data);
  gnutls_free(b.data);
  gnutls_pubkey_deinit(kpub);
  if (crt) gnutls_x509_crt_deinit(crt);
  return g;
fail:
  gnutls_free(cd.data);
  gnutls_free(kd.data);
  gnutls_free(a.data);
  gnutls_free(b.data);
  if (kpub) gnutls_pubkey_deinit(kpub);
  if (crt) gnutls_x509_crt_deinit(crt);
  gen_free(g);
  return NULL;
}

tw_tls *tw_tls_open(const char *cert_file, const char *key_file, char *err, size_t errlen) {
  if (!cert_file || !*cert_file || !key_file || !*key_file) {
    snprintf(err, errlen, "TLS needs both --tls-cert and --tls-key");
    return NULL;
  }
  tw_tls *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(t->cert_file, sizeof t->cert_file, "%s", cert_file);
  snprintf(t->key_file, sizeof t->key_file, "%s", key_file);
  t->gens = load(cert_file, key_file, err, errlen);
  if (!t->gens) {
    free(t);
    return NULL;
  }
  pthread_mutex_init(&t->mu, NULL);
  atomic_store(&g_current, t->gens);
  return t;
}

int tw_tls_reload(tw_tls *t, char *err, size_t errlen) {
  pthread_mutex_lock(&t->mu);
  gen *g = load(t->cert_file, t->key_file, err, errlen);
  if (g) {
    g->older = t->gens;
    t->gens = g;
    atomic_store(&g_current, g);
    snprintf(err, errlen, "%s", g->about);
  }
  pthread_mutex_unlock(&t->mu);
  return g ? 0 : -1;
}

void tw_tls_describe(tw_tls *t, char *out, size_t n) {
  pthread_mutex_lock(&t->mu);
  snprintf(out, n, "%s", t->gens->about);
  pthread_mutex_unlock(&t->mu);
}

void tw_tls_close(tw_tls *t) {
  if (!t) return;
  atomic_store(&g_current, NULL);
  for (gen *g = t->gens, *next; g; g = next) {
    next = g->older;
    gen_free(g);
  }
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* Message signing: an RSA 2048 key pair and a self-signed X.509 certificate,
 * generated on first start and kept in the data directory (sns-signing-key.pem,
 * mode 0600, and sns-signing-cert.pem), reused after a restart. Notifications
 * are signed as AWS signs them: PKCS#1 v1.5 over the string to sign, SHA1 for
 * SignatureVersion 1, SHA256 for 2, base64. The certificate is served at
 * <base>/_/sns/SimpleNotificationService-<md5 of the certificate>.pem. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "sns/sns_internal.h"
#include "store/sns.h"

#define KEY_FILE "sns-signing-key.pem"
#define CERT_FILE "sns-signing-cert.pem"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (1u << 20)) break; /* no PEM file is this large */
      buf = realloc(buf, cap + 1);
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  fclose(f);
  if (buf) buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* Writes the file whole or not at all: a temp file, fsync, rename, fsync of
 * the directory. */
static int write_file(const char *dir, const char *name, const char *data, size_t n, mode_t mode) {
  char tmp[4200], path[4200];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  if (fchmod(fd, mode)) { /* the mode whatever the umask: the key is 0600 */
    close(fd);
    unlink(tmp);
    return -1;
  }
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlink(tmp);
      return -1;
    }
    off += (size_t)w;
  }
  if (fsync(fd) || close(fd) || rename(tmp, path)) {
    unlink(tmp);
    return -1;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

static char *bio_text(BIO *b, size_t *len) {
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  if (n <= 0) return NULL;
  char *out = malloc((size_t)n + 1);
  memcpy(out, p, (size_t)n);
  out[n] = 0;
  if (len) *len = (size_t)n;
  return out;
}

/* The host of the base URL, for the certificate's subject. */
static void url_host(const char *url, char *out, size_t n) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t len = strcspn(p, ":/");
  if (len >= n) len = n - 1;
  memcpy(out, p, len);
  out[len] = 0;
  if (!out[0]) snprintf(out, n, "localhost");
}

static X509 *make_cert(EVP_PKEY *key, const char *host) {
  X509 *x = X509_new();
  if (!x) return NULL;
  unsigned char serial[16];
  tw_random_bytes(serial, sizeof serial);
  serial[0] &= 0x7f; /* a positive serial number */
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  X509_NAME *name = X509_NAME_new();
  int ok = sn && name && X509_set_version(x, 2) && X509_set_serialNumber(x, sn) &&
           X509_gmtime_adj(X509_getm_notBefore(x), -86400) &&
           X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL) &&
           X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tweedle", -1,
                                      -1, 0) &&
           X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
                                      0) &&
           X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
           X509_set_pubkey(x, key) && X509_sign(x, key, EVP_sha256()) > 0;
  BN_free(bn);
  ASN1_INTEGER_free(sn);
  X509_NAME_free(name);
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

static int sns_signing_use(tw_sns *s, EVP_PKEY *key, X509 *cert, char *err, size_t errlen);

/* Loads the pair, or makes and saves a new one. */
static int load_or_create(tw_sns *s, const char *dir, char *err, size_t errlen) {
  char kpath[4200], cpath[4200];
  snprintf(kpath, sizeof kpath, "%s/%s", dir, KEY_FILE);
  snprintf(cpath, sizeof cpath, "%s/%s", dir, CERT_FILE);
  size_t klen = 0, clen = 0;
  char *ktext = read_file(kpath, &klen);
  char *ctext = read_file(cpath, &clen);
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  if (ktext) {
    BIO *b = BIO_new_mem_buf(ktext, (int)klen);
    key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!key) {
      snprintf(err, errlen, "sns: %s is not a PEM private key (remove it to make a new pair)",
               kpath);
      free(ktext);
      free(ctext);
      return -1;
    }
  }
  if (key && ctext) {
    BIO *b = BIO_new_mem_buf(ctext, (int)clen);
    cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (cert && X509_check_private_key(cert, key) != 1) {
      tw_warn("sns: %s does not match %s: making a new certificate", cpath, kpath);
      X509_free(cert);
      cert = NULL;
    }
  }
  free(ktext);
  free(ctext);
  int created = 0;
  if (!key) {
    key = EVP_RSA_gen(2048);
    if (!key) {
      snprintf(err, errlen, "sns: cannot generate the signing key");
      return -1;
    }
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    size_t n = 0;
    char *pem = bio_text(b, &n);
    BIO_free(b);
    int rc = pem ? write_file(dir, KEY_FILE, pem, n, 0600) : -1;
    if (pem) OPENSSL_cleanse(pem, n);
    free(pem);
    if (rc) {
      snprintf(err, errlen, "sns: cannot write %s: %s", kpath, strerror(errno));
      EVP_PKEY_free(key);
      return -1;
    }
    created = 1;
  }
  if (!cert) {
    char host[256];
    url_host(s->base_url, host, sizeof host);
    cert = make_cert(key, host);
    if (!cert) {
      snprintf(err, errlen, "sns: cannot make the signing certificate");
      EVP_PKEY_free(key);
      return -1;
    }
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cert);
    size_t n = 0;
    char *pem = bio_text(b, &n);
    BIO_free(b);
    if (!pem || write_file(dir, CERT_FILE, pem, n, 0644)) {
      snprintf(err, errlen, "sns: cannot write %s: %s", cpath, strerror(errno));
      free(pem);
      X509_free(cert);
      EVP_PKEY_free(key);
      return -1;
    }
    free(pem);
    created = 1;
  }
  if (created) tw_info("sns: new signing key pair in %s (%s, %s)", dir, KEY_FILE, CERT_FILE);
  return sns_signing_use(s, key, cert, err, errlen);
}

/* Takes key and cert over: the served form, and its name. */
static int sns_signing_use(tw_sns *s, EVP_PKEY *key, X509 *cert, char *err, size_t errlen) {
  /* the served form, and its name: the MD5 of the DER certificate, as AWS
   * names its certificates */
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  s->cert_pem = bio_text(b, &s->cert_len);
  BIO_free(b);
  unsigned char *der = NULL;
  int dlen = i2d_X509(cert, &der);
  char md5[33] = "";
  if (dlen > 0) tw_md5_hex(der, (size_t)dlen, md5);
  OPENSSL_free(der);
  X509_free(cert);
  snprintf(s->cert_path, sizeof s->cert_path, "/_/sns/SimpleNotificationService-%s.pem", md5);
  s->key = key;
  if (!s->cert_pem) {
    snprintf(err, errlen, "sns: cannot encode the signing certificate");
    return -1;
  }
  return 0;
}

/* Cluster mode: one key pair for every node, kept in PostgreSQL (tw_meta
 * 'sns_signing_pair': the key's PEM then the certificate's), made by the
 * first node that found none; a notification signed on any node verifies
 * against the certificate every node serves. */
#define SHARED_NAME "sns_signing_pair"
static int shared_pair(tw_sns *s, const tw_sns_repo *repo, char *err, size_t errlen) {
  char *text = repo->shared_value(s->store, SHARED_NAME, NULL);
  if (!text) {
    EVP_PKEY *k = EVP_RSA_gen(2048);
    char host[256];
    url_host(s->base_url, host, sizeof host);
    X509 *x = k ? make_cert(k, host) : NULL;
    BIO *b = BIO_new(BIO_s_mem());
    int ok =
        x && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) && PEM_write_bio_X509(b, x);
    size_t n = 0;
    char *pem = ok ? bio_text(b, &n) : NULL;
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
    if (pem) text = repo->shared_value(s->store, SHARED_NAME, pem);
    if (pem) OPENSSL_cleanse(pem, n);
    free(pem);
    if (!text) {
      snprintf(err, errlen, "sns: cannot make or store the cluster's signing key pair");
      return -1;
    }
  }
  size_t len = strlen(text);
  BIO *b = BIO_new_mem_buf(text, (int)len);
  EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  b = BIO_new_mem_buf(text, (int)len);
  X509 *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  OPENSSL_cleanse(text, len);
  free(text);
  if (!key || !cert || X509_check_private_key(cert, key) != 1) {
    EVP_PKEY_free(key);
    X509_free(cert);
    snprintf(err, errlen, "sns: the cluster's signing key pair in PostgreSQL does not read");
    return -1;
  }
  return sns_signing_use(s, key, cert, err, errlen);
}

int sns_signing_open(tw_sns *s, const char *data_dir, char *err, size_t errlen) {
  const tw_sns_repo *repo = tw_store_sns(s->store);
  if (repo->shared_value) return shared_pair(s, repo, err, errlen);
  return load_or_create(s, data_dir, err, errlen);
}

void sns_signing_close(tw_sns *s) {
  EVP_PKEY_free(s->key);
  s->key = NULL;
  free(s->cert_pem);
  s->cert_pem = NULL;
}

char *sns_sign(tw_sns *s, int version, const char *data, size_t n) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return NULL;
  unsigned char sig[1024];
  size_t siglen = sizeof sig;
  char *out = NULL;
  /* a key is read-only once made: threads sign with it at once, each with its own context */
  if (EVP_DigestSignInit(ctx, NULL, version == 2 ? EVP_sha256() : EVP_sha1(), NULL, s->key) == 1 &&
      EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data, n) == 1) {
    out = malloc(4 * ((siglen + 2) / 3) + 1);
    tw_base64_encode(sig, siglen, out);
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

void sns_cert_url(const tw_sns *s, char *out, size_t n) {
  snprintf(out, n, "%s%s", s->base_url, s->cert_path);
}

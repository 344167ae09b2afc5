/* Blocking HTTP/1.1 client: non-blocking sockets driven by poll() so every
 * wait has a deadline and a cancel token can interrupt it.
 *
 * Hand-written rather than libcurl's easy interface: the same API on libcurl
 * (one CURL handle per tw_http, read/write callbacks, socket callbacks for
 * the cancel token) cost the worker 65-75% more CPU per message and about a
 * quarter of its throughput in bench/worker.sh, measured side by side (see
 * docs/internals.md). Outbound features this client lacks (proxies, SMTP,
 * richer TLS options) are where libcurl would come in. */
#include "net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"

#define MAX_HEAD (64u << 10)
#define IO_CHUNK (256u << 10)

struct tw_http {
  tw_url u;
  int fd;
  SSL *ssl;
  int timeout_s;
  int64_t deadline_ms; /* the call's end (tw_mono_ms), 0: none */
  int call_timeout_ms; /* the call's timeout_ms, for the message */
  int used;            /* requests answered on this connection */
  char rb[16384];
  size_t rpos, rlen;
  char *io;    /* IO_CHUNK bytes for file bodies */
  tw_buf head; /* the request head, reused call after call */
};

/* --- URLs ---------------------------------------------------------------------- */

int tw_url_parse(const char *s, tw_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  const char *p;
  if (!strncasecmp(s, "http://", 7)) {
    p = s + 7;
  } else if (!strncasecmp(s, "https://", 8)) {
    p = s + 8;
    u->tls = 1;
  } else {
    snprintf(err, errlen, "endpoint '%s' must start with http:// or https://", s);
    return -1;
  }
  const char *hend;
  if (*p == '[') { /* IPv6 literal */
    hend = strchr(p, ']');
    if (!hend) goto bad;
    if ((size_t)(hend - p - 1) >= sizeof u->host) goto bad;
    memcpy(u->host, p + 1, (size_t)(hend - p - 1));
    hend++;
  } else {
    hend = p + strcspn(p, ":/?#");
    if (hend == p || (size_t)(hend - p) >= sizeof u->host) goto bad;
    memcpy(u->host, p, (size_t)(hend - p));
  }
  const char *rest = hend;
  int explicit_port = 0;
  if (*rest == ':') {
    rest++;
    size_t n = strspn(rest, "0123456789");
    if (n == 0 || n > 5 || atoi(rest) <= 0 || atoi(rest) > 65535) goto bad;
    memcpy(u->port, rest, n);
    rest += n;
    explicit_port = 1;
  } else {
    snprintf(u->port, sizeof u->port, "%s", u->tls ? "443" : "80");
  }
  if (*rest && *rest != '/') goto bad;
  size_t plen = strcspn(rest, "?#");
  while (plen && rest[plen - 1] == '/') plen--;
  if (plen >= sizeof u->path) goto bad;
  memcpy(u->path, rest, plen);
  int dflt = !strcmp(u->port, u->tls ? "443" : "80");
  int v6 = strchr(u->host, ':') != NULL;
  snprintf(u->hostport, sizeof u->hostport, "%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
           explicit_port && !dflt ? ":" : "", explicit_port && !dflt ? u->port : "");
  return 0;
bad:
  snprintf(err, errlen, "cannot parse endpoint URL '%s'", s);
  return -1;
}

int tw_url_resolve(const tw_url *u, char *err, size_t errlen) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rc = getaddrinfo(u->host, u->port, &hints, &ai);
  if (rc) {
    snprintf(err, errlen, "cannot resolve %s:%s: %s", u->host, u->port, gai_strerror(rc));
    return -1;
  }
  freeaddrinfo(ai);
  return 0;
}

int tw_http_uri_encode(tw_buf *b, const char *s, size_t n, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      if (tw_buf_putc(b, (char)c)) return -1;
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      if (tw_buf_append(b, e, 3)) return -1;
    }
  }
  return 0;
}

/* --- cancel tokens ---------------------------------------------------------------- */

void tw_http_cancel_init(tw_http_cancel *c) {
  pthread_mutex_init(&c->mu, NULL);
  c->fd = -1;
  c->fired = 0;
}

void tw_http_cancel_destroy(tw_http_cancel *c) {
  pthread_mutex_destroy(&c->mu);
}

void tw_http_cancel_fire(tw_http_cancel *c) {
  pthread_mutex_lock(&c->mu);
  c->fired = 1;
  if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
  pthread_mutex_unlock(&c->mu);
}

int tw_http_cancel_fired(tw_http_cancel *c) {
  pthread_mutex_lock(&c->mu);
  int f = c->fired;
  pthread_mutex_unlock(&c->mu);
  return f;
}

/* Registers fd with the token; -1 when it has already fired. */
static int cancel_attach(tw_http_cancel *c, int fd) {
  if (!c) return 0;
  pthread_mutex_lock(&c->mu);
  int fired = c->fired;
  if (!fired) c->fd = fd;
  pthread_mutex_unlock(&c->mu);
  return fired ? -1 : 0;
}

static void cancel_detach(tw_http_cancel *c) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  c->fd = -1;
  pthread_mutex_unlock(&c->mu);
}

/* --- TLS ---------------------------------------------------------------------------- */

static SSL_CTX *g_ctx;
static char g_ctx_err[1200];
static pthread_once_t g_ctx_once = PTHREAD_ONCE_INIT;
static char g_ca_bundle[1024]; /* --ca-bundle */

int tw_http_set_ca_bundle(const char *pem_file, char *err, size_t errlen) {
  FILE *f = fopen(pem_file, "r");
  if (!f) {
    snprintf(err, errlen, "--ca-bundle %s: %s", pem_file, strerror(errno));
    return -1;
  }
  fclose(f);
  if (strlen(pem_file) >= sizeof g_ca_bundle) {
    snprintf(err, errlen, "--ca-bundle: path too long");
    return -1;
  }
  snprintf(g_ca_bundle, sizeof g_ca_bundle, "%s", pem_file);
  return 0;
}

static void ctx_init(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(g_ctx_err, sizeof g_ctx_err, "cannot create a TLS context");
    return;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  const char *bundle = g_ca_bundle[0] ? g_ca_bundle : getenv("AWS_CA_BUNDLE");
  if (bundle && *bundle) {
    if (SSL_CTX_load_verify_locations(ctx, bundle, NULL) != 1) {
      unsigned long le = ERR_get_error();
      char ebuf[160] = "no PEM certificate in it";
      if (le) ERR_error_string_n(le, ebuf, sizeof ebuf);
      snprintf(g_ctx_err, sizeof g_ctx_err, "cannot load the CA bundle %s (%s): %s", bundle,
               g_ca_bundle[0] ? "--ca-bundle" : "AWS_CA_BUNDLE", ebuf);
      SSL_CTX_free(ctx);
      return;
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  g_ctx = ctx;
}

/* --- connections ---------------------------------------------------------------------- */

tw_http *tw_http_new(const tw_url *u) {
  tw_http *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->u = *u;
  h->fd = -1;
  h->timeout_s = 60;
  tw_buf_init(&h->head, MAX_HEAD);
  return h;
}

void tw_http_close(tw_http *h) {
  if (h->ssl) {
    SSL_free(h->ssl);
    h->ssl = NULL;
  }
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  h->used = 0;
  h->rpos = h->rlen = 0;
}

void tw_http_free(tw_http *h) {
  if (!h) return;
  tw_http_close(h);
  free(h->io);
  tw_buf_free(&h->head);
  free(h);
}

void tw_http_set_timeout(tw_http *h, int seconds) {
  h->timeout_s = seconds > 0 ? seconds : 60;
}

const tw_url *tw_http_url(const tw_http *h) {
  return &h->u;
}

/* Waits until fd is ready for ev. 0, or -1 with err set (timeout, cancel). */
static int wait_fd(tw_http *h, short ev, char *err, size_t errlen) {
  struct pollfd p = {.fd = h->fd, .events = ev};
  for (;;) {
    int ms = h->timeout_s * 1000;
    if (h->deadline_ms) {
      int64_t left = h->deadline_ms - tw_mono_ms();
      if (left <= 0) {
        snprintf(err, errlen, "no answer from %s within %d ms", h->u.hostport, h->call_timeout_ms);
        return -1;
      }
      if (left < ms) ms = (int)left;
    }
    int n = poll(&p, 1, ms);
    if (n > 0) return 0;
    if (n == 0) {
      if (h->deadline_ms && tw_mono_ms() >= h->deadline_ms) continue; /* said above */
      snprintf(err, errlen, "timed out after %d s talking to %s", h->timeout_s, h->u.hostport);
      return -1;
    }
    if (errno != EINTR) {
      snprintf(err, errlen, "poll: %s", strerror(errno));
      return -1;
    }
  }
}

/* Runs one TLS call; on WANT_READ/WRITE waits and says to retry (1). */
static int tls_wait(tw_http *h, int rc, char *err, size_t errlen) {
  int e = SSL_get_error(h->ssl, rc);
  if (e == SSL_ERROR_WANT_READ) return wait_fd(h, POLLIN, err, errlen) ? -1 : 1;
  if (e == SSL_ERROR_WANT_WRITE) return wait_fd(h, POLLOUT, err, errlen) ? -1 : 1;
  unsigned long le = ERR_get_error();
  char ebuf[160] = "";
  if (le) ERR_error_string_n(le, ebuf, sizeof ebuf);
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  snprintf(err, errlen, "TLS error with %s: %s", h->u.hostport,
           ebuf[0] ? ebuf : (e == SSL_ERROR_SYSCALL ? strerror(errno) : "connection failed"));
  return -1;
}

static int conn_open(tw_http *h, tw_http_cancel *cancel, char *err, size_t errlen) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rc = getaddrinfo(h->u.host, h->u.port, &hints, &ai);
  if (rc) {
    snprintf(err, errlen, "cannot resolve %s: %s", h->u.host, gai_strerror(rc));
    return -1;
  }
  int fd = -1, e = 0;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      e = errno;
      continue;
    }
    h->fd = fd;
    if (cancel_attach(cancel, fd)) {
      freeaddrinfo(ai);
      tw_http_close(h);
      snprintf(err, errlen, "cancelled");
      return -1;
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      if (wait_fd(h, POLLOUT, err, errlen) == 0) {
        socklen_t sl = sizeof e;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl);
        if (e == 0) break;
      } else {
        e = ETIMEDOUT;
      }
    } else {
      e = errno;
    }
    cancel_detach(cancel);
    close(fd);
    h->fd = fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) {
    snprintf(err, errlen, "cannot connect to %s: %s", h->u.hostport,
             strerror(e ? e : ECONNREFUSED));
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (h->u.tls) {
    pthread_once(&g_ctx_once, ctx_init);
    if (!g_ctx) {
      snprintf(err, errlen, "%s", g_ctx_err);
      tw_http_close(h);
      return -1;
    }
    h->ssl = SSL_new(g_ctx);
    if (!h->ssl) {
      snprintf(err, errlen, "cannot create a TLS session");
      tw_http_close(h);
      return -1;
    }
    SSL_set_fd(h->ssl, fd);
    struct in6_addr a6;
    if (inet_pton(AF_INET, h->u.host, &a6) == 1 || inet_pton(AF_INET6, h->u.host, &a6) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h->ssl), h->u.host);
    } else {
      SSL_set_tlsext_host_name(h->ssl, h->u.host);
      SSL_set1_host(h->ssl, h->u.host);
    }
    for (;;) {
      ERR_clear_error();
      int r = SSL_connect(h->ssl);
      if (r == 1) break;
      int w = tls_wait(h, r, err, errlen);
      if (w <= 0) {
        if (w == 0) snprintf(err, errlen, "TLS handshake with %s failed", h->u.hostport);
        long vr = SSL_get_verify_result(h->ssl);
        if (vr != X509_V_OK) { /* the cause, not OpenSSL's "certificate verify failed" */
          int name = vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH;
          int chain = vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                      vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
                      vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
                      vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                      vr == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
          snprintf(err, errlen, "TLS with %s: certificate verify failed: %s%s", h->u.hostport,
                   X509_verify_cert_error_string(vr),
                   name    ? " (it names another host: connect by a name or address it lists)"
                   : chain ? " (trust its CA with --ca-bundle FILE or AWS_CA_BUNDLE)"
                           : "");
        }
        tw_http_close(h);
        return -1;
      }
    }
  }
  h->used = 0;
  h->rpos = h->rlen = 0;
  return 0;
}

static int io_write(tw_http *h, const char *p, size_t n, char *err, size_t errlen) {
  while (n) {
    ssize_t w;
    if (h->ssl) {
      ERR_clear_error();
      int r = SSL_write(h->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
      if (r <= 0) {
        int t = tls_wait(h, r, err, errlen);
        if (t == 1) continue;
        if (t == 0) snprintf(err, errlen, "connection closed by %s", h->u.hostport);
        return -1;
      }
      w = r;
    } else {
      w = send(h->fd, p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (wait_fd(h, POLLOUT, err, errlen)) return -1;
          continue;
        }
        snprintf(err, errlen, "send to %s: %s", h->u.hostport, strerror(errno));
        return -1;
      }
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes a then b, in one sendmsg when the connection is plain TCP. */
static int io_write2(tw_http *h, const char *a, size_t an, const char *b, size_t bn, char *err,
                     size_t errlen) {
  if (h->ssl || !bn) {
    if (io_write(h, a, an, err, errlen)) return -1;
    return bn ? io_write(h, b, bn, err, errlen) : 0;
  }
  while (an) {
    struct iovec iov[2] = {{(void *)a, an}, {(void *)b, bn}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w = sendmsg(h->fd, &mh, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (wait_fd(h, POLLOUT, err, errlen)) return -1;
        continue;
      }
      snprintf(err, errlen, "send to %s: %s", h->u.hostport, strerror(errno));
      return -1;
    }
    if ((size_t)w < an) {
      a += w;
      an -= (size_t)w;
    } else {
      size_t rest = (size_t)w - an;
      an = 0;
      b += rest;
      bn -= rest;
    }
  }
  return io_write(h, b, bn, err, errlen);
}

/* Reads what is available (waiting for at least one byte): >0 bytes, 0 EOF, -1 error. */
static ssize_t io_read(tw_http *h, char *p, size_t n, char *err, size_t errlen) {
  for (;;) {
    if (h->ssl) {
      ERR_clear_error();
      int r = SSL_read(h->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
      if (r > 0) return r;
      int t = tls_wait(h, r, err, errlen);
      if (t == 1) continue;
      return t == 0 ? 0 : -1;
    }
    ssize_t r = recv(h->fd, p, n, 0);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_fd(h, POLLIN, err, errlen)) return -1;
      continue;
    }
    snprintf(err, errlen, "recv from %s: %s", h->u.hostport, strerror(errno));
    return -1;
  }
}

/* Makes at least one unread byte available in rb: 1, 0 at EOF, -1 error. */
static int fill(tw_http *h, char *err, size_t errlen) {
  if (h->rpos < h->rlen) return 1;
  h->rpos = h->rlen = 0;
  ssize_t r = io_read(h, h->rb, sizeof h->rb, err, errlen);
  if (r <= 0) return (int)r;
  h->rlen = (size_t)r;
  return 1;
}

/* --- responses ---------------------------------------------------------------------- */

void tw_http_resp_init(tw_http_resp *r) {
  memset(r, 0, sizeof *r);
  tw_buf_init(&r->body, 1 << 20);
  tw_buf_init(&r->head, MAX_HEAD);
}

void tw_http_resp_free(tw_http_resp *r) {
  tw_buf_free(&r->body);
  tw_buf_free(&r->head);
}

const char *tw_http_resp_header(const tw_http_resp *r, const char *name, char *out, size_t n) {
  size_t nl = strlen(name);
  const char *p = r->head.data, *end = p ? p + r->head.len : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
      const char *v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t len = (size_t)(ve - v);
      if (len >= n) len = n - 1;
      memcpy(out, v, len);
      out[len] = 0;
      return out;
    }
    p = eol + 1;
  }
  return NULL;
}

/* Reads one CRLF-terminated line (without the CRLF) into line. */
static int read_line(tw_http *h, char *line, size_t cap, char *err, size_t errlen) {
  size_t n = 0;
  for (;;) {
    int f = fill(h, err, errlen);
    if (f <= 0) {
      if (f == 0) snprintf(err, errlen, "connection closed by %s mid-response", h->u.hostport);
      return -1;
    }
    char c = h->rb[h->rpos++];
    if (c == '\n') break;
    if (n + 1 >= cap) {
      snprintf(err, errlen, "response line too long from %s", h->u.hostport);
      return -1;
    }
    line[n++] = c;
  }
  if (n && line[n - 1] == '\r') n--;
  line[n] = 0;
  return 0;
}

typedef struct {
  int to_fd;
  tw_http_resp *resp;
} body_sink;

static int sink_put(body_sink *s, const char *p, size_t n, char *err, size_t errlen) {
  s->resp->body_bytes += n;
  if (s->to_fd >= 0) {
    while (n) {
      ssize_t w = write(s->to_fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        snprintf(err, errlen, "writing the response body: %s", strerror(errno));
        return -1;
      }
      p += w;
      n -= (size_t)w;
    }
    return 0;
  }
  if (tw_buf_append(&s->resp->body, p, n)) {
    snprintf(err, errlen, "response body larger than %zu bytes", s->resp->body.cap);
    return -1;
  }
  return 0;
}

/* Passes up to `want` body bytes (UINT64_MAX: until EOF) to the sink. */
static int read_body(tw_http *h, body_sink *s, uint64_t want, char *err, size_t errlen) {
  while (want) {
    int f = fill(h, err, errlen);
    if (f < 0) return -1;
    if (f == 0) {
      if (want == UINT64_MAX) return 0;
      snprintf(err, errlen, "connection closed by %s mid-body", h->u.hostport);
      return -1;
    }
    size_t avail = h->rlen - h->rpos;
    size_t take = want < avail ? (size_t)want : avail;
    if (sink_put(s, h->rb + h->rpos, take, err, errlen)) return -1;
    h->rpos += take;
    if (want != UINT64_MAX) want -= take;
  }
  return 0;
}

static int read_chunked(tw_http *h, body_sink *s, char *err, size_t errlen) {
  char line[1024];
  for (;;) {
    if (read_line(h, line, sizeof line, err, errlen)) return -1;
    char *end;
    unsigned long long n = strtoull(line, &end, 16);
    if (end == line) {
      snprintf(err, errlen, "bad chunk size from %s", h->u.hostport);
      return -1;
    }
    if (n == 0) break;
    if (read_body(h, s, n, err, errlen)) return -1;
    if (read_line(h, line, sizeof line, err, errlen)) return -1;
  }
  do { /* trailers until the empty line */
    if (read_line(h, line, sizeof line, err, errlen)) return -1;
  } while (line[0]);
  return 0;
}

/* Reads status line and headers. Returns 0; *got says whether any byte came. */
static int read_head(tw_http *h, tw_http_resp *resp, int *got, char *err, size_t errlen) {
  char line[8192];
  for (;;) { /* skip 1xx interim responses */
    tw_buf_reset(&resp->head);
    int f = fill(h, err, errlen);
    if (f <= 0) {
      if (f == 0) snprintf(err, errlen, "connection closed by %s", h->u.hostport);
      return -1;
    }
    *got = 1;
    if (read_line(h, line, sizeof line, err, errlen)) return -1;
    int major, minor, status;
    if (sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 ||
        status > 999) {
      snprintf(err, errlen, "malformed status line from %s", h->u.hostport);
      return -1;
    }
    for (;;) {
      if (read_line(h, line, sizeof line, err, errlen)) return -1;
      if (!line[0]) break;
      if (tw_buf_puts(&resp->head, line) || tw_buf_putc(&resp->head, '\n')) {
        snprintf(err, errlen, "response headers too large from %s", h->u.hostport);
        return -1;
      }
    }
    if (status >= 200 || status == 101) {
      resp->status = status;
      return 0;
    }
  }
}

/* --- requests ---------------------------------------------------------------------- */

static int has_header(const tw_http_req *q, const char *name) {
  for (size_t i = 0; i < q->nheaders; i++)
    if (!strcasecmp(q->headers[i].name, name)) return 1;
  return 0;
}

static int send_body_fd(tw_http *h, const tw_http_req *q, char *err, size_t errlen) {
  if (!h->io && !(h->io = malloc(IO_CHUNK))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  uint64_t off = q->body_off, left = q->body_len;
  while (left) {
    size_t n = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
    ssize_t r = pread(q->body_fd, h->io, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      snprintf(err, errlen, "reading the request body: %s",
               r < 0 ? strerror(errno) : "file shrank");
      return -2; /* not retryable */
    }
    if (io_write(h, h->io, (size_t)r, err, errlen)) return -1;
    off += (uint64_t)r;
    left -= (uint64_t)r;
  }
  return 0;
}

/* One attempt. Returns 0, -1 (retry may help: nothing came back), -2 (fatal). */
static int attempt(tw_http *h, const tw_http_req *q, tw_http_resp *resp, char *err, size_t errlen) {
  tw_buf *hb = &h->head;
  tw_buf_reset(hb);
  int rc = -2, got = 0;
  const char *query = q->query && *q->query ? q->query : NULL;
  tw_buf_printf(hb, "%s %s%s%s HTTP/1.1\r\n", q->method, q->path, query ? "?" : "",
                query ? query : "");
  if (!has_header(q, "host")) tw_buf_printf(hb, "Host: %s\r\n", h->u.hostport);
  for (size_t i = 0; i < q->nheaders; i++)
    tw_buf_printf(hb, "%s: %s\r\n", q->headers[i].name, q->headers[i].value);
  int is_head = !strcmp(q->method, "HEAD");
  if (!has_header(q, "content-length") &&
      (q->body_len || !(is_head || !strcmp(q->method, "GET") || !strcmp(q->method, "DELETE"))))
    tw_buf_printf(hb, "Content-Length: %llu\r\n", (unsigned long long)q->body_len);
  tw_buf_puts(hb, "\r\n");
  if (hb->overflow) {
    snprintf(err, errlen, "request headers too large");
    goto out;
  }
  rc = -1;
  if (q->body_fd >= 0 && q->body_len) {
    if (io_write(h, hb->data, hb->len, err, errlen)) goto out;
    int b = send_body_fd(h, q, err, errlen);
    if (b) {
      rc = b;
      goto out;
    }
  } else if (io_write2(h, hb->data, hb->len, q->body, (size_t)q->body_len, err, errlen)) {
    goto out; /* head and body leave together: one segment for a small request */
  }
  if (read_head(h, resp, &got, err, errlen)) goto out;
  rc = -2; /* a response began: never resend */
  char v[128];
  int close_after = tw_http_resp_header(resp, "connection", v, sizeof v) && !strcasecmp(v, "close");
  int chunked =
      tw_http_resp_header(resp, "transfer-encoding", v, sizeof v) && strcasestr(v, "chunked");
  long long clen = -1;
  if (tw_http_resp_header(resp, "content-length", v, sizeof v)) clen = strtoll(v, NULL, 10);
  body_sink s = {.to_fd = (q->resp_fd >= 0 && resp->status / 100 == 2) ? q->resp_fd : -1,
                 .resp = resp};
  if (s.to_fd < 0) resp->body.cap = q->resp_cap ? q->resp_cap : (1u << 20);
  if (is_head || resp->status == 204 || resp->status == 304) {
    /* no body */
  } else if (chunked) {
    if (read_chunked(h, &s, err, errlen)) goto out;
  } else if (clen >= 0) {
    if (read_body(h, &s, (uint64_t)clen, err, errlen)) goto out;
  } else {
    if (read_body(h, &s, UINT64_MAX, err, errlen)) goto out;
    close_after = 1;
  }
  if (close_after)
    tw_http_close(h);
  else
    h->used++;
  rc = 0;
out:
  if (rc == -1 && got) rc = -2;
  if (rc) tw_http_close(h);
  return rc;
}

int tw_http_do(tw_http *h, const tw_http_req *q, tw_http_resp *resp, char *err, size_t errlen) {
  tw_buf_reset(&resp->body);
  tw_buf_reset(&resp->head);
  resp->body.overflow = resp->head.overflow = 0;
  resp->status = 0;
  resp->body_bytes = 0;
  err[0] = 0;
  h->call_timeout_ms = q->timeout_ms > 0 ? q->timeout_ms : 0;
  h->deadline_ms = h->call_timeout_ms ? tw_mono_ms() + h->call_timeout_ms : 0;
  for (int tries = 0;; tries++) {
    int reused = h->fd >= 0 && h->used > 0;
    if (h->fd < 0 && conn_open(h, q->cancel, err, errlen)) return -1;
    if (cancel_attach(q->cancel, h->fd)) {
      tw_http_close(h);
      snprintf(err, errlen, "cancelled");
      return -1;
    }
    int rc = attempt(h, q, resp, err, errlen);
    cancel_detach(q->cancel);
    if (q->cancel && tw_http_cancel_fired(q->cancel) && rc) {
      snprintf(err, errlen, "cancelled");
      return -1;
    }
    if (rc == 0) return 0;
    /* a kept-alive connection the server had closed: try once on a fresh one */
    if (rc == -1 && reused && tries == 0) {
      tw_buf_reset(&resp->body); /* nothing reached resp_fd: no response began */
      resp->body_bytes = 0;
      continue;
    }
    return -1;
  }
}

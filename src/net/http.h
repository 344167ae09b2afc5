/* The HTTP client of tweedle's own outbound side (worker, pipeline, send/receive,
 * the gateway's authorizer, the `apikey` CLI): a small blocking HTTP/1.1 client,
 * one keep-alive connection per tw_http, plain TCP or TLS (OpenSSL, system CA
 * store or $AWS_CA_BUNDLE), bodies from memory or streamed from a file
 * descriptor, responses buffered (with a cap) or streamed to a file descriptor,
 * so objects of any size pass in constant memory.
 *
 * A tw_http is used by one thread at a time. tw_http_cancel lets another
 * thread abort a call in progress (e.g. a 20-second long poll at shutdown).
 *
 * The load generator (src/bench/) has its own non-blocking epoll client: it
 * drives thousands of connections and drops bodies in the kernel, which is not
 * what a tool making one call at a time wants. */
#ifndef TW_NET_HTTP_H
#define TW_NET_HTTP_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h" /* tw_kv */
#include "core/buf.h"

/* An endpoint URL: http[s]://host[:port][/path]. */
typedef struct {
  int tls;
  char host[256];     /* without brackets for IPv6 literals */
  char port[8];       /* always set: explicit, else 80 / 443 */
  char hostport[272]; /* the Host header value: host, plus ":port" when not the default */
  char path[1024];    /* "" or "/..." without a trailing slash, raw as given */
} tw_url;

/* Parses s. Returns 0, or -1 with a message in err. */
int tw_url_parse(const char *s, tw_url *u, char *err, size_t errlen);
/* Checks that u's host resolves (a start-up check). 0, or -1 with err. */
int tw_url_resolve(const tw_url *u, char *err, size_t errlen);

/* Lets one thread abort another's call: tw_http_cancel_fire() shuts the socket
 * of the call in progress (and of any later call using this token) down; the
 * call returns -1 with err "cancelled". */
typedef struct {
  pthread_mutex_t mu;
  int fd;    /* socket of the call in progress, -1 when none */
  int fired; /* sticky */
} tw_http_cancel;

void tw_http_cancel_init(tw_http_cancel *c);
void tw_http_cancel_destroy(tw_http_cancel *c);
void tw_http_cancel_fire(tw_http_cancel *c);
int tw_http_cancel_fired(tw_http_cancel *c);

typedef struct tw_http tw_http;

/* No network traffic until the first request. NULL only when out of memory. */
tw_http *tw_http_new(const tw_url *u);
void tw_http_free(tw_http *h);
/* Seconds a connect, or a single read or write, may wait (default 60). */
void tw_http_set_timeout(tw_http *h, int seconds);
const tw_url *tw_http_url(const tw_http *h);

typedef struct {
  const char *method;   /* "GET", "PUT", ... */
  const char *path;     /* raw (already percent-encoded) path, "/" at least */
  const char *query;    /* raw query without '?'; NULL or "" when none */
  const tw_kv *headers; /* sent as given; Host, Content-Length added when missing */
  size_t nheaders;
  /* The body: body_len bytes at body, or, when body_fd >= 0, body_len bytes
   * read from body_fd starting at body_off (pread: the fd's offset is not used
   * and a retry can resend). */
  const void *body;
  uint64_t body_len;
  int body_fd;
  uint64_t body_off;
  /* The response body: buffered up to resp_cap bytes (larger → error), or,
   * when resp_fd >= 0 and the status is 2xx, written to resp_fd. */
  size_t resp_cap;
  int resp_fd;
  tw_http_cancel *cancel; /* optional */
  /* Milliseconds the whole call may take, name resolution aside (0: no limit
   * beyond the per-read timeout of tw_http_set_timeout). */
  int timeout_ms;
} tw_http_req;

typedef struct {
  int status;
  tw_buf body;         /* buffered body (also error bodies when resp_fd is used) */
  uint64_t body_bytes; /* bytes of body received (buffered or written to resp_fd) */
  tw_buf head;         /* raw header lines, for tw_http_resp_header */
} tw_http_resp;

void tw_http_resp_init(tw_http_resp *r);
void tw_http_resp_free(tw_http_resp *r);
/* The value of a response header (first occurrence, any case) copied into out;
 * NULL when absent. */
const char *tw_http_resp_header(const tw_http_resp *r, const char *name, char *out, size_t n);

/* Sends req and reads the whole response. A keep-alive connection the server
 * closed meanwhile is reopened and the request sent again once (bodies are
 * replayable). Returns 0 with resp->status set (any status), or -1 when no
 * HTTP response came (err says why). resp is reset first. */
int tw_http_do(tw_http *h, const tw_http_req *req, tw_http_resp *resp, char *err, size_t errlen);

/* Closes the connection (the next request opens a new one). */
void tw_http_close(tw_http *h);

/* TLS: servers' certificates are always verified (chain and host name or IP
 * address) against the CA bundle set here (--ca-bundle), else $AWS_CA_BUNDLE,
 * else the system store. Call before the first https request; the file must
 * be readable. 0, or -1 with err. */
int tw_http_set_ca_bundle(const char *pem_file, char *err, size_t errlen);

/* RFC 3986 percent-encoding of n bytes (unreserved kept); '/' kept when
 * keep_slash (S3 keys in paths). */
int tw_http_uri_encode(tw_buf *b, const char *s, size_t n, int keep_slash);

#endif

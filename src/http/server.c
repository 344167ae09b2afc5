#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <netdb.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/version.h"
#include "http/request.h"
#include "http/tls.h"

/* buffered bodies of a service that names no max_body: SQS's 1 MiB payload, encoded */
#define MAX_BODY (8u << 20)
#define MAX_HEADERS 150 /* a request with more is refused, whatever their size */

struct tw_http {
  struct MHD_Daemon *daemon;
  const tw_services *services;
  tw_app *app;
  char listen[256];
  char public_url[512];
  /* HTTPS when set */
  tw_tls *tls;
  atomic_int active; /* requests in progress */
  atomic_int stopping;
  /* parked requests with an on_close hook, checked each second for a client
   * that hung up (MHD does not watch suspended connections) */
  pthread_mutex_t park_mu;
  pthread_cond_t park_cv;
  tw_request *park_head;
  size_t nparked;
  int reaper_on, reaper_stop;
  pthread_t reaper;
};

/* Requests waiting for a commit. Woken from the store's writer thread. */
static pthread_mutex_t g_cw_mu = PTHREAD_MUTEX_INITIALIZER;
static tw_request *g_cw_head;
/* The last committed batch per ticket space: [1] for a store on another
 * database (cluster mode's S3 store; its tickets have the top bit set,
 * store/backend.h), [0] for the embedded store. */
static uint64_t g_committed_in[2];
#define COMMITTED(t) g_committed_in[(t) >> 63]
/* The newest batches whose commit failed: a request that appended to one of
 * them but asks to wait only after it ended must still hear the failure. */
#define FAILED_RING 256
static uint64_t g_failed[2][FAILED_RING];

static int batch_failed(uint64_t t) {
  return t && g_failed[t >> 63][t % FAILED_RING] == t;
}

/* --- request helpers ------------------------------------------------------- */

const char *tw_req_header(const tw_request *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
  return NULL;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes n bytes (and '+' as space when plus) into a new string. */
char *tw_url_decode(const char *s, size_t n, int plus) {
  return tw_url_decode_len(s, n, plus, NULL);
}

char *tw_url_decode_len(const char *s, size_t n, int plus, size_t *out_len) {
  char *out = malloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      *o++ = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
      i += 2;
    } else if (plus && s[i] == '+') {
      *o++ = ' ';
    } else {
      *o++ = s[i];
    }
  }
  *o = 0;
  if (out_len) *out_len = (size_t)(o - out);
  return out;
}

char *tw_req_query_param(const tw_request *r, const char *name) {
  const char *p = r->query;
  size_t nl = strlen(name);
  while (p && *p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    size_t klen = eq ? (size_t)(eq - p) : len;
    char *k = tw_url_decode(p, klen, 1);
    int match = strlen(k) == nl && !memcmp(k, name, nl);
    free(k);
    if (match) return eq ? tw_url_decode(eq + 1, len - klen - 1, 1) : strdup("");
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

static tw_request_observer g_observers[TW_HTTP_MAX_OBSERVERS];

int tw_http_observe_requests(tw_request_observer fn) {
  for (int i = 0; i < TW_HTTP_MAX_OBSERVERS; i++)
    if (!g_observers[i] || g_observers[i] == fn) {
      g_observers[i] = fn;
      return 0;
    }
  return -1;
}

void tw_http_unobserve_requests(tw_request_observer fn) {
  for (int i = 0; i < TW_HTTP_MAX_OBSERVERS; i++)
    if (g_observers[i] == fn) g_observers[i] = NULL;
}

void tw_req_respond_owned(tw_request *r, int status, const char *content_type, char *body,
                          size_t len) {
  if (r->resp) MHD_destroy_response(r->resp);
  r->bytes_out = len;
  r->resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  r->status = status;
  if (content_type) MHD_add_response_header(r->resp, "Content-Type", content_type);
  MHD_add_response_header(r->resp, "x-amzn-RequestId", r->request_id);
}

void tw_req_respond(tw_request *r, int status, const char *content_type, const void *body,
                    size_t len) {
  char *copy = malloc(len + 1);
  if (len) memcpy(copy, body, len);
  tw_req_respond_owned(r, status, content_type, copy, len);
}

void tw_req_respond_fd(tw_request *r, int status, int fd, uint64_t offset, uint64_t len) {
  if (r->resp) MHD_destroy_response(r->resp);
  r->resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
  r->bytes_out = len;
  r->status = status;
  MHD_add_response_header(r->resp, "x-amzn-RequestId", r->request_id);
}

void tw_req_add_header(tw_request *r, const char *name, const char *value) {
  if (!r->resp) return;
  /* libmicrohttpd 0.9.75 refuses an empty value, but S3 answers empty ones
   * (x-amz-meta-x: ""): one space is optional whitespace that every HTTP
   * parser strips, so the client reads "" */
  MHD_add_response_header(r->resp, name, value && !*value ? " " : value);
}

void tw_req_base_url(const tw_request *r, char *out, size_t n) {
  if (r->srv->public_url[0]) {
    snprintf(out, n, "%s", r->srv->public_url);
    size_t l = strlen(out);
    while (l && out[l - 1] == '/') out[--l] = 0;
    return;
  }
  const char *host = tw_req_header(r, "Host");
  snprintf(out, n, "%s://%s", r->srv->tls ? "https" : "http",
           host && *host ? host : r->srv->listen);
}

/* --- parking --------------------------------------------------------------- */

/* Under r->mu. Only a request whose service can take it off its own wait
 * lists (on_close) may be ended by the reaper. */
static void park_link(tw_request *r) {
  if (!r->on_close) return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci) return;
  tw_http *h = r->srv;
  pthread_mutex_lock(&h->park_mu);
  r->park_fd = ci->connect_fd;
  r->idle = 0;
  r->pk_prev = NULL;
  r->pk_next = h->park_head;
  if (h->park_head) h->park_head->pk_prev = r;
  h->park_head = r;
  r->in_park_list = 1;
  h->nparked++;
  pthread_mutex_unlock(&h->park_mu);
}

/* Under r->mu and h->park_mu. */
static void park_unlink_locked(tw_http *h, tw_request *r) {
  if (r->pk_prev)
    r->pk_prev->pk_next = r->pk_next;
  else
    h->park_head = r->pk_next;
  if (r->pk_next) r->pk_next->pk_prev = r->pk_prev;
  r->pk_prev = r->pk_next = NULL;
  r->in_park_list = 0;
  r->idle = 0;
  h->nparked--;
}

/* Under r->mu. */
static void park_unlink(tw_request *r) {
  if (!r->in_park_list) return;
  pthread_mutex_lock(&r->srv->park_mu);
  park_unlink_locked(r->srv, r);
  pthread_mutex_unlock(&r->srv->park_mu);
}

/* The handler returned with the request parked: from now on no thread but a
 * waker touches it, so the reaper may end it. */
static enum MHD_Result park_settled(tw_request *r) {
  pthread_mutex_lock(&r->mu);
  if (r->suspended && r->in_park_list) {
    pthread_mutex_lock(&r->srv->park_mu);
    r->idle = 1;
    pthread_mutex_unlock(&r->srv->park_mu);
  }
  pthread_mutex_unlock(&r->mu);
  return MHD_YES;
}

/* What a reaped request answers when MHD resumes it: nothing anyone reads. */
static void reaped_answer(tw_request *r) {
  tw_req_respond(r, 499, "text/plain", "", 0);
  tw_req_add_header(r, "Connection", "close");
}

/* Over TLS the first bytes after a request are records (a close_notify alert
 * before the FIN), so only the half-close itself says the client is gone. */
static int fd_rdhup(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLRDHUP};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int fd_peer_closed(int fd) {
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  /* 0: the peer sent FIN (a pipelined request would show as data); an error
   * other than "nothing to read yet" (e.g. ECONNRESET) means gone too */
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Once a second: one poll() over every idle parked socket; a request whose
 * client hung up is taken from its waker (under its mutex, so a wake racing
 * with this one is only remembered), its service drops it (on_close), and it
 * is resumed to answer into the void and be closed by MHD. */
static void *reaper_main(void *arg) {
  tw_http *h = arg;
  struct pollfd *pf = NULL;
  tw_request **rs = NULL;
  size_t cap = 0;
  int trim = 0;
  pthread_mutex_lock(&h->park_mu);
  while (!h->reaper_stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&h->park_cv, &h->park_mu, &ts);
    if (h->reaper_stop) break;
    if (h->nparked > cap) {
      size_t ncap = h->nparked + h->nparked / 2 + 16;
      struct pollfd *p2 = realloc(pf, ncap * sizeof *pf);
      if (p2) pf = p2;
      tw_request **r2 = realloc(rs, ncap * sizeof *rs);
      if (r2) rs = r2;
      if (p2 && r2) cap = ncap;
    }
    size_t n = 0;
    for (tw_request *r = h->park_head; r && n < cap; r = r->pk_next) {
      if (!r->idle) continue; /* read under park_mu, rechecked under r->mu */
      pf[n].fd = r->park_fd;
      pf[n].events = POLLRDHUP;
      pf[n].revents = 0;
      rs[n++] = r;
    }
    tw_request *dead = NULL;
    size_t ndead = 0;
    if (n && poll(pf, (nfds_t)n, 0) > 0) {
      for (size_t i = 0; i < n; i++) {
        if (!(pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) continue;
        tw_request *r = rs[i];
        /* a waker holding r->mu waits for park_mu: leave r to it */
        if (pthread_mutex_trylock(&r->mu)) continue;
        if (r->suspended && r->idle && r->in_park_list &&
            ((pf[i].revents & (POLLHUP | POLLERR)) || h->tls || fd_peer_closed(r->park_fd))) {
          r->suspended = 0; /* a wake from now on is only remembered (woken) */
          park_unlink_locked(h, r);
          r->pk_next = dead;
          dead = r;
          ndead++;
        }
        pthread_mutex_unlock(&r->mu);
      }
    }
    pthread_mutex_unlock(&h->park_mu);
    /* no lock held: on_close takes the service's own (which wakers hold
     * before r->mu); r stays alive, as nobody else resumes it */
    for (tw_request *r = dead, *next; r; r = next) {
      next = r->pk_next;
      r->pk_next = NULL;
      void (*fn)(tw_request *) = r->on_close;
      r->on_close = NULL;
      if (fn) fn(r);
      r->resume = reaped_answer;
      MHD_resume_connection(r->conn);
    }
    if (ndead)
      tw_log(TW_LOG_DEBUG, "http: %zu parked request(s) whose client hung up ended", ndead);
#ifdef __GLIBC__
    /* MHD's threads free the connections just after: once a burst of them is
     * gone (a quiet round), give the freed pages back */
    if (ndead >= 64) {
      trim = 1;
    } else if (!ndead && trim) {
      trim = 0;
      malloc_trim(0);
    }
#endif
    pthread_mutex_lock(&h->park_mu);
  }
  pthread_mutex_unlock(&h->park_mu);
  free(pf);
  free(rs);
  return NULL;
}

int tw_req_suspend(tw_request *r) {
  pthread_mutex_lock(&r->mu);
  if (r->woken) {
    r->woken = 0;
    pthread_mutex_unlock(&r->mu);
    return 0;
  }
  MHD_suspend_connection(r->conn);
  r->suspended = 1;
  park_link(r);
  pthread_mutex_unlock(&r->mu);
  return 1;
}

int tw_req_peer_closed(tw_request *r) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci) return 0;
  return r->srv->tls ? fd_rdhup(ci->connect_fd) : fd_peer_closed(ci->connect_fd);
}

void tw_req_wake(tw_request *r) {
  pthread_mutex_lock(&r->mu);
  struct MHD_Connection *resume = NULL;
  if (r->suspended) {
    r->suspended = 0; /* this waker alone resumes it */
    park_unlink(r);
    resume = r->conn;
  } else {
    r->woken = 1;
  }
  pthread_mutex_unlock(&r->mu);
  /* after the unlock: once resumed, MHD may finish and free r (and r->mu) */
  if (resume) MHD_resume_connection(resume);
}

static void cw_unlink(tw_request *r) {
  if (!r->in_commit_list) return;
  if (r->cw_prev)
    r->cw_prev->cw_next = r->cw_next;
  else
    g_cw_head = r->cw_next;
  if (r->cw_next) r->cw_next->cw_prev = r->cw_prev;
  r->cw_prev = r->cw_next = NULL;
  r->in_commit_list = 0;
}

void tw_req_after_commits(tw_request *r, uint64_t own, uint64_t seen, void (*then)(tw_request *r)) {
  uint64_t ticket = own > seen ? own : seen;
  pthread_mutex_lock(&g_cw_mu);
  if (own && own <= COMMITTED(own) && batch_failed(own)) r->commit_failed = 1;
  if (ticket <= COMMITTED(ticket)) {
    pthread_mutex_unlock(&g_cw_mu);
    then(r);
    return;
  }
  r->commit_ticket = ticket;
  r->own_ticket = own;
  r->resume = then;
  r->cw_prev = NULL;
  r->cw_next = g_cw_head;
  if (g_cw_head) g_cw_head->cw_prev = r;
  g_cw_head = r;
  r->in_commit_list = 1;
  pthread_mutex_unlock(&g_cw_mu);
  if (!tw_req_suspend(r)) { /* the commit came in between */
    r->resume = NULL;
    then(r);
  }
}

void tw_req_after_commit(tw_request *r, uint64_t ticket, void (*then)(tw_request *r)) {
  tw_req_after_commits(r, ticket, 0, then);
}

void tw_http_on_commit(void *ud, uint64_t committed, int ok) {
  (void)ud;
  pthread_mutex_lock(&g_cw_mu);
  if (committed > COMMITTED(committed)) COMMITTED(committed) = committed;
  if (!ok) g_failed[committed >> 63][committed % FAILED_RING] = committed;
  for (tw_request *r = g_cw_head; r;) {
    tw_request *n = r->cw_next;
    /* its change is not on disk: the client must not hear OK */
    if (!ok && r->own_ticket == committed) r->commit_failed = 1;
    if (r->commit_ticket <= COMMITTED(r->commit_ticket)) {
      cw_unlink(r);
      tw_req_wake(r);
    }
    r = n;
  }
  pthread_mutex_unlock(&g_cw_mu);
}

/* --- MHD callbacks ------------------------------------------------------------ */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  tw_http *h = cls;
  tw_request *r = calloc(1, sizeof *r);
  r->srv = h;
  r->app = h->app;
  r->conn = conn;
  r->t0 = tw_mono_sec();
  pthread_mutex_init(&r->mu, NULL);
  tw_buf_init(&r->body, MAX_BODY);
  const char *q = strchr(uri, '?');
  r->path = q ? strndup(uri, (size_t)(q - uri)) : strdup(uri);
  r->query = strdup(q ? q + 1 : "");
  tw_uuid4(r->request_id);
  atomic_fetch_add(&h->active, 1);
  return r;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  tw_request *r = cls;
  if (r->nheaders >= MAX_HEADERS) {
    r->too_many_headers = 1;
    return MHD_NO;
  }
  if ((r->nheaders & (r->nheaders - 1)) == 0 && r->nheaders >= 16) { /* full at 16, 32, ... */
    tw_kv *h = realloc(r->headers, 2 * r->nheaders * sizeof *h);
    if (!h) return MHD_NO;
    r->headers = h;
  } else if (!r->headers) {
    r->headers = malloc(16 * sizeof *r->headers);
    if (!r->headers) return MHD_NO;
  }
  r->headers[r->nheaders].name = key;
  r->headers[r->nheaders].value = value ? value : "";
  r->nheaders++;
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)conn;
  (void)toe;
  tw_http *h = cls;
  tw_request *r = *con_cls;
  if (!r) return;
  if (r->phase >= 1) {
    const char *remote = r->remote;
    double ms = (tw_mono_sec() - r->t0) * 1000.0;
    tw_log_request(r->method, r->path, r->action, r->status ? r->status : 499, ms, r->request_id,
                   remote);
    for (int i = 0; i < TW_HTTP_MAX_OBSERVERS; i++)
      if (g_observers[i]) g_observers[i](r, ms);
  }
  if (r->on_close) r->on_close(r);
  pthread_mutex_lock(&g_cw_mu);
  cw_unlink(r);
  pthread_mutex_unlock(&g_cw_mu);
  if (r->ctx_free) r->ctx_free(r->ctx);
  if (r->resp) MHD_destroy_response(r->resp);
  tw_buf_free(&r->body);
  free(r->headers);
  free(r->path);
  free(r->query);
  pthread_mutex_destroy(&r->mu);
  free(r);
  *con_cls = NULL;
  atomic_fetch_sub(&h->active, 1);
}

static enum MHD_Result send_response(tw_request *r) {
  /* libmicrohttpd writes the header as soon as this connection's turn comes
   * (it offers no per-write hook): the queueing is the last moment seen here */
  if (!r->t_queued) r->t_queued = tw_mono_sec();
  if (!MHD_get_response_header(r->resp, "Server"))
    MHD_add_response_header(r->resp, "Server", "tweedle/" TW_VERSION);
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
  MHD_destroy_response(r->resp);
  r->resp = NULL;
  return ret;
}

/* Headers are in: find the service, refuse what must be refused before the
 * body is sent (shutting down, an announced oversize body), let the service
 * look at the headers. */
static void begin(tw_request *r) {
  tw_http *h = r->srv;
  char what[300];
  r->service = tw_services_match(h->services, r, what, sizeof what);
  if (!r->service) {
    h->services->unclaimed(r, what);
    if (atomic_load(&h->stopping)) tw_req_add_header(r, "Connection", "close");
    return;
  }
  if (atomic_load(&h->stopping)) {
    r->service->error(r, TW_ERR_SERVICE_UNAVAILABLE, "The server is shutting down.");
    tw_req_add_header(r, "Connection", "close");
    return;
  }
  if (r->too_many_headers) {
    char msg[120];
    snprintf(msg, sizeof msg, "A request may carry at most %d headers.", MAX_HEADERS);
    r->service->error(r, TW_ERR_HEADERS_TOO_LARGE, msg);
    tw_req_add_header(r, "Connection", "close");
    return;
  }
  r->on_done = r->service->serve;
  r->body.cap = r->service->max_body ? r->service->max_body : MAX_BODY;
  if (r->service->begin) r->service->begin(r);
  if (!r->resp && !r->on_body) {
    /* Refuse an announced oversize body before the client sends it (100-continue). */
    const char *cl = tw_req_header(r, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > r->body.cap) {
      r->service->error(r, TW_ERR_REQUEST_TOO_LARGE, NULL);
      tw_req_add_header(r, "Connection", "close");
    }
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)cls;
  (void)url;
  (void)version;
  tw_request *r = *con_cls;
  if (!r) return MHD_NO;
  if (r->phase == 0) {
    snprintf(r->method, sizeof r->method, "%s", method);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, r);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
      const struct sockaddr *sa = ci->client_addr;
      if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->remote,
                  sizeof r->remote);
      else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->remote,
                  sizeof r->remote);
    }
    r->phase = 1;
    begin(r);
    if (r->resp) {
      r->phase = 2;
      r->t_received = tw_mono_sec();
      return send_response(r);
    }
    return MHD_YES;
  }
  if (r->phase == 1) {
    if (*upload_data_size) {
      size_t n = *upload_data_size;
      *upload_data_size = 0;
      if (r->body_failed) {
        /* the answer is decided: read and drop the rest, then send it (MHD
         * drops the connection instead if a response is queued mid-upload) */
      } else if (r->on_body) {
        if (r->on_body(r, upload_data, n) != 0) {
          if (!r->resp) return MHD_NO;
          r->body_failed = 1;
          tw_req_add_header(r, "Connection", "close");
        }
      } else {
        if (!r->body.data) { /* one allocation for the announced length */
          const char *cl = tw_req_header(r, "Content-Length");
          if (cl) tw_buf_reserve(&r->body, strtoull(cl, NULL, 10));
        }
        if (tw_buf_append(&r->body, upload_data, n)) r->too_large = 1;
      }
      return MHD_YES;
    }
    r->phase = 2;
    r->t_received = tw_mono_sec();
    if (!r->body_failed) {
      if (r->on_done)
        r->on_done(r);
      else
        r->service->error(r, TW_ERR_INTERNAL, NULL);
    }
  } else if (r->resume) {
    void (*fn)(tw_request *) = r->resume;
    r->resume = NULL;
    fn(r);
  }
  if (r->resp) return send_response(r);
  return park_settled(r); /* parked */
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

tw_http *tw_http_start(const tw_http_opts *o, char *err, size_t errlen) {
  char host[256];
  snprintf(host, sizeof host, "%s", o->listen);
  char *colon = strrchr(host, ':');
  if (!colon) {
    snprintf(err, errlen, "--listen wants host:port, got %s", o->listen);
    return NULL;
  }
  *colon = 0;
  const char *port = colon + 1;
  char *hn = host;
  if (*hn == '[') {
    hn++;
    char *e = strchr(hn, ']');
    if (e) *e = 0;
  }
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(*hn ? hn : NULL, port, &hints, &ai);
  if (gai) {
    snprintf(err, errlen, "cannot resolve %s: %s", o->listen, gai_strerror(gai));
    return NULL;
  }
  raise_fd_limit();
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  unsigned max_conn = (unsigned)o->max_connections;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64 && max_conn > rl.rlim_cur - 64)
    max_conn = (unsigned)(rl.rlim_cur - 64);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned threads = o->threads > 0 ? (unsigned)o->threads : (unsigned)(cores > 0 ? cores : 1);
  unsigned flags =
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  tw_http *h = calloc(1, sizeof *h);
  if (!h) {
    freeaddrinfo(ai);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->services = o->services;
  h->app = o->app;
  pthread_mutex_init(&h->park_mu, NULL);
  pthread_cond_init(&h->park_cv, NULL);
  snprintf(h->listen, sizeof h->listen, "%s", o->listen);
  snprintf(h->public_url, sizeof h->public_url, "%s", o->public_url ? o->public_url : "");
  if ((o->tls_cert && *o->tls_cert) || (o->tls_key && *o->tls_key)) {
    if (!MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2)) {
      snprintf(err, errlen,
               "--tls-cert: this libmicrohttpd cannot serve HTTPS with a certificate callback "
               "(built without GnuTLS 3.6.3 or later)");
      goto fail_early;
    }
    h->tls = tw_tls_open(o->tls_cert, o->tls_key, err, errlen);
    if (!h->tls) goto fail_early;
    char about[600];
    tw_tls_describe(h->tls, about, sizeof about);
    tw_info("https: certificate %s", about);
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
      /* MHD clears this pool after every keep-alive request and keeps it per
       * connection: small keeps both the per-request cost and parked polls cheap. */
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL},
      {MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
      {MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL},
      {MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  if (h->tls)
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_HTTPS_CERT_CALLBACK2, &tw_tls_retrieve, MHD_OPTION_END);
  else
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!h->daemon) {
    snprintf(err, errlen, "cannot listen on %s (in use?)", o->listen);
    tw_tls_close(h->tls);
    free(h);
    return NULL;
  }
  h->reaper_on = pthread_create(&h->reaper, NULL, reaper_main, h) == 0;
  return h;
fail_early:
  freeaddrinfo(ai);
  pthread_mutex_destroy(&h->park_mu);
  pthread_cond_destroy(&h->park_cv);
  free(h);
  return NULL;
}

int tw_http_tls(const tw_http *h) {
  return h && h->tls;
}

int tw_http_reload_tls(tw_http *h, char *msg, size_t msglen) {
  if (!h || !h->tls) {
    snprintf(msg, msglen, "TLS is off");
    return -1;
  }
  return tw_tls_reload(h->tls, msg, msglen);
}

void tw_http_quiesce(tw_http *h) {
  if (h) atomic_store(&h->stopping, 1);
}

int tw_http_active(tw_http *h) {
  return h ? atomic_load(&h->active) : 0;
}

void tw_http_stop(tw_http *h) {
  if (!h) return;
  if (h->reaper_on) { /* before MHD closes (and frees) what it may hold */
    pthread_mutex_lock(&h->park_mu);
    h->reaper_stop = 1;
    pthread_cond_signal(&h->park_cv);
    pthread_mutex_unlock(&h->park_mu);
    pthread_join(h->reaper, NULL);
  }
  if (h->daemon) MHD_stop_daemon(h->daemon);
  tw_tls_close(h->tls); /* no session left to use it */
  pthread_mutex_destroy(&h->park_mu);
  pthread_cond_destroy(&h->park_cv);
  free(h);
}

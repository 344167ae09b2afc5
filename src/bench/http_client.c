/* Non-blocking HTTP/1.1 client for tweedle bench. Level-triggered epoll; one
 * request in flight per connection; the callback may queue the next one. */
#include "bench/http_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_RESPONSE (64ull << 20) /* buffered responses only; dropped bodies have no limit */
#define SINK_CHUNK (1u << 20)      /* bytes dropped per recv */

int tw_hc_loop_init(tw_hc_loop *l, const char *host, const char *port, char *err, size_t errlen) {
  memset(l, 0, sizeof *l);
  l->epfd = -1;
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rc = getaddrinfo(host, port, &hints, &ai);
  if (rc) {
    snprintf(err, errlen, "cannot resolve %s:%s: %s", host, port, gai_strerror(rc));
    return -1;
  }
  memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
  l->addrlen = ai->ai_addrlen;
  freeaddrinfo(ai);
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) {
    snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
    return -1;
  }
  return 0;
}

void tw_hc_loop_free(tw_hc_loop *l) {
  if (l->epfd >= 0) close(l->epfd);
  l->epfd = -1;
}

void tw_hc_init(tw_hc *c, tw_hc_loop *l, tw_hc_done_fn done, void *ud) {
  memset(c, 0, sizeof *c);
  c->loop = l;
  c->fd = -1;
  c->clen = -1;
  c->done = done;
  c->ud = ud;
}

static void reset_parse(tw_hc *c) {
  c->rlen = 0;
  c->hdr_len = 0;
  c->clen = -1;
  c->status = 0;
  c->chunked = 0;
  c->close_after = 0;
  c->sinking = 0;
}

static void clear_write(tw_hc *c) {
  c->wlen = c->woff = 0;
  c->body = NULL;
  c->bsize = 0;
  c->blen = c->boff = 0;
}

static int write_pending(const tw_hc *c) {
  return c->woff < c->wlen || c->boff < c->blen;
}

/* close() also takes the descriptor out of the epoll set. */
static void drop_fd(tw_hc *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->events = 0;
  c->connecting = 0;
}

static void set_error(tw_hc *c, const char *what, int err) {
  if (err)
    snprintf(c->last_error, sizeof c->last_error, "%s: %s", what, strerror(err));
  else
    snprintf(c->last_error, sizeof c->last_error, "%s", what);
}

/* Ends the request in flight with status -1. */
static void fail(tw_hc *c, const char *what, int err) {
  set_error(c, what, err);
  drop_fd(c);
  reset_parse(c);
  c->busy = 0;
  clear_write(c);
  c->done(c, -1, NULL, 0);
}

/* A failure inside tw_hc_send is reported from the next poll, so that a
 * callback that re-sends at once cannot recurse without bound. */
static void defer_fail(tw_hc *c, const char *what, int err) {
  set_error(c, what, err);
  drop_fd(c);
  c->failed_next = c->loop->failed;
  c->loop->failed = c;
}

static int set_interest(tw_hc *c, unsigned ev) {
  if (c->events == ev) return 0;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(c->loop->epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e)) return -1;
  c->events = ev;
  return 0;
}

/* EPOLLIN always, so an idle keep-alive connection the server closes is noticed. */
static int update_interest(tw_hc *c) {
  return set_interest(c, EPOLLIN | (c->connecting || write_pending(c) ? EPOLLOUT : 0));
}

static int start_connect(tw_hc *c) {
  const struct sockaddr *sa = (const struct sockaddr *)&c->loop->addr;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->events = 0;
  c->gen++;
  if (connect(fd, sa, c->loop->addrlen) == 0) {
    c->connecting = 0;
  } else if (errno == EINPROGRESS) {
    c->connecting = 1;
  } else {
    int e = errno;
    drop_fd(c);
    return e;
  }
  c->loop->connects++;
  return 0;
}

/* Writes what the socket takes: the rest of the head and as much of the body
 * as reaches the end of the shared buffer, in one call. Returns 0 or an errno. */
static int flush(tw_hc *c) {
  while (write_pending(c)) {
    struct iovec iov[2];
    int k = 0;
    if (c->woff < c->wlen) iov[k++] = (struct iovec){c->wbuf + c->woff, c->wlen - c->woff};
    if (c->boff < c->blen) {
      size_t at = (size_t)(c->boff % c->bsize), n = c->bsize - at;
      if ((unsigned long long)n > c->blen - c->boff) n = (size_t)(c->blen - c->boff);
      iov[k++] = (struct iovec){(void *)(c->body + at), n};
    }
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
    ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    if (n > 0) {
      size_t head = c->wlen - c->woff;
      if ((size_t)n <= head) {
        c->woff += (size_t)n;
      } else {
        c->woff = c->wlen;
        c->boff += (size_t)n - head;
        c->loop->body_bytes.sent += (size_t)n - head;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      return n < 0 ? errno : EPIPE;
    }
  }
  return 0;
}

int tw_hc_send(tw_hc *c, const char *req, size_t len) {
  return tw_hc_send_body(c, req, len, NULL, 0, 0);
}

int tw_hc_send_body(tw_hc *c, const char *req, size_t len, const char *body, size_t bsize,
                    unsigned long long blen) {
  if (c->busy) return -1;
  if (len > c->wcap) {
    size_t cap = c->wcap ? c->wcap : 1024;
    while (cap < len) cap *= 2;
    char *nb = realloc(c->wbuf, cap);
    if (!nb) {
      c->busy = 1;
      defer_fail(c, "out of memory", 0);
      return 0;
    }
    c->wbuf = nb;
    c->wcap = cap;
  }
  memcpy(c->wbuf, req, len);
  c->wlen = len;
  c->woff = 0;
  c->body = body;
  c->bsize = bsize;
  c->blen = body && bsize ? blen : 0;
  c->boff = 0;
  c->busy = 1;
  reset_parse(c);
  int e = 0;
  const char *what = "connect";
  if (c->fd < 0) e = start_connect(c);
  if (!e && !c->connecting) {
    what = "send";
    e = flush(c);
  }
  if (!e && update_interest(c)) {
    what = "epoll_ctl";
    e = errno;
  }
  if (e) defer_fail(c, what, e);
  return 0;
}

int tw_hc_written(const tw_hc *c) {
  return c->busy && !c->connecting && c->fd >= 0 && !write_pending(c);
}

static void unlink_failed(tw_hc *c) {
  for (tw_hc **p = &c->loop->failed; *p; p = &(*p)->failed_next)
    if (*p == c) {
      *p = c->failed_next;
      break;
    }
  c->failed_next = NULL;
}

void tw_hc_close(tw_hc *c) {
  unlink_failed(c);
  drop_fd(c);
  reset_parse(c);
  c->busy = 0;
  clear_write(c);
}

void tw_hc_free(tw_hc *c) {
  tw_hc_close(c);
  free(c->wbuf);
  free(c->rbuf);
  c->wbuf = c->rbuf = NULL;
  c->wcap = c->rcap = 0;
}

/* Status line and headers, once "\r\n\r\n" has arrived. Returns 1 parsed,
 * 0 need more, -1 malformed. Interim 1xx responses are skipped. */
static int parse_head(tw_hc *c) {
  for (;;) {
    char *b = c->rbuf;
    char *end = memmem(b, c->rlen, "\r\n\r\n", 4);
    if (!end) return c->rlen > (1u << 20) ? -1 : 0;
    size_t head = (size_t)(end - b) + 4;
    if (c->rlen < 12 || strncmp(b, "HTTP/1.", 7) != 0) return -1;
    int minor = b[7] - '0';
    int status = atoi(b + 9);
    if (status < 100 || status > 999) return -1;
    if (status < 200) { /* 100 Continue and friends: drop and read on */
      memmove(b, b + head, c->rlen - head);
      c->rlen -= head;
      b[c->rlen] = '\0';
      continue;
    }
    c->status = status;
    c->close_after = minor == 0; /* HTTP/1.0 closes unless it says keep-alive */
    c->clen = -1;
    char *line = memchr(b, '\n', head) + 1;
    while (line < b + head - 2) {
      char *eol = memchr(line, '\n', (size_t)(b + head - line));
      char *colon = memchr(line, ':', (size_t)(eol - line));
      if (colon) {
        size_t nl = (size_t)(colon - line);
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = (size_t)(eol - v);
        if (vl && v[vl - 1] == '\r') vl--;
        if (nl == 14 && !strncasecmp(line, "content-length", 14)) {
          c->clen = strtoll(v, NULL, 10);
          if (c->clen < 0) return -1;
        } else if (nl == 17 && !strncasecmp(line, "transfer-encoding", 17)) {
          c->chunked = memmem(v, vl, "chunked", 7) != NULL;
        } else if (nl == 10 && !strncasecmp(line, "connection", 10)) {
          if (vl >= 5 && !strncasecmp(v, "close", 5)) c->close_after = 1;
          if (vl >= 10 && !strncasecmp(v, "keep-alive", 10)) c->close_after = 0;
        }
      }
      line = eol + 1;
    }
    c->hdr_len = head;
    return 1;
  }
}

/* One chunk-size line at q: sets *sz and *data (offset of the data). Returns 1,
 * 0 when the line is not complete, -1 when malformed. */
static int chunk_line(const char *b, size_t q, size_t end, unsigned long long *sz, size_t *data) {
  const char *nl = memmem(b + q, end - q, "\r\n", 2);
  if (!nl) return 0;
  char *e;
  *sz = strtoull(b + q, &e, 16);
  if (e == b + q || *sz > MAX_RESPONSE) return -1;
  *data = (size_t)(nl - b) + 2;
  return 1;
}

/* When the whole chunked body is in the buffer, decodes it in place. Returns 1
 * (with *len), 0 when incomplete, -1 when malformed. */
static int dechunk(tw_hc *c, size_t *len) {
  char *b = c->rbuf;
  size_t end = c->rlen, q = c->hdr_len, data;
  unsigned long long sz;
  for (;;) { /* first pass: is it all here? */
    int r = chunk_line(b, q, end, &sz, &data);
    if (r <= 0) return r;
    if (sz == 0) { /* trailers end with an empty line */
      size_t t = data;
      for (;;) {
        const char *nl = memmem(b + t, end - t, "\r\n", 2);
        if (!nl) return 0;
        if (nl == b + t) break;
        t = (size_t)(nl - b) + 2;
      }
      break;
    }
    if (data + sz + 2 > end) return 0;
    q = data + (size_t)sz + 2;
  }
  size_t w = c->hdr_len;
  q = c->hdr_len;
  for (;;) {
    chunk_line(b, q, end, &sz, &data);
    if (sz == 0) break;
    memmove(b + w, b + data, (size_t)sz);
    w += (size_t)sz;
    q = data + (size_t)sz + 2;
  }
  *len = w - c->hdr_len;
  return 1;
}

/* Parses the head once it is here and decides whether the body is dropped.
 * Returns 1 parsed, 0 need more, -1 when the response was failed. */
static int head_ready(tw_hc *c, int eof) {
  if (c->hdr_len) return 1;
  int r = parse_head(c);
  if (r < 0) {
    fail(c, "malformed HTTP response", 0);
    return -1;
  }
  if (r == 0) {
    if (!eof) return 0;
    fail(c, c->rlen ? "connection closed mid-response" : "connection closed by server", 0);
    return -1;
  }
  if (c->discard_body && c->status >= 200 && c->status < 300 && !c->chunked) {
    /* what came with the head counts; the rest is dropped as it arrives */
    size_t extra = c->rlen - c->hdr_len;
    c->sinking = 1;
    c->resp_body = extra;
    c->loop->body_bytes.received += extra;
    c->rlen = c->hdr_len;
  } else if (c->clen > 0 && (unsigned long long)c->clen > MAX_RESPONSE) {
    fail(c, "response too large", 0);
    return -1;
  }
  return 1;
}

/* Hands the finished response to the callback. */
static void complete(tw_hc *c, int eof, const char *body, size_t blen) {
  int status = c->status;
  /* a server that answers before the whole request was sent (an early error)
   * may still be reading it: the connection is out of step, start afresh */
  if (c->close_after || eof || write_pending(c)) drop_fd(c);
  /* the body stays in rbuf until the next read, which happens after the callback */
  reset_parse(c);
  c->busy = 0;
  clear_write(c);
  c->done(c, status, body, blen);
}

/* Finishes the response when all of it is here (eof: the server closed). */
static void try_complete(tw_hc *c, int eof) {
  int h = head_ready(c, eof);
  if (h <= 0) return;
  if (c->sinking) {
    if (c->clen >= 0 && c->resp_body > (unsigned long long)c->clen) {
      fail(c, "more body than Content-Length", 0);
      return;
    }
    if (c->clen >= 0 ? c->resp_body < (unsigned long long)c->clen : !eof) {
      if (eof) fail(c, "connection closed mid-body", 0);
      return;
    }
    complete(c, eof, "", 0);
    return;
  }
  size_t blen;
  if (c->chunked) {
    int r = dechunk(c, &blen);
    if (r < 0) {
      fail(c, "malformed chunked body", 0);
      return;
    }
    if (r == 0) {
      if (eof) fail(c, "connection closed mid-body", 0);
      return;
    }
  } else if (c->clen >= 0) {
    if (c->rlen - c->hdr_len < (size_t)c->clen) {
      if (eof) fail(c, "connection closed mid-body", 0);
      return;
    }
    blen = (size_t)c->clen;
  } else {
    if (!eof) return; /* delimited by the server closing */
    blen = c->rlen - c->hdr_len;
  }
  const char *body = c->rbuf + c->hdr_len;
  c->resp_body = blen;
  if (c->status < 300) c->loop->body_bytes.received += blen; /* error bodies are no throughput */
  complete(c, eof, blen ? body : "", blen);
}

/* Drops body bytes in the kernel (MSG_TRUNC on TCP), never reading past the
 * announced length. Returns 1 to go on reading, 0 when the socket is drained,
 * -1 after a failure or end of stream was handled. */
static int sink(tw_hc *c) {
  size_t want = SINK_CHUNK;
  if (c->clen >= 0) {
    unsigned long long left = (unsigned long long)c->clen - c->resp_body;
    if (left == 0) {
      try_complete(c, 0);
      return -1;
    }
    if (left < want) want = (size_t)left;
  }
  ssize_t n = recv(c->fd, NULL, want, MSG_TRUNC);
  if (n > 0) {
    c->resp_body += (size_t)n;
    c->loop->body_bytes.received += (size_t)n;
    return 1;
  }
  if (n < 0 && errno == EINTR) return 1;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (n == 0)
    try_complete(c, 1);
  else
    fail(c, "recv", errno);
  return -1;
}

static void on_readable(tw_hc *c) {
  for (;;) {
    if (c->sinking) {
      int r = sink(c);
      if (r < 0) return;
      if (r == 0) break;
      continue;
    }
    if (c->rcap - c->rlen < 4096) {
      size_t cap = c->rcap ? c->rcap * 2 : 16384;
      if (cap > MAX_RESPONSE + 65536) {
        fail(c, "response too large", 0);
        return;
      }
      char *nb = realloc(c->rbuf, cap);
      if (!nb) {
        fail(c, "out of memory", 0);
        return;
      }
      c->rbuf = nb;
      c->rcap = cap;
    }
    size_t room = c->rcap - c->rlen - 1; /* one byte for a terminating NUL */
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
    if (n > 0) {
      c->rlen += (size_t)n;
      c->rbuf[c->rlen] = '\0';
      if (c->busy && c->discard_body && !c->hdr_len) {
        if (head_ready(c, 0) < 0) return;
        if (c->sinking) continue;
      }
      if ((size_t)n == room) continue;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (!c->busy) { /* an idle connection closed: re-open on the next request */
      drop_fd(c);
      reset_parse(c);
      return;
    }
    if (n == 0)
      try_complete(c, 1);
    else
      fail(c, "recv", errno);
    return;
  }
  if (!c->busy) { /* bytes nobody asked for: the stream is out of step */
    drop_fd(c);
    reset_parse(c);
    return;
  }
  try_complete(c, 0);
}

static void on_event(tw_hc *c, unsigned ev) {
  if (c->fd < 0) return; /* closed earlier in this round */
  unsigned gen = c->gen;
  if (c->connecting) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      fail(c, "connect", err);
      return;
    }
    c->connecting = 0;
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    on_readable(c);
    /* the callback may have closed this socket or opened another one */
    if (c->gen != gen || c->fd < 0) return;
  }
  if (c->busy && write_pending(c)) {
    int e = flush(c);
    if (e) {
      fail(c, "send", e);
      return;
    }
  }
  if (c->fd >= 0 && update_interest(c)) fail(c, "epoll_ctl", errno);
}

int tw_hc_loop_poll(tw_hc_loop *l, int timeout_ms) {
  if (l->failed) {
    tw_hc *list = l->failed;
    l->failed = NULL;
    while (list) {
      tw_hc *c = list;
      list = c->failed_next;
      c->failed_next = NULL;
      reset_parse(c);
      c->busy = 0;
      clear_write(c);
      c->done(c, -1, NULL, 0);
    }
    timeout_ms = 0;
  }
  struct epoll_event evs[256];
  int n = epoll_wait(l->epfd, evs, 256, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -1;
  for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
  return n;
}

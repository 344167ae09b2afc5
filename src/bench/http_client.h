/* A small non-blocking HTTP/1.1 client for the load generator: one epoll loop
 * drives many keep-alive connections, each with at most one request in flight.
 * Responses may be delimited by Content-Length, chunked encoding or the server
 * closing the connection (moto's werkzeug server closes after every response);
 * a connection the server closed is re-opened on the next request.
 *
 * Large bodies never get copied: a request body can be borrowed from one
 * buffer shared by every connection (repeated to any length), and a 2xx
 * response body can be counted and dropped in the kernel instead of read. */
#ifndef TW_BENCH_HTTP_CLIENT_H
#define TW_BENCH_HTTP_CLIENT_H
#include <stddef.h>
#include <sys/socket.h>

typedef struct tw_hc tw_hc;

/* Called once per request. status is the HTTP status, or -1 when the request
 * failed below HTTP (connect refused, reset, malformed response); body is valid
 * only during the call, which may queue the connection's next request. */
typedef void (*tw_hc_done_fn)(tw_hc *c, int status, const char *body, size_t len);

/* Body bytes that crossed the sockets of a loop, for throughput accounting of
 * bodies that are never buffered. */
typedef struct {
  unsigned long long sent, received;
} tw_hc_bytes;

typedef struct {
  int epfd;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  unsigned long connects; /* TCP connections opened, to show per-request connects */
  tw_hc *failed;          /* failures found inside tw_hc_send, reported by the next poll */
  tw_hc_bytes body_bytes; /* request bodies sent, 2xx response bodies received */
} tw_hc_loop;

struct tw_hc {
  tw_hc_loop *loop;
  int fd;
  int connecting;
  unsigned gen;    /* bumped per TCP connection, to spot a socket replaced mid-event */
  unsigned events; /* current epoll interest; 0 = not registered */
  int busy;        /* a request is in flight */
  char *wbuf;      /* the request head (or the whole request), copied */
  size_t wlen, woff, wcap;
  /* a borrowed body after wbuf: blen bytes taken from body[0..bsize), repeated */
  const char *body;
  size_t bsize;
  unsigned long long blen, boff;
  /* 1: a 2xx response body delimited by Content-Length or close is counted
   * and dropped (MSG_TRUNC); the callback then sees len 0 */
  int discard_body;
  int sinking;                  /* dropping the current response's body */
  unsigned long long resp_body; /* body bytes of the last completed response */
  char *rbuf;
  size_t rlen, rcap;
  /* response parsing */
  size_t hdr_len; /* bytes of status line + headers; 0 until they are complete */
  long long clen; /* Content-Length, -1 when absent */
  int status, chunked, close_after;
  tw_hc_done_fn done;
  void *ud;
  char last_error[96]; /* why the last transport failure happened */
  tw_hc *failed_next;
};

/* Resolves host:port. Returns 0, or -1 with a message in err. */
int tw_hc_loop_init(tw_hc_loop *l, const char *host, const char *port, char *err, size_t errlen);
void tw_hc_loop_free(tw_hc_loop *l);
/* One epoll_wait round, dispatching completions. Returns events seen, -1 on error. */
int tw_hc_loop_poll(tw_hc_loop *l, int timeout_ms);

void tw_hc_init(tw_hc *c, tw_hc_loop *l, tw_hc_done_fn done, void *ud);
/* Queues a request (bytes are copied), connecting first when needed. Returns 0,
 * or -1 when the connection is busy. Transport failures are reported through
 * the callback, never here, so every request gets exactly one completion. */
int tw_hc_send(tw_hc *c, const char *req, size_t len);
/* Queues a request made of head (copied) and blen body bytes borrowed from
 * body[0..bsize), repeated when blen is larger; body must stay valid until the
 * completion. Returns 0, or -1 when the connection is busy. */
int tw_hc_send_body(tw_hc *c, const char *head, size_t hlen, const char *body, size_t bsize,
                    unsigned long long blen);
/* 1 when the whole request has gone to the socket. */
int tw_hc_written(const tw_hc *c);
void tw_hc_close(tw_hc *c);
void tw_hc_free(tw_hc *c);

#endif

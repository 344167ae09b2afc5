/* The external authorizer, like an API Gateway Lambda token authorizer: bearer
 * tokens that are not API keys go to `exec:CMD` (the JSON request on stdin,
 * the answer on stdout) or `http://HOST:PORT/PATH` (POSTed JSON), which
 * answers {"principalId","allow","scopes","ttl"}. Answers are cached per token
 * for ttl seconds.
 *
 * No HTTP thread waits: the request is parked (tw_req_suspend) while one of
 * a few helper threads asks the authorizer, and woken with the answer.
 * Concurrent requests with the same token share one question. Every question
 * has a deadline (--authorizer-timeout-ms) from the moment it is asked: a
 * helper kills a command (its whole process group) or drops the connection
 * when it passes, and the periodic task fails questions still queued past it,
 * so a request waits at most the timeout plus 200 ms. No answer means deny. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/map.h"
#include "gateway/gateway_internal.h"
#include "net/http.h"

extern char **environ;

#define WORKERS 4
#define MAX_QUEUE 1024
#define MAX_CACHE 10000
#define MAX_ANSWER (64 * 1024)
#define MAX_TTL 3600
#define MAX_PRINCIPALS 100000

typedef struct tw_gw_job {
  char hash[65];
  char *request; /* the JSON sent to the authorizer */
  int64_t deadline_ms;
  int running;
  tw_gw_wait *waiters;
  struct tw_gw_job *next; /* queue */
} gw_job;

struct tw_gw_authz {
  tw_gateway *g;
  int is_exec;
  char cmd[1024];
  char *argv[64]; /* the command split on blanks, or sh -c CMD */
  char words[1024];
  char **envp; /* the server's environment without its own credentials */
  char host[300], port[16], path[512];
  tw_url url; /* http://host:port */
  int timeout_ms;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  gw_job *qhead, **qtail;
  size_t qlen;
  tw_map inflight; /* token hash -> job (queued or running) */
  tw_map cache;    /* token hash -> tw_gw_answer */
  tw_map buckets;  /* principal -> tw_gw_bucket */
  tw_gw_bucket overflow;
  pthread_t threads[WORKERS];
  tw_http_cancel cancel[WORKERS]; /* fired at stop: drops the helpers' connections */
  int nthreads;
  atomic_int stop;
};

/* What a helper thread gets: the authorizer and its own cancel token. */
typedef struct {
  tw_gw_authz *z;
  int idx;
} gw_helper;

/* --- answers ------------------------------------------------------------------------------- */

static tw_gw_answer *answer_new(void) {
  tw_gw_answer *a = calloc(1, sizeof *a);
  if (a) atomic_init(&a->refs, 1);
  return a;
}

static tw_gw_answer *failure(int status, const char *why) {
  tw_gw_answer *a = answer_new();
  if (!a) return NULL;
  a->fail_status = status;
  snprintf(a->why, sizeof a->why, "%s", why);
  return a;
}

static tw_gw_answer *ref(tw_gw_answer *a) {
  atomic_fetch_add(&a->refs, 1);
  return a;
}

void tw_gw_answer_release(tw_gw_answer *a) {
  if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
  json_decref(a->scopes);
  free(a);
}

/* Parses the authorizer's answer; ttl_s receives how long it may be cached. */
static tw_gw_answer *parse_answer(const char *text, size_t len, int *ttl_s) {
  json_error_t je;
  json_t *o = json_loadb(text, len, 0, &je);
  char why[200] = "";
  tw_gw_answer *a = NULL;
  if (!json_is_object(o)) {
    snprintf(why, sizeof why, "The authorizer's answer is not a JSON object.");
    goto fail;
  }
  json_t *allow = json_object_get(o, "allow"), *pid = json_object_get(o, "principalId");
  json_t *scopes = json_object_get(o, "scopes"), *ttl = json_object_get(o, "ttl");
  if (!json_is_boolean(allow)) {
    snprintf(why, sizeof why, "The authorizer's answer has no boolean \"allow\".");
    goto fail;
  }
  if (json_is_true(allow) &&
      (!json_is_string(pid) || !json_string_length(pid) || json_string_length(pid) > 100)) {
    snprintf(why, sizeof why, "The authorizer's answer has no principalId (1 to 100 characters).");
    goto fail;
  }
  char msg[300];
  if (scopes && !json_is_null(scopes) && tw_gw_scopes_check(scopes, msg, sizeof msg)) {
    snprintf(why, sizeof why, "The authorizer's scopes are invalid: %.150s", msg);
    goto fail;
  }
  if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0)) {
    snprintf(why, sizeof why, "The authorizer's ttl must be a number of seconds.");
    goto fail;
  }
  *ttl_s = ttl ? (int)(json_integer_value(ttl) > MAX_TTL ? MAX_TTL : json_integer_value(ttl)) : 0;
  a = answer_new();
  if (!a) goto fail;
  a->allow = json_is_true(allow);
  if (json_is_string(pid))
    snprintf(a->principal, sizeof a->principal, "%s", json_string_value(pid));
  /* no scopes: allowed in, but to do nothing */
  a->scopes = json_is_array(scopes) ? json_deep_copy(scopes) : json_array();
  json_decref(o);
  return a;
fail:
  json_decref(o);
  *ttl_s = 0;
  return failure(403, why[0] ? why : "Out of memory.");
}

/* --- exec: ----------------------------------------------------------------------------------- */

static int set_nonblock(int fd) {
  return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Runs the command with `in` on stdin; the answer from stdout, or a failure. */
static tw_gw_answer *run_exec(tw_gw_authz *z, const char *in, int64_t deadline, int *ttl) {
  int pin[2] = {-1, -1}, pout[2] = {-1, -1};
  char why[200];
  if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)) {
    snprintf(why, sizeof why, "Cannot run the authorizer: %s.", strerror(errno));
    for (int i = 0; i < 2; i++) {
      if (pin[i] >= 0) close(pin[i]);
      if (pout[i] >= 0) close(pout[i]);
    }
    return failure(403, why);
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  posix_spawnattr_init(&at);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  sigaddset(&dfl, SIGTERM);
  sigaddset(&dfl, SIGINT);
  sigaddset(&dfl, SIGHUP);
  posix_spawnattr_setsigmask(&at, &none); /* the server blocks these for sigwait */
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setpgroup(&at, 0); /* its own group: a timeout kills it all */
  posix_spawnattr_setflags(&at,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid;
  int se = posix_spawnp(&pid, z->argv[0], &fa, &at, z->argv, z->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(pin[0]);
  close(pout[1]);
  if (se) {
    close(pin[1]);
    close(pout[0]);
    snprintf(why, sizeof why, "Cannot run the authorizer: %s.", strerror(se));
    return failure(403, why);
  }
  set_nonblock(pin[1]);
  set_nonblock(pout[0]);
  size_t inlen = strlen(in), inoff = 0;
  tw_buf out;
  tw_buf_init(&out, MAX_ANSWER);
  int wfd = pin[1], rfd = pout[0], timed_out = 0, status = 0, exited = 0;
  while (rfd >= 0 || !exited) {
    int64_t left = deadline - tw_mono_ms();
    if (left <= 0 || atomic_load(&z->stop)) {
      timed_out = 1;
      break;
    }
    if (rfd < 0) { /* stdout closed: wait for the exit, bounded */
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = 1;
        break;
      }
      usleep(1000);
      continue;
    }
    struct pollfd pf[2];
    int np = 0;
    pf[np++] = (struct pollfd){.fd = rfd, .events = POLLIN};
    if (wfd >= 0) pf[np++] = (struct pollfd){.fd = wfd, .events = POLLOUT};
    poll(pf, (nfds_t)np, left > 100 ? 100 : (int)left);
    if (wfd >= 0 && pf[1].revents) {
      ssize_t n = write(wfd, in + inoff, inlen - inoff);
      if (n > 0) inoff += (size_t)n;
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || inoff == inlen) {
        close(wfd); /* all sent (or the command does not read): EOF on its stdin */
        wfd = -1;
      }
    }
    if (pf[0].revents) {
      char buf[4096];
      ssize_t n = read(rfd, buf, sizeof buf);
      if (n > 0) {
        tw_buf_append(&out, buf, (size_t)n);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(rfd);
        rfd = -1;
      }
    }
  }
  if (wfd >= 0) close(wfd);
  if (rfd >= 0) close(rfd);
  if (!exited) {
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  tw_gw_answer *a;
  if (timed_out) {
    snprintf(why, sizeof why, "The authorizer did not answer within %d ms.", z->timeout_ms);
    a = failure(403, why);
  } else if (WIFSIGNALED(status)) {
    snprintf(why, sizeof why, "The authorizer was killed by signal %d.", WTERMSIG(status));
    a = failure(403, why);
  } else if (WEXITSTATUS(status) != 0) {
    snprintf(why, sizeof why, "The authorizer exited with status %d.", WEXITSTATUS(status));
    a = failure(403, why);
  } else if (out.overflow) {
    a = failure(403, "The authorizer's answer is larger than 64 KiB.");
  } else {
    a = parse_answer(out.data ? out.data : "", out.len, ttl);
  }
  tw_buf_free(&out);
  return a;
}

/* --- http: -------------------------------------------------------------------------------------
 */

/* One question on a fresh connection (Connection: close), bounded by the
 * deadline; a fired cancel token (the server stopping) ends it at once. */
static tw_gw_answer *run_http(tw_gw_authz *z, tw_http *c, tw_http_cancel *cancel, const char *in,
                              int64_t deadline, int *ttl) {
  char why[200];
  int64_t left = deadline - tw_mono_ms();
  if (left <= 0 || atomic_load(&z->stop)) {
    snprintf(why, sizeof why, "The authorizer did not answer within %d ms.", z->timeout_ms);
    return failure(403, why);
  }
  char host[330];
  snprintf(host, sizeof host, "%s:%s", z->host, z->port);
  tw_kv h[] = {{"Host", host},
               {"Content-Type", "application/json"},
               {"Connection", "close"},
               {"User-Agent", "tweedle-gateway"}};
  tw_http_req q = {.method = "POST",
                   .path = z->path,
                   .headers = h,
                   .nheaders = sizeof h / sizeof h[0],
                   .body = in,
                   .body_len = strlen(in),
                   .body_fd = -1,
                   .resp_cap = MAX_ANSWER,
                   .resp_fd = -1,
                   .cancel = cancel,
                   .timeout_ms = left > INT32_MAX ? INT32_MAX : (int)left};
  tw_http_resp r;
  tw_http_resp_init(&r);
  char err[256];
  int rc = tw_http_do(c, &q, &r, err, sizeof err);
  tw_http_close(c); /* one question per connection, as the authorizer was told */
  tw_gw_answer *a;
  if (rc && (tw_mono_ms() >= deadline || atomic_load(&z->stop))) {
    snprintf(why, sizeof why, "The authorizer did not answer within %d ms.", z->timeout_ms);
    a = failure(403, why);
  } else if (rc && !r.body.overflow) {
    snprintf(why, sizeof why, "Cannot reach the authorizer: %.100s.", err);
    a = failure(403, why);
  } else if (r.status != 200) {
    snprintf(why, sizeof why, "The authorizer answered HTTP %d.", r.status);
    a = failure(403, why);
  } else if (r.body.overflow) {
    a = failure(403, "The authorizer's answer is larger than 64 KiB.");
  } else {
    a = parse_answer(r.body.data ? r.body.data : "", r.body.len, ttl);
  }
  tw_http_resp_free(&r);
  return a;
}

/* --- the helpers --------------------------------------------------------------------------------
 */

/* Under z->mu: hands the answer to every waiter and wakes them. */
static void deliver(gw_job *j, tw_gw_answer *a) {
  for (tw_gw_wait *w = j->waiters, *n; w; w = n) {
    n = w->next;
    w->job = NULL;
    w->next = NULL;
    w->answer = a ? ref(a) : failure(503, "Out of memory.");
    tw_req_wake(w->r);
  }
  j->waiters = NULL;
}

static void job_free(gw_job *j) {
  free(j->request);
  free(j);
}

/* Under z->mu: keeps the cache bounded. */
static void cache_put(tw_gw_authz *z, const char *hash, tw_gw_answer *a) {
  if (z->cache.count >= MAX_CACHE) {
    int64_t now = tw_mono_ms();
    const char *k;
    void *v;
    tw_map_entry *it = NULL;
    char(*dead)[65] = malloc(z->cache.count * sizeof *dead);
    size_t nd = 0;
    while (dead && (it = tw_map_next(&z->cache, it, &k, &v)))
      if (((tw_gw_answer *)v)->expires_ms <= now || z->cache.count - nd >= MAX_CACHE)
        snprintf(dead[nd++], 65, "%s", k);
    for (size_t i = 0; i < nd; i++) tw_gw_answer_release(tw_map_del(&z->cache, dead[i]));
    free(dead);
  }
  tw_gw_answer *old = tw_map_del(&z->cache, hash);
  if (old) tw_gw_answer_release(old);
  if (tw_map_put(&z->cache, hash, ref(a))) tw_gw_answer_release(a);
}

static void *worker(void *p) {
  gw_helper *hp = p;
  tw_gw_authz *z = hp->z;
  tw_http_cancel *cancel = &z->cancel[hp->idx];
  free(hp);
  tw_http *c = z->is_exec ? NULL : tw_http_new(&z->url);
  pthread_mutex_lock(&z->mu);
  for (;;) {
    while (!z->qhead && !atomic_load(&z->stop)) pthread_cond_wait(&z->cv, &z->mu);
    if (atomic_load(&z->stop)) break;
    gw_job *j = z->qhead;
    z->qhead = j->next;
    if (!z->qhead) z->qtail = &z->qhead;
    z->qlen--;
    j->running = 1;
    pthread_mutex_unlock(&z->mu);
    int ttl = 0;
    tw_gw_answer *a;
    if (z->is_exec)
      a = run_exec(z, j->request, j->deadline_ms, &ttl);
    else if (c)
      a = run_http(z, c, cancel, j->request, j->deadline_ms, &ttl);
    else
      a = failure(503, "Out of memory.");
    pthread_mutex_lock(&z->mu);
    if (a && !a->fail_status && ttl > 0) {
      a->expires_ms = tw_mono_ms() + (int64_t)ttl * 1000;
      cache_put(z, j->hash, a);
    }
    if (tw_map_get(&z->inflight, j->hash) == j) tw_map_del(&z->inflight, j->hash);
    deliver(j, a);
    pthread_mutex_unlock(&z->mu);
    if (a && a->fail_status) tw_warn("authorizer: %s", a->why);
    tw_gw_answer_release(a);
    job_free(j);
    pthread_mutex_lock(&z->mu);
  }
  pthread_mutex_unlock(&z->mu);
  tw_http_free(c);
  return NULL;
}

/* A plain command (words only) runs directly; anything a shell would
 * interpret runs under /bin/sh -c, so a timeout's kill reaches the process
 * group either way and a signal ending the command is seen as such. */
static void split_command(tw_gw_authz *z) {
  int n = 0;
  if (!z->cmd[strcspn(z->cmd, "|&;<>()$`\\\"'*?[]#~=%{}!\n")]) {
    snprintf(z->words, sizeof z->words, "%s", z->cmd);
    for (char *save = NULL, *w = strtok_r(z->words, " \t", &save); w && n < 63;
         w = strtok_r(NULL, " \t", &save))
      z->argv[n++] = w;
  }
  if (!n || n == 63) {
    z->argv[0] = "/bin/sh";
    z->argv[1] = "-c";
    z->argv[2] = z->cmd;
    n = 3;
  }
  z->argv[n] = NULL;
}

/* http://host[:port]/path */
static int parse_url(tw_gw_authz *z, const char *url, char *err, size_t errlen) {
  const char *p = url + 7;
  size_t n = strcspn(p, "/");
  char hp[300];
  if (!n || n >= sizeof hp) goto bad;
  snprintf(hp, sizeof hp, "%.*s", (int)n, p);
  snprintf(z->path, sizeof z->path, "%s", p[n] ? p + n : "/");
  char *colon = strrchr(hp, ':');
  if (hp[0] == '[') { /* [v6]:port */
    char *e = strchr(hp, ']');
    if (!e) goto bad;
    *e = 0;
    snprintf(z->host, sizeof z->host, "%s", hp + 1);
    snprintf(z->port, sizeof z->port, "%s", e[1] == ':' ? e + 2 : "80");
  } else if (colon) {
    *colon = 0;
    snprintf(z->host, sizeof z->host, "%s", hp);
    snprintf(z->port, sizeof z->port, "%s", colon + 1);
  } else {
    snprintf(z->host, sizeof z->host, "%s", hp);
    snprintf(z->port, sizeof z->port, "80");
  }
  if (!z->host[0] || !z->port[0] || strspn(z->port, "0123456789") != strlen(z->port)) goto bad;
  return 0;
bad:
  snprintf(err, errlen, "--authorizer: cannot parse the URL %s", url);
  return -1;
}

int tw_gw_authz_open(tw_gateway *g, const char *spec, int timeout_ms, char *err, size_t errlen) {
  tw_gw_authz *z = calloc(1, sizeof *z);
  if (!z) {
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
  }
  z->g = g;
  z->timeout_ms = timeout_ms;
  pthread_mutex_init(&z->mu, NULL);
  pthread_cond_init(&z->cv, NULL);
  z->qtail = &z->qhead;
  tw_map_init(&z->inflight);
  tw_map_init(&z->cache);
  tw_map_init(&z->buckets);
  tw_gw_bucket_init(&z->overflow);
  for (int i = 0; i < WORKERS; i++) tw_http_cancel_init(&z->cancel[i]);
  g->authz = z;
  if (!strncmp(spec, "exec:", 5) && spec[5]) {
    z->is_exec = 1;
    snprintf(z->cmd, sizeof z->cmd, "%s", spec + 5);
    split_command(z);
    /* like a Lambda authorizer, the command gets no keys of ours */
    size_t n = 0, k = 0;
    while (environ[n]) n++;
    z->envp = calloc(n + 1, sizeof *z->envp);
    if (!z->envp) {
      snprintf(err, errlen, "gateway: out of memory");
      return -1;
    }
    for (size_t i = 0; i < n; i++)
      if (strncmp(environ[i], "TWEEDLE_SECRET_ACCESS_KEY=", 26) &&
          strncmp(environ[i], "TWEEDLE_ACCESS_KEY_ID=", 22))
        z->envp[k++] = environ[i];
  } else if (!strncmp(spec, "http://", 7)) {
    if (parse_url(z, spec, err, errlen)) return -1;
    char base[340];
    int v6 = strchr(z->host, ':') != NULL;
    snprintf(base, sizeof base, "http://%s%s%s:%s", v6 ? "[" : "", z->host, v6 ? "]" : "", z->port);
    if (tw_url_parse(base, &z->url, err, errlen) || tw_url_resolve(&z->url, err, errlen)) return -1;
  } else if (!strncmp(spec, "https://", 8)) {
    snprintf(err, errlen,
             "--authorizer: https is not supported yet; use http:// on a trusted network, or "
             "exec: with a command such as curl");
    return -1;
  } else {
    snprintf(err, errlen, "--authorizer must be exec:COMMAND or http://HOST:PORT/PATH, got %s",
             spec);
    return -1;
  }
  for (int i = 0; i < WORKERS; i++) {
    gw_helper *hp = malloc(sizeof *hp);
    if (hp) *hp = (gw_helper){z, i};
    if (!hp || pthread_create(&z->threads[i], NULL, worker, hp)) {
      free(hp);
      snprintf(err, errlen, "gateway: cannot start the authorizer threads");
      return -1;
    }
    z->nthreads++;
  }
  return 0;
}

void tw_gw_authz_stop(tw_gateway *g) {
  tw_gw_authz *z = g->authz;
  if (!z) return;
  tw_gw_answer *a = failure(503, "The server is shutting down.");
  pthread_mutex_lock(&z->mu);
  atomic_store(&z->stop, 1);
  pthread_cond_broadcast(&z->cv);
  for (int i = 0; i < WORKERS; i++) tw_http_cancel_fire(&z->cancel[i]);
  /* queued and running questions alike: their requests answer now */
  const char *k;
  void *v;
  for (tw_map_entry *it = NULL; (it = tw_map_next(&z->inflight, it, &k, &v));) deliver(v, a);
  pthread_mutex_unlock(&z->mu);
  tw_gw_answer_release(a);
}

void tw_gw_authz_close(tw_gateway *g) {
  tw_gw_authz *z = g->authz;
  if (!z) return;
  tw_gw_authz_stop(g);
  for (int i = 0; i < z->nthreads; i++) pthread_join(z->threads[i], NULL);
  while (z->qhead) {
    gw_job *j = z->qhead;
    z->qhead = j->next;
    job_free(j);
  }
  const char *k;
  void *v;
  for (tw_map_entry *it = NULL; (it = tw_map_next(&z->cache, it, &k, &v));) tw_gw_answer_release(v);
  for (tw_map_entry *it = NULL; (it = tw_map_next(&z->buckets, it, &k, &v));) {
    tw_gw_bucket_destroy(v);
    free(v);
  }
  tw_map_free(&z->inflight);
  tw_map_free(&z->cache);
  tw_map_free(&z->buckets);
  tw_gw_bucket_destroy(&z->overflow);
  for (int i = 0; i < WORKERS; i++) tw_http_cancel_destroy(&z->cancel[i]);
  pthread_mutex_destroy(&z->mu);
  pthread_cond_destroy(&z->cv);
  free(z->envp);
  free(z);
  g->authz = NULL;
}

void tw_gw_authz_tick(tw_gateway *g) {
  tw_gw_authz *z = g->authz;
  if (!z) return;
  int64_t now = tw_mono_ms();
  char why[200];
  snprintf(why, sizeof why, "The authorizer did not answer within %d ms.", z->timeout_ms);
  tw_gw_answer *late = NULL;
  pthread_mutex_lock(&z->mu);
  for (gw_job **pp = &z->qhead; *pp;) {
    gw_job *j = *pp;
    if (j->deadline_ms > now) {
      pp = &j->next;
      continue;
    }
    *pp = j->next;
    z->qlen--;
    if (!late) late = failure(403, why);
    tw_map_del(&z->inflight, j->hash);
    deliver(j, late);
    job_free(j);
  }
  z->qtail = &z->qhead;
  while (*z->qtail) z->qtail = &(*z->qtail)->next;
  pthread_mutex_unlock(&z->mu);
  if (late) tw_warn("authorizer: %s (questions still queued)", why);
  tw_gw_answer_release(late);
}

tw_gw_answer *tw_gw_authz_ask(tw_gateway *g, tw_request *r, const char *token, tw_gw_wait *w) {
  tw_gw_authz *z = g->authz;
  char hash[65];
  tw_sha256_hex(token, strlen(token), hash);
  int64_t now = tw_mono_ms();
  pthread_mutex_lock(&z->mu);
  if (atomic_load(&z->stop)) {
    pthread_mutex_unlock(&z->mu);
    return failure(503, "The server is shutting down.");
  }
  tw_gw_answer *a = tw_map_get(&z->cache, hash);
  if (a && a->expires_ms > now) {
    ref(a);
    pthread_mutex_unlock(&z->mu);
    return a;
  }
  if (a) tw_gw_answer_release(tw_map_del(&z->cache, hash));
  gw_job *j = tw_map_get(&z->inflight, hash);
  if (!j) {
    if (z->qlen >= MAX_QUEUE) {
      pthread_mutex_unlock(&z->mu);
      return failure(503, "The authorizer is overloaded; try again later.");
    }
    j = calloc(1, sizeof *j);
    json_t *q = json_pack("{s:s,s:s,s:s,s:s}", "token", token, "method", r->method, "path", r->path,
                          "sourceIp", r->remote);
    if (j && q) j->request = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    if (!j || !j->request) {
      if (j) job_free(j);
      pthread_mutex_unlock(&z->mu);
      return failure(503, "Out of memory.");
    }
    snprintf(j->hash, sizeof j->hash, "%s", hash);
    j->deadline_ms = now + z->timeout_ms;
    *z->qtail = j;
    z->qtail = &j->next;
    z->qlen++;
    tw_map_put(&z->inflight, hash, j);
    pthread_cond_signal(&z->cv);
  }
  w->job = j;
  w->answer = NULL;
  w->next = j->waiters;
  j->waiters = w;
  pthread_mutex_unlock(&z->mu);
  return NULL;
}

void tw_gw_authz_cancel(tw_gateway *g, tw_gw_wait *w) {
  tw_gw_authz *z = g ? g->authz : NULL;
  if (!z) return;
  pthread_mutex_lock(&z->mu);
  if (w->job)
    for (tw_gw_wait **pp = &w->job->waiters; *pp; pp = &(*pp)->next)
      if (*pp == w) {
        *pp = w->next;
        break;
      }
  w->job = NULL;
  pthread_mutex_unlock(&z->mu);
}

tw_gw_bucket *tw_gw_authz_bucket(tw_gateway *g, const char *principal) {
  tw_gw_authz *z = g->authz;
  pthread_mutex_lock(&z->mu);
  tw_gw_bucket *b = tw_map_get(&z->buckets, principal);
  if (!b && z->buckets.count < MAX_PRINCIPALS && (b = malloc(sizeof *b))) {
    tw_gw_bucket_init(b);
    if (tw_map_put(&z->buckets, principal, b)) {
      tw_gw_bucket_destroy(b);
      free(b);
      b = NULL;
    }
  }
  pthread_mutex_unlock(&z->mu);
  return b ? b : &z->overflow;
}

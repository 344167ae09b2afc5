/* Handler processes: spawn, feed, capture, deadline, kill, stderr to the log. */
#include "worker/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "worker/wlogs.h"

extern char **environ;

#define FILE_CHUNK (64u << 10)
#define LOG_LINE 4000

/* --- input streams ------------------------------------------------------------------- */

typedef struct {
  int file; /* 0: bytes [off, off+len) of mem; 1: fd */
  size_t off, len;
  int fd, esc;
} piece;

struct tw_wstream {
  tw_buf mem;
  piece *p;
  size_t n, cap;
  /* reading */
  size_t cur, at;    /* piece, offset inside a memory piece */
  uint64_t fpos;     /* offset inside the current file */
  char *raw, *chunk; /* file reading: raw bytes, escaped bytes */
  size_t chunk_len, chunk_at;
  int eof_piece; /* the current file piece is exhausted once chunk drains */
};

tw_wstream *tw_wstream_new(void) {
  tw_wstream *s = calloc(1, sizeof *s);
  if (s) tw_buf_init(&s->mem, (size_t)1 << 34);
  return s;
}

void tw_wstream_free(tw_wstream *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i].file) close(s->p[i].fd);
  free(s->p);
  free(s->raw);
  free(s->chunk);
  tw_buf_free(&s->mem);
  free(s);
}

static piece *add_piece(tw_wstream *s) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    piece *np = realloc(s->p, nc * sizeof *np);
    if (!np) return NULL;
    s->p = np;
    s->cap = nc;
  }
  piece *x = &s->p[s->n++];
  memset(x, 0, sizeof *x);
  x->fd = -1;
  return x;
}

void tw_wstream_reset(tw_wstream *s) {
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i].file) close(s->p[i].fd);
  s->n = 0;
  tw_buf_reset(&s->mem);
  tw_wstream_rewind(s);
}

tw_buf *tw_wstream_begin(tw_wstream *s, size_t *mark) {
  *mark = s->mem.len;
  return &s->mem;
}

/* Records mem[off, mem.len) as the next memory piece (merged with the last
 * piece when they touch). */
static int note_mem(tw_wstream *s, size_t off) {
  size_t n = s->mem.len - off;
  if (s->mem.overflow) return -1;
  if (!n) return 0;
  piece *last = s->n ? &s->p[s->n - 1] : NULL;
  if (last && !last->file && last->off + last->len == off) {
    last->len += n;
    return 0;
  }
  piece *x = add_piece(s);
  if (!x) return -1;
  x->off = off;
  x->len = n;
  return 0;
}

int tw_wstream_end(tw_wstream *s, size_t mark) {
  return note_mem(s, mark);
}

int tw_wstream_mem(tw_wstream *s, const char *p, size_t n) {
  if (!n) return 0;
  size_t off = s->mem.len;
  if (tw_buf_append(&s->mem, p, n)) return -1;
  return note_mem(s, off);
}

int tw_wstream_str(tw_wstream *s, const char *str) {
  return tw_wstream_mem(s, str, strlen(str));
}

int tw_wstream_file(tw_wstream *s, const char *path, int json_escape) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  piece *x = add_piece(s);
  if (!x) {
    close(fd);
    return -1;
  }
  x->file = 1;
  x->fd = fd;
  x->esc = json_escape;
  return 0;
}

long long tw_wstream_mem_size(const tw_wstream *s) {
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i].file) return -1;
  return (long long)s->mem.len;
}

void tw_wstream_rewind(tw_wstream *s) {
  s->cur = s->at = 0;
  s->fpos = 0;
  s->chunk_len = s->chunk_at = 0;
  s->eof_piece = 0;
}

/* JSON string escaping of n raw bytes into out (which holds 6n bytes). Bytes
 * >= 0x80 pass unchanged, so a UTF-8 sequence split between chunks is fine. */
static size_t json_escape(const char *in, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n') {
      out[o++] = '\\', out[o++] = 'n';
    } else if (c == '\r') {
      out[o++] = '\\', out[o++] = 'r';
    } else if (c == '\t') {
      out[o++] = '\\', out[o++] = 't';
    } else if (c < 0x20) {
      memcpy(out + o, "\\u00", 4);
      o += 4;
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  return o;
}

/* The next bytes to write: >0 with *p set, 0 at the end, -1 on a read error. */
static ssize_t ws_next(tw_wstream *s, const char **p) {
  while (s->cur < s->n) {
    piece *x = &s->p[s->cur];
    if (!x->file) {
      if (s->at < x->len) {
        *p = s->mem.data + x->off + s->at;
        return (ssize_t)(x->len - s->at);
      }
    } else {
      if (s->chunk_at < s->chunk_len) {
        *p = s->chunk + s->chunk_at;
        return (ssize_t)(s->chunk_len - s->chunk_at);
      }
      if (!s->eof_piece) {
        if (!s->raw) s->raw = malloc(FILE_CHUNK);
        if (!s->chunk) s->chunk = malloc(FILE_CHUNK * 6);
        if (!s->raw || !s->chunk) return -1;
        ssize_t r;
        do r = pread(x->fd, s->raw, FILE_CHUNK, (off_t)s->fpos);
        while (r < 0 && errno == EINTR);
        if (r < 0) return -1;
        if (r == 0) {
          s->eof_piece = 1;
        } else {
          s->fpos += (uint64_t)r;
          if (x->esc) {
            s->chunk_len = json_escape(s->raw, (size_t)r, s->chunk);
          } else {
            memcpy(s->chunk, s->raw, (size_t)r);
            s->chunk_len = (size_t)r;
          }
          s->chunk_at = 0;
          continue;
        }
      }
    }
    s->cur++;
    s->at = 0;
    s->fpos = 0;
    s->chunk_len = s->chunk_at = 0;
    s->eof_piece = 0;
  }
  return 0;
}

static void ws_consume(tw_wstream *s, size_t n) {
  piece *x = &s->p[s->cur];
  if (x->file)
    s->chunk_at += n;
  else
    s->at += n;
}

int tw_wstream_read_all(tw_wstream *s, tw_buf *out) {
  tw_wstream_rewind(s);
  for (;;) {
    const char *p;
    ssize_t n = ws_next(s, &p);
    if (n < 0) return -1;
    if (n == 0) return 0;
    if (tw_buf_append(out, p, (size_t)n)) return -1;
    ws_consume(s, (size_t)n);
  }
}

/* --- stderr to the log ------------------------------------------------------------------ */

typedef struct {
  pid_t pid;
  char buf[LOG_LINE];
  size_t len;
} linelog;

static void linelog_emit(linelog *l) {
  size_t n = l->len;
  if (n && l->buf[n - 1] == '\r') n--;
  tw_info("[handler pid=%d] %.*s", (int)l->pid, (int)n, l->buf);
  if (tw_wlogs_current) tw_wlogs_line(tw_wlogs_current, l->buf, n); /* --name */
  l->len = 0;
}

static void linelog_feed(linelog *l, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      linelog_emit(l);
    } else {
      if (l->len == sizeof l->buf) linelog_emit(l); /* an overlong line goes out in pieces */
      l->buf[l->len++] = p[i];
    }
  }
}

static void linelog_flush(linelog *l) {
  if (l->len) linelog_emit(l);
}

/* --- spawning ----------------------------------------------------------------------------- */

/* environ plus extra (replacing same-name entries). Frees with free() (the
 * strings are borrowed). */
static char **build_env(char *const *extra) {
  size_t ne = 0, nx = 0;
  while (environ && environ[ne]) ne++;
  while (extra && extra[nx]) nx++;
  char **env = calloc(ne + nx + 1, sizeof *env);
  if (!env) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < ne; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int replaced = 0;
    for (size_t j = 0; j < nx && !replaced; j++)
      replaced = !strncmp(extra[j], environ[i], nl) && extra[j][nl] == '=';
    if (!replaced) env[k++] = environ[i];
  }
  for (size_t j = 0; j < nx; j++) env[k++] = extra[j];
  env[k] = NULL;
  return env;
}

/* A command made only of plain words (no quoting, expansion, redirection or
 * operators) means the same to sh -c as to execvp of its words: run it
 * directly, so the handler is our child (its pid, its signals) and no shell
 * sits in between. NULL otherwise; one allocation holds the vector and words. */
static char **simple_words(const char *cmd) {
  size_t len = strlen(cmd), n = 0;
  if (!len || strpbrk(cmd, "|&;<>()$`\\\"'*?[]#~=%{}!\n\r")) return NULL;
  for (size_t i = 0; i < len; i++)
    if (cmd[i] != ' ' && cmd[i] != '\t' && (i == 0 || cmd[i - 1] == ' ' || cmd[i - 1] == '\t')) n++;
  if (!n) return NULL;
  char **v = malloc((n + 1) * sizeof *v + len + 1);
  if (!v) return NULL;
  char *words = (char *)(v + n + 1);
  memcpy(words, cmd, len + 1);
  size_t k = 0;
  char *save = NULL;
  for (char *tok = strtok_r(words, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
    v[k++] = tok;
  v[k] = NULL;
  return v;
}

typedef struct {
  pid_t pid;
  int pidfd; /* -1 when the kernel has no pidfd_open: waitpid is polled */
  int in, out, err;
} child;

static int spawn(const char *cmd, char *const *extra, child *c, char *err, size_t errlen) {
  int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
  char **env = NULL;
  int rc = -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    goto out;
  }
  env = build_env(extra);
  if (!env) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  char *shargv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
  char **argv = simple_words(cmd);
  int e = argv ? posix_spawnp(&c->pid, argv[0], &fa, &at, argv, env)
               : posix_spawn(&c->pid, "/bin/sh", &fa, &at, shargv, env);
  if (e) {
    snprintf(err, errlen, "cannot start %s: %s", argv ? argv[0] : "/bin/sh", strerror(e));
    free(argv);
    goto out;
  }
  free(argv);
  c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  c->in = pin[1], c->out = pout[0], c->err = perr[0];
  pin[1] = pout[0] = perr[0] = -1;
  fcntl(c->in, F_SETFL, O_NONBLOCK);
  fcntl(c->out, F_SETFL, O_NONBLOCK);
  fcntl(c->err, F_SETFL, O_NONBLOCK);
  rc = 0;
out:
  for (int i = 0; i < 2; i++) {
    if (pin[i] >= 0) close(pin[i]);
    if (pout[i] >= 0) close(pout[i]);
    if (perr[i] >= 0) close(perr[i]);
  }
  free(env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  return rc;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Reaps c if it has exited: 1 (status in *st), 0 still running. */
static int reap(child *c, int *st) {
  pid_t r;
  do r = waitpid(c->pid, st, WNOHANG);
  while (r < 0 && errno == EINTR);
  return r == c->pid || (r < 0 && errno == ECHILD);
}

static void note_status(tw_proc_result *r, int st) {
  if (WIFEXITED(st)) r->exit_code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) r->signo = WTERMSIG(st);
}

/* SIGTERM to the group, SIGKILL after grace_s; reaps. */
static void kill_child(child *c, double grace_s, tw_proc_result *r) {
  int st = 0;
  if (reap(c, &st)) {
    note_status(r, st);
    kill(-c->pid, SIGKILL); /* strays left in its group */
    return;
  }
  kill(-c->pid, SIGTERM);
  int64_t until = tw_mono_ms() + (int64_t)(grace_s * 1000);
  while (tw_mono_ms() < until) {
    if (reap(c, &st)) {
      note_status(r, st);
      kill(-c->pid, SIGKILL);
      return;
    }
    usleep(10000);
  }
  kill(-c->pid, SIGKILL);
  kill(c->pid, SIGKILL);
  pid_t w;
  do w = waitpid(c->pid, &st, 0);
  while (w < 0 && errno == EINTR);
  if (w == c->pid) note_status(r, st);
}

/* --- results -------------------------------------------------------------------------------- */

void tw_proc_result_init(tw_proc_result *r, size_t out_cap) {
  memset(r, 0, sizeof *r);
  r->exit_code = -1;
  tw_buf_init(&r->out, out_cap);
}

void tw_proc_result_free(tw_proc_result *r) {
  tw_buf_free(&r->out);
}

static void result_reset(tw_proc_result *r) {
  size_t cap = r->out.cap;
  tw_buf_free(&r->out);
  memset(r, 0, sizeof *r);
  r->exit_code = -1;
  tw_buf_init(&r->out, cap);
}

const char *tw_proc_describe(const tw_proc_result *r, char *out, size_t n) {
  if (r->spawn_failed)
    snprintf(out, n, "could not start: %s", r->err);
  else if (r->aborted)
    snprintf(out, n, "stopped at shutdown");
  else if (r->timed_out)
    snprintf(out, n, "timed out after %.1f s", r->ms / 1000);
  else if (r->err[0])
    snprintf(out, n, "%s", r->err);
  else if (r->signo)
    snprintf(out, n, "killed by signal %d", r->signo);
  else if (r->exit_code > 0)
    snprintf(out, n, "exit status %d", r->exit_code);
  else if (r->out_overflow)
    snprintf(out, n, "output larger than %zu bytes", r->out.cap);
  else
    snprintf(out, n, "ok");
  return out;
}

/* Appends to r->out, latching overflow instead of failing. */
static void capture(tw_proc_result *r, const char *p, size_t n) {
  if (r->out_overflow) return;
  if (tw_buf_append(&r->out, p, n)) r->out_overflow = 1;
}

/* Writes what the pipe takes. 0 done/progress, 1 finished, -1 broken pipe / read error. */
static int feed(int fd, tw_wstream *in) {
  for (;;) {
    const char *p;
    ssize_t n = ws_next(in, &p);
    if (n < 0) return -1;
    if (n == 0) return 1;
    ssize_t w = write(fd, p, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -1;
    }
    ws_consume(in, (size_t)w);
  }
}

/* feed, then the line's "\n": in the same write as the last memory piece, so
 * that a line-reading handler wakes once per event, not twice. 2 when all of it
 * (newline included) is written, 1 when all but the newline, 0 on a full pipe,
 * -1 on an error. */
static int feed_line(int fd, tw_wstream *in) {
  for (;;) {
    const char *p;
    ssize_t n = ws_next(in, &p);
    if (n < 0) return -1;
    if (n == 0) return 1;
    int last = in->cur + 1 == in->n && !in->p[in->cur].file;
    struct iovec iov[2] = {{(void *)p, (size_t)n}, {"\n", 1}};
    ssize_t w = writev(fd, iov, last ? 2 : 1);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -1;
    }
    if (w > n) return 2;
    ws_consume(in, (size_t)w);
  }
}

/* Reads what is there. 1 EOF, 0 otherwise. */
static int drain(int fd, void (*sink)(void *, const char *, size_t), void *ud) {
  char buf[16384];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0) {
      sink(ud, buf, (size_t)r);
      continue;
    }
    if (r == 0) return 1;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? 0 : 1;
  }
}

static void sink_out(void *ud, const char *p, size_t n) {
  capture(ud, p, n);
}
static void sink_log(void *ud, const char *p, size_t n) {
  linelog_feed(ud, p, n);
}

int tw_proc_run(const char *cmd, char *const *env, tw_wstream *in, double timeout_s, double grace_s,
                const volatile int *abort_flag, tw_proc_result *r) {
  result_reset(r);
  child c = {.pidfd = -1, .in = -1, .out = -1, .err = -1};
  int64_t t0 = tw_mono_ms();
  if (spawn(cmd, env, &c, r->err, sizeof r->err)) {
    r->spawn_failed = 1;
    return -1;
  }
  r->pid = c.pid;
  if (in) tw_wstream_rewind(in);
  linelog ll = {.pid = c.pid};
  int64_t deadline = timeout_s > 0 ? t0 + (int64_t)(timeout_s * 1000) : INT64_MAX;
  int exited = 0, st = 0;
  int64_t exit_at = 0;
  if (!in) close_fd(&c.in);
  while (c.out >= 0 || c.err >= 0 || !exited) {
    int64_t now = tw_mono_ms();
    if (!exited && now >= deadline) {
      r->timed_out = 1;
      break;
    }
    if (!exited && abort_flag && *abort_flag) {
      r->aborted = 1;
      break;
    }
    /* after the exit, leftovers held open by strays get 200 ms */
    if (exited && now - exit_at > 200) break;
    struct pollfd p[4];
    int np = 0, iin = -1, iout = -1, ierr = -1, ipid = -1;
    if (c.in >= 0) iin = np, p[np++] = (struct pollfd){.fd = c.in, .events = POLLOUT};
    if (c.out >= 0) iout = np, p[np++] = (struct pollfd){.fd = c.out, .events = POLLIN};
    if (c.err >= 0) ierr = np, p[np++] = (struct pollfd){.fd = c.err, .events = POLLIN};
    if (!exited && c.pidfd >= 0)
      ipid = np, p[np++] = (struct pollfd){.fd = c.pidfd, .events = POLLIN};
    int wait_ms = 100; /* abort flag and waitpid fallback */
    if (deadline != INT64_MAX && deadline - now < wait_ms) wait_ms = (int)(deadline - now);
    if (wait_ms < 0) wait_ms = 0;
    int n = poll(p, (nfds_t)np, c.pidfd >= 0 || exited ? wait_ms : (wait_ms < 20 ? wait_ms : 20));
    if (n < 0 && errno != EINTR) break;
    if (iin >= 0 && p[iin].revents) {
      int f = feed(c.in, in);
      if (f != 0) close_fd(&c.in); /* done, or the handler stopped reading: fine */
    }
    if (iout >= 0 && p[iout].revents && drain(c.out, sink_out, r)) close_fd(&c.out);
    if (ierr >= 0 && p[ierr].revents && drain(c.err, sink_log, &ll)) close_fd(&c.err);
    if (!exited && (ipid < 0 || p[ipid].revents) && reap(&c, &st)) {
      exited = 1;
      exit_at = tw_mono_ms();
      note_status(r, st);
      close_fd(&c.in);
    }
  }
  if (!exited)
    kill_child(&c, r->aborted ? 0 : grace_s, r);
  else
    kill(-c.pid, SIGKILL); /* strays in its group */
  if (c.out >= 0) drain(c.out, sink_out, r);
  if (c.err >= 0) drain(c.err, sink_log, &ll);
  linelog_flush(&ll);
  close_fd(&c.in);
  close_fd(&c.out);
  close_fd(&c.err);
  close_fd(&c.pidfd);
  r->ms = (double)(tw_mono_ms() - t0);
  return 0;
}

/* --- persistent processes ----------------------------------------------------------------- */

struct tw_pproc {
  child c;
  int dead;
  int finished; /* killed, reaped and closed: nothing more to do */
  pthread_t errt;
  int errt_started;
};

static void *stderr_thread(void *arg) {
  tw_pproc *p = arg;
  linelog ll = {.pid = p->c.pid};
  int fd = p->c.err;
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  char buf[8192];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r > 0) {
      linelog_feed(&ll, buf, (size_t)r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    break;
  }
  linelog_flush(&ll);
  return NULL;
}

tw_pproc *tw_pproc_start(const char *cmd, char *const *env, char *err, size_t errlen) {
  tw_pproc *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  p->c = (child){.pidfd = -1, .in = -1, .out = -1, .err = -1};
  if (spawn(cmd, env, &p->c, err, errlen)) {
    free(p);
    return NULL;
  }
  if (pthread_create(&p->errt, NULL, stderr_thread, p) == 0) p->errt_started = 1;
  return p;
}

pid_t tw_pproc_pid(const tw_pproc *p) {
  return p->c.pid;
}

int tw_pproc_alive(tw_pproc *p) {
  if (p->dead || p->finished) return 0;
  int st;
  if (reap(&p->c, &st)) p->dead = 1;
  return !p->dead;
}

/* Kills (if needed), reaps, joins the stderr reader. */
static void finish(tw_pproc *p, double grace_s, tw_proc_result *r) {
  if (p->finished) return;
  p->finished = 1;
  tw_proc_result scratch;
  int own = !r;
  if (own) {
    tw_proc_result_init(&scratch, 16);
    r = &scratch;
  }
  close_fd(&p->c.in);
  if (!p->dead)
    kill_child(&p->c, grace_s, r);
  else
    kill(-p->c.pid, SIGKILL);
  p->dead = 1;
  close_fd(&p->c.out);
  if (p->errt_started) pthread_join(p->errt, NULL); /* EOF now that the group is gone */
  p->errt_started = 0;
  close_fd(&p->c.err);
  close_fd(&p->c.pidfd);
  if (own) tw_proc_result_free(&scratch);
}

int tw_pproc_exchange(tw_pproc *p, tw_wstream *in, double timeout_s, double grace_s,
                      const volatile int *abort_flag, tw_proc_result *r) {
  result_reset(r);
  r->pid = p->c.pid;
  int64_t t0 = tw_mono_ms();
  int64_t deadline = timeout_s > 0 ? t0 + (int64_t)(timeout_s * 1000) : INT64_MAX;
  if (p->dead || p->finished) {
    snprintf(r->err, sizeof r->err, "the handler process is not running");
    finish(p, 0, NULL);
    return -1;
  }
  /* output nobody asked for (a second line, a stray print) is not the answer */
  char junk[4096];
  ssize_t jn;
  size_t dropped = 0;
  while ((jn = read(p->c.out, junk, sizeof junk)) > 0) dropped += (size_t)jn;
  if (dropped)
    tw_warn("handler pid=%d wrote %zu unexpected bytes on stdout; dropped", (int)p->c.pid, dropped);
  if (jn == 0) {
    snprintf(r->err, sizeof r->err, "the handler closed its stdout");
    goto died;
  }
  tw_wstream_rewind(in);
  int sent = 0, nl_sent = 0;
  /* the pipe is almost always writable: try before the first poll */
  int f = feed_line(p->c.in, in);
  if (f < 0) {
    snprintf(r->err, sizeof r->err, "the handler stopped reading its stdin");
    goto died;
  }
  if (f >= 1) sent = 1;
  if (f == 2) nl_sent = 1;
  for (;;) {
    int64_t now = tw_mono_ms();
    if (now >= deadline) {
      r->timed_out = 1;
      goto died;
    }
    if (abort_flag && *abort_flag) {
      r->aborted = 1;
      goto died;
    }
    struct pollfd pf[3];
    int np = 0, iin = -1, iout = -1, ipid = -1;
    if (!nl_sent) iin = np, pf[np++] = (struct pollfd){.fd = p->c.in, .events = POLLOUT};
    iout = np, pf[np++] = (struct pollfd){.fd = p->c.out, .events = POLLIN};
    if (p->c.pidfd >= 0) ipid = np, pf[np++] = (struct pollfd){.fd = p->c.pidfd, .events = POLLIN};
    int wait_ms = 100;
    if (deadline != INT64_MAX && deadline - now < wait_ms) wait_ms = (int)(deadline - now);
    int n = poll(pf, (nfds_t)np, wait_ms < 0 ? 0 : wait_ms);
    if (n < 0 && errno != EINTR) {
      snprintf(r->err, sizeof r->err, "poll: %s", strerror(errno));
      goto died;
    }
    if (iin >= 0 && pf[iin].revents) {
      if (!sent) {
        f = feed_line(p->c.in, in);
        if (f < 0) {
          snprintf(r->err, sizeof r->err, "the handler stopped reading its stdin");
          goto died;
        }
        if (f >= 1) sent = 1;
        if (f == 2) nl_sent = 1;
      }
      if (sent && !nl_sent) {
        ssize_t w = write(p->c.in, "\n", 1);
        if (w == 1)
          nl_sent = 1;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          snprintf(r->err, sizeof r->err, "the handler stopped reading its stdin");
          goto died;
        }
      }
    }
    if (pf[iout].revents) {
      char buf[16384];
      ssize_t got = read(p->c.out, buf, sizeof buf);
      if (got == 0) {
        snprintf(r->err, sizeof r->err, "the handler exited (stdout closed) before answering");
        goto died;
      }
      if (got > 0) {
        char *nl = memchr(buf, '\n', (size_t)got);
        capture(r, buf, nl ? (size_t)(nl - buf) : (size_t)got);
        if (nl) {
          size_t rest = (size_t)got - (size_t)(nl + 1 - buf);
          if (rest)
            tw_warn("handler pid=%d wrote %zu bytes after its answer line; dropped", (int)p->c.pid,
                    rest);
          break;
        }
      }
    }
    if (ipid >= 0 && pf[ipid].revents) { /* it exited: read what it left, then it is dead */
      int st;
      if (reap(&p->c, &st)) {
        p->dead = 1;
        note_status(r, st);
        char buf[16384];
        ssize_t got;
        while ((got = read(p->c.out, buf, sizeof buf)) > 0) {
          char *nl = memchr(buf, '\n', (size_t)got);
          capture(r, buf, nl ? (size_t)(nl - buf) : (size_t)got);
          if (nl) goto answered_then_died;
        }
        snprintf(r->err, sizeof r->err, "the handler exited before answering (%s)",
                 r->signo ? "killed by a signal" : "exit");
        goto died;
      }
    }
  }
  if (r->out_overflow) {
    snprintf(r->err, sizeof r->err, "answer line longer than %zu bytes", r->out.cap);
    r->ms = (double)(tw_mono_ms() - t0);
    finish(p, grace_s, NULL); /* the rest of the line would desynchronise the protocol */
    return -1;
  }
  r->ms = (double)(tw_mono_ms() - t0);
  return 0;
answered_then_died:
  /* the answer counts; the next exchange finds the process dead and restarts it */
  r->ms = (double)(tw_mono_ms() - t0);
  finish(p, 0, NULL);
  return 0;
died:
  r->ms = (double)(tw_mono_ms() - t0);
  finish(p, r->aborted ? 0 : grace_s, r);
  return -1;
}

void tw_pproc_stop(tw_pproc *p, double grace_s) {
  if (!p) return;
  close_fd(&p->c.in); /* EOF: a well-behaved runtime loop exits */
  if (p->finished) {
    free(p);
    return;
  }
  int64_t until = tw_mono_ms() + (int64_t)(grace_s * 1000);
  while (!p->dead && tw_mono_ms() < until) {
    int st;
    if (reap(&p->c, &st))
      p->dead = 1;
    else
      usleep(10000);
  }
  finish(p, grace_s, NULL);
  free(p);
}

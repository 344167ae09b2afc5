/* Handler processes for the worker runtime (and anything else that runs a
 * command over stdin/stdout, e.g. a pipeline router):
 *
 * - tw_proc_run: `/bin/sh -c CMD` once, its stdin fed from a tw_wstream, its
 *   stdout captured (capped), with a deadline (SIGTERM to its process group,
 *   SIGKILL after a grace period).
 * - tw_pproc: a persistent `/bin/sh -c CMD`: each exchange writes one input
 *   and reads one line back.
 *
 * In both, the handler's stderr goes to the log line by line, tagged
 * "[handler pid=N] ...". Each child runs in its own process group with
 * default signal dispositions and an empty signal mask. */
#ifndef TW_WORKER_PROC_H
#define TW_WORKER_PROC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

/* --- input streams ---------------------------------------------------------------- */

/* What a handler reads on stdin: memory pieces and files, in order. A file
 * piece can be JSON-string-escaped on the fly (a message body kept in a file
 * placed inside the event's JSON) so a body of any size passes in constant
 * memory. */
typedef struct tw_wstream tw_wstream;

tw_wstream *tw_wstream_new(void);
void tw_wstream_free(tw_wstream *s);
/* Appends n bytes (copied). 0, -1 when out of memory. */
int tw_wstream_mem(tw_wstream *s, const char *p, size_t n);
int tw_wstream_str(tw_wstream *s, const char *str);
/* Appends the contents of path, JSON-escaped when json_escape (without the
 * quotes). The file is opened now: 0, or -1 when it cannot be. */
int tw_wstream_file(tw_wstream *s, const char *path, int json_escape);
/* Empties the stream (closing its files) and keeps its memory for reuse. */
void tw_wstream_reset(tw_wstream *s);
/* Building in place: bytes appended to the returned buffer until
 * tw_wstream_end(s, mark) become the next memory piece (no copy). */
tw_buf *tw_wstream_begin(tw_wstream *s, size_t *mark);
int tw_wstream_end(tw_wstream *s, size_t mark);
/* Total bytes when every piece is in memory; -1 when a file piece is present. */
long long tw_wstream_mem_size(const tw_wstream *s);
/* Starts reading from the beginning again (a retry after a restart). */
void tw_wstream_rewind(tw_wstream *s);
/* Reads the whole stream (from the beginning) into out. 0, -1 on a read error
 * or when out's cap is reached. */
int tw_wstream_read_all(tw_wstream *s, tw_buf *out);

/* --- one-shot processes ----------------------------------------------------------- */

typedef struct {
  int exit_code;    /* exit status when it exited, else -1 */
  int signo;        /* the signal that ended it, else 0 */
  int timed_out;    /* the deadline passed (it was then killed) */
  int aborted;      /* *abort_flag asked to stop it early (it was killed) */
  int spawn_failed; /* could not start (why in err) */
  int out_overflow; /* stdout was longer than the cap (the rest was dropped) */
  pid_t pid;
  tw_buf out; /* stdout: everything (tw_proc_run) or one line (tw_pproc) */
  double ms;  /* run time */
  char err[256];
} tw_proc_result;

void tw_proc_result_init(tw_proc_result *r, size_t out_cap);
void tw_proc_result_free(tw_proc_result *r);
/* "exit status 3", "killed by signal 9", "timed out after 5 s", ... */
const char *tw_proc_describe(const tw_proc_result *r, char *out, size_t n);

/* Runs cmd to completion. env: NULL-terminated "NAME=value" entries added to
 * (or replacing in) the environment; NULL for none. in may be NULL (empty
 * stdin). timeout_s <= 0: no deadline. abort_flag (optional) is polled: when
 * it becomes non-zero the process is killed at once. Returns 0 when the
 * process ran (see r), -1 when it could not start. */
int tw_proc_run(const char *cmd, char *const *env, tw_wstream *in, double timeout_s, double grace_s,
                const volatile int *abort_flag, tw_proc_result *r);

/* --- persistent processes --------------------------------------------------------- */

typedef struct tw_pproc tw_pproc;

/* Starts cmd. NULL with err when it cannot be spawned. */
tw_pproc *tw_pproc_start(const char *cmd, char *const *env, char *err, size_t errlen);
pid_t tw_pproc_pid(const tw_pproc *p);
int tw_pproc_alive(tw_pproc *p);
/* Writes in (a newline is appended) and reads one line of stdout into r->out
 * (without the newline). Returns 0, or -1 when the process died, timed out,
 * was aborted, or broke the protocol: it is then gone (killed and reaped) and
 * r says why; start a new one. */
int tw_pproc_exchange(tw_pproc *p, tw_wstream *in, double timeout_s, double grace_s,
                      const volatile int *abort_flag, tw_proc_result *r);
/* Closes its stdin, waits up to grace_s for it to exit, then SIGTERM, then
 * SIGKILL after another grace_s; reaps it and frees p. */
void tw_pproc_stop(tw_pproc *p, double grace_s);

#endif

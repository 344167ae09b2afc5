/* tweedle bench: counting (latency histograms, errors by status with a few
 * samples), the server's CPU and memory from /proc, and the reports. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench_internal.h"

/* ---------- counting ---------- */

void tw_bench_stats_init(stats *s) {
  memset(s, 0, sizeof *s);
  tw_hist_reset(&s->all);
  for (int i = 0; i < OP_COUNT; i++) tw_hist_reset(&s->lat[i]);
}

void tw_bench_stats_merge(stats *into, const stats *from) {
  tw_hist_merge(&into->all, &from->all);
  for (int i = 0; i < OP_COUNT; i++) {
    tw_hist_merge(&into->lat[i], &from->lat[i]);
    into->ok[i] += from->ok[i];
    into->failed[i] += from->failed[i];
  }
  into->errors += from->errors;
  into->entry_errors += from->entry_errors;
  into->sent += from->sent;
  into->received += from->received;
  into->deleted += from->deleted;
  into->empty_receives += from->empty_receives;
  into->objects += from->objects;
  into->timeouts += from->timeouts;
  into->retired += from->retired;
  for (int i = 0; i < from->nkinds; i++) {
    int j = 0;
    while (j < into->nkinds && into->kinds[j].status != from->kinds[i].status) j++;
    if (j == into->nkinds) {
      if (into->nkinds == MAX_ERR_KINDS) continue;
      into->kinds[into->nkinds++] = (err_kind){from->kinds[i].status, 0};
    }
    into->kinds[j].n += from->kinds[i].n;
  }
  for (int i = 0; i < from->nsamples && into->nsamples < MAX_ERR_SAMPLES; i++)
    memcpy(into->samples[into->nsamples++], from->samples[i], sizeof from->samples[i]);
}

/* Every failed request is counted by status and the first few are kept
 * verbatim, so a run with errors says what they were. */
void tw_bench_note_error(stats *s, int op, int status, const char *body, size_t len,
                         const char *why) {
  s->errors++;
  s->failed[op]++;
  int j = 0;
  while (j < s->nkinds && s->kinds[j].status != status) j++;
  if (j == s->nkinds && s->nkinds < MAX_ERR_KINDS) s->kinds[s->nkinds++] = (err_kind){status, 0};
  if (j < s->nkinds) s->kinds[j].n++;
  if (s->nsamples < MAX_ERR_SAMPLES) {
    if (status <= 0)
      snprintf(s->samples[s->nsamples++], sizeof s->samples[0], "%s: %s", tw_bench_op_names[op],
               why ? why : "transport error");
    else
      snprintf(s->samples[s->nsamples++], sizeof s->samples[0], "%s: HTTP %d %.*s",
               tw_bench_op_names[op], status, (int)(len > 180 ? 180 : len), body ? body : "");
  }
}

/* ---------- the server's CPU and memory ---------- */

/* CPU seconds of a process (utime + stime), -1 when unreadable. */
static double proc_cpu1(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Summed over the server's processes; -1 when any is unreadable or none given. */
static double proc_cpu(const pidset *ps) {
  if (!ps || ps->n == 0) return -1;
  double sum = 0;
  for (int i = 0; i < ps->n; i++) {
    double c = proc_cpu1(ps->pid[i]);
    if (c < 0) return -1;
    sum += c;
  }
  return sum;
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/* Samples CPU use as the measurement window opens and closes (first worker only). */
void tw_bench_mark_cpu(run_clock *rc) {
  if (rc->marked >= 2) return;
  double now = now_sec();
  if (rc->marked == 0 && now >= rc->t_measure) {
    rc->srv_cpu[0] = proc_cpu(rc->server);
    rc->cli_cpu[0] = self_cpu();
    rc->marked = 1;
  }
  if (rc->marked == 1 && now >= rc->t_end) {
    rc->srv_cpu[1] = proc_cpu(rc->server);
    rc->cli_cpu[1] = self_cpu();
    rc->marked = 2;
  }
}

/* VmRSS and VmHWM summed over the server's processes (-1: unknown). */
int tw_bench_read_mem(const pidset *ps, mem_info *m) {
  m->rss_kb = m->hwm_kb = -1;
  if (!ps || ps->n == 0) return -1;
  long rss = 0, hwm = 0;
  for (int i = 0; i < ps->n; i++) {
    char path[64], line[256];
    long r = -1, h = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", ps->pid[i]);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "VmRSS:", 6)) r = strtol(line + 6, NULL, 10);
      if (!strncmp(line, "VmHWM:", 6)) h = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    if (r < 0) return -1;
    rss += r;
    hwm += h > 0 ? h : 0;
  }
  m->rss_kb = rss;
  m->hwm_kb = hwm;
  return 0;
}

/* A few samples a second are enough to see whether memory grows with load. */
void tw_bench_sample_rss(run_clock *rc) {
  if (!rc->server || rc->server->n == 0) return;
  double now = now_sec();
  if (now - rc->t_rss < 0.2) return;
  rc->t_rss = now;
  mem_info m;
  if (!tw_bench_read_mem(rc->server, &m) && m.rss_kb > rc->rss_max_kb) rc->rss_max_kb = m.rss_kb;
}

/* ---------- output ---------- */

json_t *tw_bench_lat_json(const tw_hist *h) {
  return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)h->n, "p50_ms",
                   ms(tw_hist_quantile(h, 0.50)), "p90_ms", ms(tw_hist_quantile(h, 0.90)), "p99_ms",
                   ms(tw_hist_quantile(h, 0.99)), "max_ms", ms(h->max_us), "mean_ms",
                   h->n ? ms(h->sum_us / h->n) : 0.0);
}

json_t *tw_bench_errors_json(const stats *s) {
  json_t *o = json_object();
  for (int i = 0; i < s->nkinds; i++) {
    char k[16];
    if (s->kinds[i].status <= 0)
      snprintf(k, sizeof k, "%s", s->kinds[i].status < 0 ? "transport" : "wrong_size");
    else
      snprintf(k, sizeof k, "%d", s->kinds[i].status);
    json_object_set_new(o, k, json_integer((json_int_t)s->kinds[i].n));
  }
  return o;
}

void tw_bench_print_lat(FILE *f, const char *name, const tw_hist *h) {
  fprintf(f, "  %-20s n=%-9llu p50 %7.2f  p90 %7.2f  p99 %7.2f  max %8.2f ms\n", name,
          (unsigned long long)h->n, ms(tw_hist_quantile(h, 0.5)), ms(tw_hist_quantile(h, 0.9)),
          ms(tw_hist_quantile(h, 0.99)), ms(h->max_us));
}

void tw_bench_print_errors(FILE *f, const stats *s) {
  if (!s->errors && !s->entry_errors) return;
  fprintf(f, "  errors by status:");
  for (int i = 0; i < s->nkinds; i++) {
    if (s->kinds[i].status <= 0)
      fprintf(f, " %s=%llu", s->kinds[i].status < 0 ? "transport" : "wrong-size",
              (unsigned long long)s->kinds[i].n);
    else
      fprintf(f, " %d=%llu", s->kinds[i].status, (unsigned long long)s->kinds[i].n);
  }
  if (s->entry_errors)
    fprintf(f, " failed-batch-entries=%llu", (unsigned long long)s->entry_errors);
  fprintf(f, "\n");
  for (int i = 0; i < s->nsamples; i++) fprintf(f, "  e.g. %s\n", s->samples[i]);
}

int tw_bench_report_load(const opts *o, FILE *rep, const stats *st, const load_result *lr) {
  double elapsed = lr->elapsed;
  unsigned long connects = lr->connects;
  uint64_t msgs = o->workload == WL_CYCLE ? st->deleted : st->sent;
  uint64_t reqs = st->all.n;
  double rate = elapsed > 0 ? (double)msgs / elapsed : 0,
         rrate = elapsed > 0 ? (double)reqs / elapsed : 0;
  fprintf(rep, "workload %s: %s queue %s, %d connections, %d thread(s), body %d B",
          tw_bench_wl_names[o->workload], o->endpoint, o->queue, o->connections, o->threads,
          o->body_size);
  if (o->workload == WL_CYCLE) fprintf(rep, ", batch %d, wait %d s", o->batch, o->wait);
  fprintf(rep, "\n  measured %.2f s (after %.1f s warm-up), %lu TCP connects\n", elapsed,
          o->messages > 0 ? 0.0 : o->warmup, connects);
  if (o->workload == WL_CYCLE)
    fprintf(rep,
            "  %.0f msgs/s fully cycled (sent %llu, received %llu, deleted %llu, empty receives "
            "%llu)\n",
            rate, (unsigned long long)st->sent, (unsigned long long)st->received,
            (unsigned long long)st->deleted, (unsigned long long)st->empty_receives);
  else if (o->workload == WL_JOBS)
    fprintf(rep, "  %.0f jobs/s submitted, each durable before its 202 (%llu jobs)\n", rate,
            (unsigned long long)st->sent);
  else if (o->workload == WL_PRESIGN)
    fprintf(rep, "  %.0f presigned URLs/s (%llu)\n", rate, (unsigned long long)st->sent);
  else
    fprintf(rep, "  %.0f msgs/s sent (%llu messages)\n", rate, (unsigned long long)st->sent);
  fprintf(rep, "  %.0f requests/s, %llu errors\n", rrate, (unsigned long long)st->errors);
  if (lr->server_cpu_s >= 0)
    fprintf(rep, "  server CPU %.2f s (%.0f%% of one core, %.1f us per message)\n",
            lr->server_cpu_s, 100 * lr->server_cpu_s / elapsed,
            msgs ? 1e6 * lr->server_cpu_s / (double)msgs : 0.0);
  if (lr->client_cpu_s >= 0)
    fprintf(rep, "  client CPU %.2f s (%.0f%% of one core)\n", lr->client_cpu_s,
            100 * lr->client_cpu_s / elapsed);
  tw_bench_print_lat(rep, "all requests", &st->all);
  for (int i = 0; i < OP_SETUP; i++)
    if (st->lat[i].n) tw_bench_print_lat(rep, tw_bench_op_names[i], &st->lat[i]);
  tw_bench_print_errors(rep, st);
  if (st->retired)
    fprintf(rep, "  %d connection(s) gave up after repeated transport failures\n", st->retired);
  if (o->json) {
    json_t *ops = json_object();
    for (int i = 0; i < OP_SETUP; i++)
      if (st->lat[i].n || st->failed[i]) {
        json_t *x = tw_bench_lat_json(&st->lat[i]);
        json_object_set_new(x, "errors", json_integer((json_int_t)st->failed[i]));
        json_object_set_new(ops, tw_bench_op_names[i], x);
      }
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:i,s:i,s:f,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:I,"
        "s:I,s:I,s:o}",
        "workload", tw_bench_wl_names[o->workload], "endpoint", o->endpoint, "queue", o->queue,
        "connections", o->connections, "threads", o->threads, "duration_s", elapsed, "body_size",
        o->body_size, "batch", o->workload == WL_CYCLE ? o->batch : 1, "wait_s",
        o->workload == WL_CYCLE ? o->wait : 0, "msgs_per_s", rate, "requests_per_s", rrate,
        "p50_ms", ms(tw_hist_quantile(&st->all, 0.5)), "p90_ms",
        ms(tw_hist_quantile(&st->all, 0.9)), "p99_ms", ms(tw_hist_quantile(&st->all, 0.99)),
        "max_ms", ms(st->all.max_us), "mean_ms", st->all.n ? ms(st->all.sum_us / st->all.n) : 0.0,
        "errors", (json_int_t)st->errors, "entry_errors", (json_int_t)st->entry_errors, "timeouts",
        (json_int_t)st->timeouts, "sent", (json_int_t)st->sent, "received",
        (json_int_t)st->received, "deleted", (json_int_t)st->deleted, "empty_receives",
        (json_int_t)st->empty_receives, "tcp_connects", (json_int_t)connects, "ops", ops);
    json_object_set_new(j, "errors_by_status", tw_bench_errors_json(st));
    json_object_set_new(j, "rate", json_real(o->rate));
    json_object_set_new(j, "server_cpu_s",
                        lr->server_cpu_s >= 0 ? json_real(lr->server_cpu_s) : json_null());
    json_object_set_new(j, "client_cpu_s",
                        lr->client_cpu_s >= 0 ? json_real(lr->client_cpu_s) : json_null());
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  }
  return st->errors || st->entry_errors || st->retired ? 1 : 0;
}

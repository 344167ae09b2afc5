/* `tweedle worker`: options and usage. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/http.h"
#include "worker/internal.h"
#include "worker/payload.h"

const char *const tw_worker_options_help =
    "  --queue NAME|URL          the queue to consume (required)\n"
    "  --endpoint URL            SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL,\n"
    "                            the queue URL's host, else https://sqs.REGION.amazonaws.com)\n"
    "  --batch-size N            messages per batch, 1..10 (default 10)\n"
    "  --batch-window SECONDS    wait up to this long to fill a batch (default 0, max 300)\n"
    "  --concurrency N           batches in flight at once (default 1)\n"
    "  --timeout SECONDS         per batch; then SIGTERM, SIGKILL after --kill-grace\n"
    "                            (default 300)\n"
    "  --kill-grace SECONDS      between SIGTERM and SIGKILL (default 3)\n"
    "  --report-batch-item-failures\n"
    "                            honour {\"batchItemFailures\":[...]} answers\n"
    "  --retry-delay SECONDS     failed messages become visible again after this long\n"
    "                            (default: the queue's visibility timeout)\n"
    "  --visibility-timeout SECONDS\n"
    "                            receive with this visibility timeout instead of the queue's\n"
    "  --poll-wait SECONDS       WaitTimeSeconds of each long poll, 1..20 (default 20);\n"
    "                            also how long a stop waits for a poll in progress\n"
    "  --metrics-interval SECONDS  metrics log line period, and with --name the\n"
    "                            tweedle/Worker metrics' (default 60 or\n"
    "                            $TWEEDLE_METRICS_INTERVAL; 0: only at exit)\n"
    "  --log-format text|json    (default text)\n"
    "  --jobs                    job messages (attribute tweedle.job_id): report start,\n"
    "                            completion or failure to the job API; upload the file the\n"
    "                            handler writes to $TWEEDLE_JOB_OUTPUT as the job's result\n"
    "  --results-bucket NAME     where job results go (default tweedle-results)\n"
    "  --keep-payloads           keep extended-client payload objects after success\n"
    "                            (default: deleted with their message)\n"
    "  --api-key KEY             job API key (default $TWEEDLE_API_KEY; without one,\n"
    "                            job reports are signed with the AWS credentials)\n"
    "  --jobs-endpoint URL       job API base (default: the SQS endpoint)\n"
    "  --name NAME               send handler output (stderr; stdout of --exec handlers)\n"
    "                            to the log group /tweedle/worker/NAME (CloudWatch Logs at\n"
    "                            the SQS endpoint, or AWS_ENDPOINT_URL_LOGS), and\n"
    "                            metrics to tweedle/Worker with FunctionName=NAME\n"
    "                            (or AWS_ENDPOINT_URL_CLOUDWATCH)\n"
    "  --s3-endpoint URL         S3 endpoint for results (default: --endpoint,\n"
    "                            AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else the SQS\n"
    "                            endpoint unless that is AWS's)\n"
    "  --ca-bundle FILE          CA certificates (PEM) that https endpoints are verified\n"
    "                            against (AWS_CA_BUNDLE; default: the system store)\n";

static const char *worker_usage =
    "usage: tweedle worker --queue NAME|URL (--exec CMD | --exec-persistent CMD) [options]\n"
    "\n"
    "Consumes a queue like an AWS Lambda SQS trigger: each batch goes to the handler as\n"
    "the Lambda SQS event (JSON) on stdin; succeeded messages are deleted, failed ones\n"
    "come back after the visibility timeout (and reach the queue's dead-letter queue).\n"
    "\n"
    "  --exec CMD                run '/bin/sh -c CMD' once per batch; exit 0 = success\n"
    "  --exec-persistent CMD     run '/bin/sh -c CMD' once (per --concurrency slot) and\n"
    "                            exchange one JSON event line for one JSON answer line;\n"
    "                            restarted when it dies\n"
    "%s"
    "\n"
    "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN); region:\n"
    "AWS_REGION or AWS_DEFAULT_REGION. SIGTERM/SIGINT: stop polling (a poll in progress\n"
    "ends within --poll-wait), let running batches finish, release unstarted messages,\n"
    "exit 0; a second signal aborts polls and stops handlers now.\n"
    "See docs/worker.md.\n";

void tw_worker_opts_defaults(tw_worker_opts *o) {
  memset(o, 0, sizeof *o);
  o->mode = TW_WMODE_EXEC;
  o->batch_size = 10;
  o->concurrency = 1;
  o->timeout = 300;
  o->kill_grace = 3;
  o->retry_delay = -1;
  o->visibility = -1;
  o->metrics_interval = 60;
  const char *mi = getenv("TWEEDLE_METRICS_INTERVAL");
  if (mi && atof(mi) >= 0 && atof(mi) <= 86400) o->metrics_interval = atof(mi);
  o->poll_wait = 20;
  snprintf(o->results_bucket, sizeof o->results_bucket, "tweedle-results");
  const char *k = getenv("TWEEDLE_API_KEY");
  if (k) snprintf(o->api_key, sizeof o->api_key, "%s", k);
}

static int num(const char *name, const char *v, double lo, double hi, double *out, char *err,
               size_t errlen) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (!*v || *end || errno || isnan(d) || d < lo || d > hi) {
    snprintf(err, errlen, "--%s must be a number from %g to %g, not '%s'", name, lo, hi, v);
    return -1;
  }
  *out = d;
  return 0;
}

static int integer(const char *name, const char *v, long lo, long hi, int *out, char *err,
                   size_t errlen) {
  char *end;
  errno = 0;
  long l = strtol(v, &end, 10);
  if (!*v || *end || errno || l < lo || l > hi) {
    snprintf(err, errlen, "--%s must be a whole number from %ld to %ld, not '%s'", name, lo, hi, v);
    return -1;
  }
  *out = (int)l;
  return 0;
}

static int copy(const char *name, const char *v, char *dst, size_t n, char *err, size_t errlen) {
  if (!*v || strlen(v) >= n) {
    snprintf(err, errlen, "--%s: value empty or too long", name);
    return -1;
  }
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

static const char *const flags_without_value[] = {"report-batch-item-failures", "jobs", "help",
                                                  NULL};
static const char *const flags_with_value[] = {
    "queue",          "endpoint",         "s3-endpoint",
    "exec",           "exec-persistent",  "batch-size",
    "batch-window",   "concurrency",      "timeout",
    "kill-grace",     "retry-delay",      "visibility-timeout",
    "poll-wait",      "metrics-interval", "log-format",
    "results-bucket", "api-key",          "jobs-endpoint",
    "name",           "ca-bundle",        NULL};

int tw_worker_parse(tw_worker_opts *o, int argc, char **argv, int allow_exec,
                    tw_worker_unknown_fn unknown, void *ud, char *err, size_t errlen) {
  int have_exec = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h")) a = "--help";
    if (strncmp(a, "--", 2)) {
      snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
      return -1;
    }
    char name[64];
    const char *eq = strchr(a + 2, '='), *val = NULL;
    size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (nl >= sizeof name) nl = sizeof name - 1;
    memcpy(name, a + 2, nl);
    name[nl] = 0;
    int novalue = 0;
    for (int k = 0; flags_without_value[k]; k++) novalue |= !strcmp(name, flags_without_value[k]);
    if (novalue) {
      if (eq) {
        snprintf(err, errlen, "--%s takes no value", name);
        return -1;
      }
    } else if (eq) {
      val = eq + 1;
    } else if (i + 1 < argc) {
      val = argv[i + 1];
    }
    int known = 0;
    for (int k = 0; flags_with_value[k]; k++) known |= !strcmp(name, flags_with_value[k]);
    if (!allow_exec && (!strcmp(name, "exec") || !strcmp(name, "exec-persistent"))) known = 0;
    if (known && !val) {
      snprintf(err, errlen, "--%s needs a value", name);
      return -1;
    }
    int used = val && !eq ? 1 : 0; /* argv entries the value took */
    double d;
    int rc = 0;
    if (!strcmp(name, "help")) {
      if (allow_exec)
        printf(worker_usage, tw_worker_options_help);
      else
        printf("usage: %s --queue NAME|URL [options]\n\n%s", argc ? argv[0] : "worker",
               tw_worker_options_help);
      return 1;
    } else if (!strcmp(name, "report-batch-item-failures")) {
      o->report_failures = 1;
    } else if (!strcmp(name, "jobs")) {
      o->jobs = 1;
    } else if (!known) {
      int took = unknown ? unknown(ud, name, val) : -1;
      if (took < 0) {
        snprintf(err, errlen, "unknown or invalid option --%s (see --help)", name);
        return -1;
      }
      if (eq && took == 0) {
        snprintf(err, errlen, "--%s takes no value", name);
        return -1;
      }
      used = eq ? 0 : took;
    } else if (!strcmp(name, "queue")) {
      rc = copy(name, val, o->queue, sizeof o->queue, err, errlen);
    } else if (!strcmp(name, "endpoint")) {
      rc = copy(name, val, o->endpoint, sizeof o->endpoint, err, errlen);
    } else if (!strcmp(name, "s3-endpoint")) {
      rc = copy(name, val, o->s3_endpoint, sizeof o->s3_endpoint, err, errlen);
    } else if (!strcmp(name, "ca-bundle")) {
      rc = tw_http_set_ca_bundle(val, err, errlen); /* the process's https clients */
    } else if (!strcmp(name, "exec") || !strcmp(name, "exec-persistent")) {
      if (have_exec++) {
        snprintf(err, errlen, "give one of --exec and --exec-persistent, once");
        return -1;
      }
      o->mode = !strcmp(name, "exec") ? TW_WMODE_EXEC : TW_WMODE_PERSISTENT;
      rc = copy(name, val, o->exec_cmd, sizeof o->exec_cmd, err, errlen);
    } else if (!strcmp(name, "batch-size")) {
      rc = integer(name, val, 1, 10, &o->batch_size, err, errlen);
      o->batch_size_set = 1;
    } else if (!strcmp(name, "batch-window")) {
      if (!(rc = num(name, val, 0, 300, &d, err, errlen))) o->batch_window = d;
    } else if (!strcmp(name, "concurrency")) {
      rc = integer(name, val, 1, 1000, &o->concurrency, err, errlen);
    } else if (!strcmp(name, "timeout")) {
      if (!(rc = num(name, val, 0.001, 43200, &d, err, errlen))) o->timeout = d;
    } else if (!strcmp(name, "kill-grace")) {
      if (!(rc = num(name, val, 0, 600, &d, err, errlen))) o->kill_grace = d;
    } else if (!strcmp(name, "retry-delay")) {
      rc = integer(name, val, 0, 43200, &o->retry_delay, err, errlen);
    } else if (!strcmp(name, "poll-wait")) {
      rc = integer(name, val, 1, 20, &o->poll_wait, err, errlen);
    } else if (!strcmp(name, "visibility-timeout")) {
      rc = integer(name, val, 0, 43200, &o->visibility, err, errlen);
    } else if (!strcmp(name, "metrics-interval")) {
      if (!(rc = num(name, val, 0, 86400, &d, err, errlen))) o->metrics_interval = d;
    } else if (!strcmp(name, "log-format")) {
      if (strcmp(val, "text") && strcmp(val, "json")) {
        snprintf(err, errlen, "--log-format must be text or json");
        return -1;
      }
      o->log_json = !strcmp(val, "json");
    } else if (!strcmp(name, "results-bucket")) {
      rc = copy(name, val, o->results_bucket, sizeof o->results_bucket, err, errlen);
    } else if (!strcmp(name, "api-key")) {
      rc = copy(name, val, o->api_key, sizeof o->api_key, err, errlen);
    } else if (!strcmp(name, "jobs-endpoint")) {
      rc = copy(name, val, o->jobs_endpoint, sizeof o->jobs_endpoint, err, errlen);
    } else if (!strcmp(name, "name")) {
      rc = copy(name, val, o->name, sizeof o->name, err, errlen);
      for (const char *c = o->name; !rc && *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-#/", *c)) {
          snprintf(err, errlen, "--name may hold letters, digits and . _ - # / only");
          rc = -1;
        }
    }
    if (rc) return -1;
    i += used;
  }
  if (!o->queue[0]) {
    snprintf(err, errlen, "--queue is required");
    return -1;
  }
  if (allow_exec && !have_exec) {
    snprintf(err, errlen, "give --exec CMD or --exec-persistent CMD");
    return -1;
  }
  if (o->jobs) {
    if (o->batch_size_set && o->batch_size != 1) {
      snprintf(err, errlen, "--jobs runs one job per handler call: use --batch-size 1");
      return -1;
    }
    o->batch_size = 1; /* without an API key, reports are signed with the AWS credentials */
  }
  return 0;
}

/* --keep-payloads (the payload hooks' own option; `tweedle pipeline` passes it the same way). */
static int payload_option(void *ud, const char *name, const char *value) {
  (void)value;
  if (strcmp(name, "keep-payloads")) return -1;
  ((tw_payload_worker *)ud)->keep_payloads = 1;
  return 0;
}

int tw_worker_cli(int argc, char **argv) {
  tw_worker_opts o;
  tw_worker_opts_defaults(&o);
  char err[600];
  tw_payload_worker pw = {0};
  int p = tw_worker_parse(&o, argc, argv, 1, payload_option, &pw, err, sizeof err);
  if (p == 1) return 0;
  if (p < 0) {
    fprintf(stderr, "tweedle worker: %s\n", err);
    return 2;
  }
  tw_log_setup(o.log_json, TW_LOG_INFO);
  /* extended-client pointers are resolved before the handler sees a record */
  tw_worker_ext ext = {0};
  tw_payload_worker_ext(&ext, &pw);
  return tw_worker_run(&o, &ext);
}

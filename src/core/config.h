/* Server configuration: defaults, then the config file, then the environment,
 * then the command line (each later source wins). */
#ifndef TW_CORE_CONFIG_H
#define TW_CORE_CONFIG_H
#include <stddef.h>

typedef struct {
  char access_key[129];
  char secret[129];
  char name[64];
  char *policies; /* "policies": the JSON list of policy documents (malloc'd), or NULL */
} tw_user_cfg;

/* A job type served by its own queue (config file: "jobs": {"types": {TYPE: QUEUE}}). */
typedef struct {
  char type[65];
  char queue[81];
} tw_job_route_cfg;

typedef struct {
  char listen[256]; /* host:port */
  char data_dir[1024];
  /* cluster mode: postgres://USER:PASS@HOST:PORT/DB (empty: the embedded SQLite
   * store in data_dir) and the shared blob directory (empty: data_dir/blobs) */
  char store_url[1024];
  char blobs_dir[1024];
  char public_url[512]; /* base for queue URLs; empty: from the request's Host */
  /* HTTPS: PEM certificate chain and private key (both, or neither: plain HTTP) */
  char tls_cert[1024];
  char tls_key[1024];
  /* base of the URLs in SNS notifications (SigningCertURL, UnsubscribeURL,
   * SubscribeURL); empty: public_url, else http://<listen> */
  char sns_base_url[512];
  /* SNS email: the SMTP relay (smtp://host[:port]; empty: email subscriptions
   * are refused) and the sender address (default no-reply@tweedle.local) */
  char smtp_url[512];
  char smtp_from[256];
  char region[64];
  char account[32];
  char log_format[16]; /* text | json */
  char config_file[1024];
  int threads; /* HTTP threads; 0 = one per core */
  int max_connections;
  char domain[256];          /* S3 virtual-hosted style: BUCKET.<domain>; empty: path-style only */
  int lifecycle_day_seconds; /* how long a lifecycle "day" is (tests, demos); default 86400 */
  /* jobs (/_/api/v1/jobs): config file "jobs": {"queue", "results_bucket",
   * "max_receive_count", "types"}; env TWEEDLE_JOBS_QUEUE, TWEEDLE_JOBS_RESULTS_BUCKET */
  char jobs_queue[81];          /* default tweedle-jobs; its DLQ is <queue>-dlq */
  char jobs_results_bucket[64]; /* set: job results must be in this bucket */
  int jobs_max_receive_count;   /* RedrivePolicy of the job queues created at start (3) */
  tw_job_route_cfg *job_routes; /* job type -> queue */
  size_t njob_routes;
  /* gateway (/_/api/v1/) */
  char gateway_cors_origins[1024]; /* origins browsers may call /_/api/v1/ from; "" none */
  char authorizer[1024];           /* "exec:CMD" or "http://host:port/path"; empty: none */
  int authorizer_timeout_ms;       /* a slower authorizer denies; default 2000 */
  double throttle_rate;            /* default per-caller rate (requests/s; 0: none) */
  double throttle_burst;           /* default per-caller burst */
  double access_log_days;          /* access log retention (fractions allowed) */
  int metrics_interval;            /* seconds between built-in metric publications; default 60 */
  /* GET /_/metrics (Prometheus): Authorization: Bearer <metrics_token>, or
   * SigV4; metrics_public opens it to anyone */
  char metrics_token[256];
  int metrics_public;
  int console_off;    /* --console off: no web console at /_/console/ */
  tw_user_cfg *users; /* extra key pairs from the config file */
  size_t nusers;
} tw_config;

void tw_config_defaults(tw_config *c);
/* Reads the environment (TWEEDLE_*). */
void tw_config_from_env(tw_config *c);
/* Loads a JSON config file; returns 0 or -1 with err set. */
int tw_config_load_file(tw_config *c, const char *path, char *err, size_t errlen);
void tw_config_free(tw_config *c);

#endif

/* tweedle: the command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/version.h"
#include "http/tls.h"

static const char *usage =
    "usage: tweedle <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve     run the server (SQS-compatible queues over HTTP)\n"
    "  bench     drive a running server with SigV4-signed load (tweedle bench --help)\n"
    "  apikey    create, list and revoke gateway API keys (tweedle apikey --help)\n"
    "  send      send a message; large bodies go through the object store\n"
    "  receive   receive messages, resolving large payloads\n"
    "  pipeline  run a state-machine pipeline over a queue (tweedle pipeline --help)\n"
    "  worker    consume a queue with a Lambda-style handler (tweedle worker --help)\n"
    "  version   print the version\n"
    "\n"
    "Run 'tweedle <command> --help' for the options of a command.\n";

static const char *serve_usage =
    "usage: tweedle serve [options]\n"
    "\n"
    "Each option: its environment variable and default in parentheses. Precedence:\n"
    "defaults < config file < environment < flags.\n"
    "\n"
    "Server:\n"
    "  --listen HOST:PORT   address to listen on (TWEEDLE_LISTEN; default 127.0.0.1:9324)\n"
    "  --data DIR           data directory (TWEEDLE_DATA; default ./data)\n"
    "  --store URL          cluster mode: the nodes started with the same\n"
    "                       postgres://USER:PASS@HOST:PORT/DB share all their state there\n"
    "                       (TWEEDLE_STORE; default none: the embedded SQLite store in DIR)\n"
    "  --blobs DIR          object bodies; in cluster mode a directory every node mounts\n"
    "                       (TWEEDLE_BLOBS; default DATA/blobs)\n"
    "  --config FILE        JSON config file (TWEEDLE_CONFIG; default none)\n"
    "  --public-url URL     base of the queue URLs handed out (TWEEDLE_PUBLIC_URL;\n"
    "                       default: from the request's Host header)\n"
    "  --region REGION      region in ARNs and signatures (TWEEDLE_REGION; default us-east-1)\n"
    "  --account-id ID      account id in ARNs and URLs (TWEEDLE_ACCOUNT_ID; default\n"
    "                       000000000000)\n"
    "  --log-format FMT     text or json (TWEEDLE_LOG_FORMAT; default text)\n"
    "  --threads N          HTTP threads (TWEEDLE_THREADS; default one per core)\n"
    "  --tls-cert FILE      serve HTTPS (every service, same port) with this PEM certificate\n"
    "                       chain; SIGHUP reloads it and the key, open connections carry on\n"
    "                       (TWEEDLE_TLS_CERT; default none: plain HTTP)\n"
    "  --tls-key FILE       the certificate's PEM private key, unencrypted (TWEEDLE_TLS_KEY;\n"
    "                       default none)\n"
    "\n"
    "S3:\n"
    "  --domain DOMAIN      virtual-hosted style: requests to BUCKET.DOMAIN address\n"
    "                       BUCKET (TWEEDLE_DOMAIN; default: path-style only)\n"
    "  --lifecycle-day-seconds N\n"
    "                       length of a lifecycle \"day\" in seconds, for tests and demos\n"
    "                       (TWEEDLE_LIFECYCLE_DAY_SECONDS; default 86400)\n"
    "\n"
    "SNS:\n"
    "  --sns-base-url URL   base of the SigningCertURL, UnsubscribeURL and SubscribeURL in\n"
    "                       SNS notifications (TWEEDLE_SNS_BASE_URL; default: --public-url,\n"
    "                       else http(s)://<listen>)\n"
    "  --smtp-url URL       SMTP relay for SNS email subscriptions, smtp://HOST[:PORT]\n"
    "                       (TWEEDLE_SMTP_URL; default none: email subscriptions refused)\n"
    "  --smtp-from ADDR     sender of SNS mails (TWEEDLE_SMTP_FROM; default\n"
    "                       no-reply@tweedle.local)\n"
    "\n"
    "Gateway (/_/api/v1/):\n"
    "  --gateway-cors-origins LIST\n"
    "                       origins (comma-separated, '*' wildcards) whose browser pages\n"
    "                       may call /_/api/v1/ (TWEEDLE_GATEWAY_CORS_ORIGINS; default none)\n"
    "  --authorizer SPEC    gateway authorizer for bearer tokens that are not API keys:\n"
    "                       exec:CMD or http://HOST:PORT/PATH (TWEEDLE_AUTHORIZER; default\n"
    "                       none: API keys only)\n"
    "  --authorizer-timeout-ms N\n"
    "                       a slower authorizer denies (TWEEDLE_AUTHORIZER_TIMEOUT_MS;\n"
    "                       default 2000)\n"
    "  --throttle-rate R    gateway requests/s per caller unless its key says otherwise\n"
    "                       (TWEEDLE_THROTTLE_RATE; default 10000; 0: no limit)\n"
    "  --throttle-burst N   gateway burst per caller (TWEEDLE_THROTTLE_BURST; default 5000)\n"
    "  --access-log-days D  days the gateway access log is kept, fractions allowed\n"
    "                       (TWEEDLE_ACCESS_LOG_DAYS; default 30)\n"
    "\n"
    "Observability:\n"
    "  --metrics-interval S\n"
    "                       seconds between publications of the built-in AWS/SQS, AWS/S3,\n"
    "                       AWS/SNS, AWS/ApiGateway, tweedle/Jobs and tweedle/Store metrics\n"
    "                       (TWEEDLE_METRICS_INTERVAL; default 60; 0: off - no\n"
    "                       publisher, no S3/gateway request hook; SQS/SNS counters and\n"
    "                       Prometheus stay)\n"
    "  --metrics-token T    GET /_/metrics (Prometheus) answers 'Authorization: Bearer T'\n"
    "                       (TWEEDLE_METRICS_TOKEN; default none: SigV4-signed requests only)\n"
    "  --metrics-public     GET /_/metrics answers anyone (TWEEDLE_METRICS_PUBLIC=1; default\n"
    "                       off)\n"
    "  --console on|off     the web console at /_/console/ (TWEEDLE_CONSOLE; default on)\n"
    "\n"
    "Credentials: TWEEDLE_ACCESS_KEY_ID and TWEEDLE_SECRET_ACCESS_KEY, else a pair kept in\n"
    "DIR/credentials.json (generated and printed on first start). More key pairs go in the\n"
    "config file: {\"users\": [{\"access_key_id\": \"...\", \"secret_access_key\": \"...\"}]}.\n";

int tw_bench_main(int argc, char **argv);
int tw_apikey_main(int argc, char **argv);
int tw_send_main(int argc, char **argv);     /* src/worker/payload_cli.c */
int tw_receive_main(int argc, char **argv);  /* src/worker/payload_cli.c */
int tw_pipeline_main(int argc, char **argv); /* src/worker/pipeline.c */
int tw_worker_cli(int argc, char **argv);

static int cmd_serve(int argc, char **argv) {
  tw_config cfg;
  tw_config_defaults(&cfg);
  const char *cfg_file = getenv("TWEEDLE_CONFIG");
  /* the config file comes first so the environment and flags override it */
  for (int i = 1; i < argc - 1; i++)
    if (!strcmp(argv[i], "--config")) cfg_file = argv[i + 1];
  char err[512];
  if (cfg_file && *cfg_file && tw_config_load_file(&cfg, cfg_file, err, sizeof err)) {
    fprintf(stderr, "tweedle: %s\n", err);
    return 2;
  }
  if (cfg_file) snprintf(cfg.config_file, sizeof cfg.config_file, "%s", cfg_file);
  tw_config_from_env(&cfg);
  static const struct option opts[] = {{"listen", required_argument, 0, 'l'},
                                       {"data", required_argument, 0, 'd'},
                                       {"store", required_argument, 0, 1301},
                                       {"blobs", required_argument, 0, 1302},
                                       {"config", required_argument, 0, 'c'},
                                       {"public-url", required_argument, 0, 'u'},
                                       {"tls-cert", required_argument, 0, 1201},
                                       {"tls-key", required_argument, 0, 1202},
                                       {"sns-base-url", required_argument, 0, 'N'},
                                       {"smtp-url", required_argument, 0, 1001},
                                       {"smtp-from", required_argument, 0, 1002},
                                       {"region", required_argument, 0, 'r'},
                                       {"account-id", required_argument, 0, 'a'},
                                       {"log-format", required_argument, 0, 'f'},
                                       {"threads", required_argument, 0, 't'},
                                       {"domain", required_argument, 0, 'D'},
                                       {"lifecycle-day-seconds", required_argument, 0, 'L'},
                                       {"authorizer", required_argument, 0, 'A'},
                                       {"gateway-cors-origins", required_argument, 0, 'O'},
                                       {"authorizer-timeout-ms", required_argument, 0, 'T'},
                                       {"throttle-rate", required_argument, 0, 'R'},
                                       {"throttle-burst", required_argument, 0, 'B'},
                                       {"access-log-days", required_argument, 0, 'G'},
                                       {"metrics-interval", required_argument, 0, 1003},
                                       {"metrics-token", required_argument, 0, 1101},
                                       {"metrics-public", no_argument, 0, 1102},
                                       {"console", required_argument, 0, 1103},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'l':
        snprintf(cfg.listen, sizeof cfg.listen, "%s", optarg);
        break;
      case 'd':
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", optarg);
        break;
      case 'c':
        break;
      case 1301:
        snprintf(cfg.store_url, sizeof cfg.store_url, "%s", optarg);
        break;
      case 1302:
        snprintf(cfg.blobs_dir, sizeof cfg.blobs_dir, "%s", optarg);
        break;
      case 'u':
        snprintf(cfg.public_url, sizeof cfg.public_url, "%s", optarg);
        break;
      case 1201:
        snprintf(cfg.tls_cert, sizeof cfg.tls_cert, "%s", optarg);
        break;
      case 1202:
        snprintf(cfg.tls_key, sizeof cfg.tls_key, "%s", optarg);
        break;
      case 'N':
        snprintf(cfg.sns_base_url, sizeof cfg.sns_base_url, "%s", optarg);
        break;
      case 1001:
        snprintf(cfg.smtp_url, sizeof cfg.smtp_url, "%s", optarg);
        break;
      case 1002:
        snprintf(cfg.smtp_from, sizeof cfg.smtp_from, "%s", optarg);
        break;
      case 'r':
        snprintf(cfg.region, sizeof cfg.region, "%s", optarg);
        break;
      case 'a':
        snprintf(cfg.account, sizeof cfg.account, "%s", optarg);
        break;
      case 'f':
        snprintf(cfg.log_format, sizeof cfg.log_format, "%s", optarg);
        break;
      case 't':
        cfg.threads = atoi(optarg);
        break;
      case 'D':
        snprintf(cfg.domain, sizeof cfg.domain, "%s", optarg);
        break;
      case 'L':
        if (atoi(optarg) <= 0) {
          fprintf(stderr, "tweedle: --lifecycle-day-seconds must be a positive number\n");
          return 2;
        }
        cfg.lifecycle_day_seconds = atoi(optarg);
        break;
      case 'A':
        snprintf(cfg.authorizer, sizeof cfg.authorizer, "%s", optarg);
        break;
      case 'O':
        snprintf(cfg.gateway_cors_origins, sizeof cfg.gateway_cors_origins, "%s", optarg);
        break;
      case 'T':
        cfg.authorizer_timeout_ms = atoi(optarg);
        break;
      case 'R':
        cfg.throttle_rate = atof(optarg);
        break;
      case 'B':
        cfg.throttle_burst = atof(optarg);
        break;
      case 'G':
        cfg.access_log_days = atof(optarg);
        break;
      case 1003:
        if (atoi(optarg) < 0 || (atoi(optarg) == 0 && strcmp(optarg, "0"))) {
          fprintf(stderr, "tweedle: --metrics-interval must be a number of seconds (0: off)\n");
          return 2;
        }
        cfg.metrics_interval = atoi(optarg);
        break;
      case 1101:
        snprintf(cfg.metrics_token, sizeof cfg.metrics_token, "%s", optarg);
        break;
      case 1102:
        cfg.metrics_public = 1;
        break;
      case 1103:
        if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
          fprintf(stderr, "tweedle: --console must be on or off\n");
          return 2;
        }
        cfg.console_off = !strcmp(optarg, "off");
        break;
      case 'h':
        fputs(serve_usage, stdout);
        return 0;
      default:
        fputs(serve_usage, stderr);
        return 2;
    }
  }
  if (cfg.authorizer_timeout_ms <= 0 || cfg.throttle_rate < 0 || cfg.throttle_burst < 0 ||
      (cfg.throttle_rate > 0 && cfg.throttle_burst < 1) || !(cfg.access_log_days > 0)) {
    fprintf(stderr,
            "tweedle: --authorizer-timeout-ms and --access-log-days must be positive, "
            "--throttle-rate and --throttle-burst not negative (burst at least 1 with a rate)\n");
    return 2;
  }
  if (!cfg.tls_cert[0] != !cfg.tls_key[0]) {
    fprintf(stderr,
            "tweedle: HTTPS needs both --tls-cert and --tls-key (TWEEDLE_TLS_CERT, "
            "TWEEDLE_TLS_KEY)\n");
    return 2;
  }
  if (cfg.tls_cert[0]) { /* a bad file is the first thing said, before anything starts */
    tw_tls *t = tw_tls_open(cfg.tls_cert, cfg.tls_key, err, sizeof err);
    if (!t) {
      fprintf(stderr, "tweedle: %s\n", err);
      return 2;
    }
    tw_tls_close(t);
  }
  if (strcmp(cfg.log_format, "text") && strcmp(cfg.log_format, "json")) {
    fprintf(stderr, "tweedle: --log-format must be text or json\n");
    return 2;
  }
  tw_log_setup(!strcmp(cfg.log_format, "json"), TW_LOG_INFO);
  int rc = tw_serve(&cfg);
  tw_config_free(&cfg);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "serve")) return cmd_serve(argc - 1, argv + 1);
  if (!strcmp(argv[1], "bench")) return tw_bench_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "apikey")) return tw_apikey_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "send")) return tw_send_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "receive")) return tw_receive_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "pipeline")) return tw_pipeline_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "worker")) return tw_worker_cli(argc - 1, argv + 1);
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    puts("tweedle " TW_VERSION);
    return 0;
  }
  fprintf(stderr, "tweedle: unknown command '%s'\n\n%s", argv[1], usage);
  return 2;
}

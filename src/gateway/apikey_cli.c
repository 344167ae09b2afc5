/* tweedle apikey create|list|show|revoke: manages the gateway's API keys by
 * calling the running server's /_/api/v1/apikeys, signed with SigV4 (the
 * admin credential), through the bench's HTTP client. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sigv4.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "gateway/gateway.h"
#include "net/http.h"

static const char *usage =
    "usage: tweedle apikey <command> [options]\n"
    "\n"
    "  create --name NAME [scope options] [--expires-in S | --expires-at TIME]\n"
    "         [--rate R] [--burst N]\n"
    "      scope options (one scope; repeat --scope for several actions):\n"
    "         --scope ACTION       presign:put, presign:get, jobs:submit, jobs:read,\n"
    "                              jobs:update, presign:*, jobs:*, console (the web\n"
    "                              console, docs/console.md) or *\n"
    "         --bucket B           the bucket (default: any)\n"
    "         --prefix P           keys must start with P (default: any key)\n"
    "         --max-bytes N        largest upload the key may presign\n"
    "         --max-expires-in S   longest URL lifetime the key may presign (seconds)\n"
    "      or --scopes-json JSON   the whole scopes array (see docs/gateway.md)\n"
    "  list                        every key (never the secret)\n"
    "  show ID                     one key\n"
    "  revoke ID                   revokes a key at once\n"
    "\n"
    "  --endpoint URL   the server (TWEEDLE_ENDPOINT; default http://127.0.0.1:9324)\n"
    "  --data DIR       where credentials.json is, when AWS_ACCESS_KEY_ID and\n"
    "                   AWS_SECRET_ACCESS_KEY are not set (TWEEDLE_DATA; default ./data)\n"
    "  --region REGION  signing region (AWS_REGION / AWS_DEFAULT_REGION; default us-east-1)\n"
    "  --ca-bundle FILE CA certificates (PEM) an https endpoint is verified against\n"
    "                   (AWS_CA_BUNDLE; default: the system store)\n"
    "\n"
    "Prints the server's JSON answer. The key itself is shown once, by create.\n";

typedef struct {
  tw_url url;           /* http:// or https:// (the certificate verified) */
  const char *hostport; /* url.hostport */
  char ak[129], sk[129], region[64];
} cli;

static int parse_endpoint(cli *c, const char *url) {
  char err[300];
  if (tw_url_parse(url, &c->url, err, sizeof err)) {
    fprintf(stderr, "tweedle apikey: %s\n", err);
    return -1;
  }
  c->hostport = c->url.hostport;
  return 0;
}

static int load_credentials(cli *c, const char *data_dir) {
  const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
  if (ak && *ak && sk && *sk) {
    snprintf(c->ak, sizeof c->ak, "%s", ak);
    snprintf(c->sk, sizeof c->sk, "%s", sk);
    return 0;
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/credentials.json", data_dir);
  json_t *o = json_load_file(path, 0, NULL);
  const char *fa = json_string_value(json_object_get(o, "access_key_id"));
  const char *fs = json_string_value(json_object_get(o, "secret_access_key"));
  int rc = -1;
  if (fa && fs) {
    snprintf(c->ak, sizeof c->ak, "%s", fa);
    snprintf(c->sk, sizeof c->sk, "%s", fs);
    rc = 0;
  } else {
    fprintf(stderr,
            "tweedle apikey: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "point --data at the server's data directory (no %s)\n",
            path);
  }
  json_decref(o);
  return rc;
}

/* One signed request; prints the answer. Returns the exit status. */
static int call(const cli *c, const char *method, const char *path, const char *body) {
  size_t blen = body ? strlen(body) : 0;
  char amz[17], sha[65], auth[600];
  tw_sigv4_amz_date(time(NULL), amz);
  tw_sha256_hex(body ? body : "", blen, sha);
  tw_kv h[3] = {{"host", c->hostport}, {"x-amz-date", amz}, {"content-type", "application/json"}};
  tw_sigv4_input in = {.method = method,
                       .raw_path = path,
                       .raw_query = "",
                       .headers = h,
                       .nheaders = body ? 3 : 2,
                       .payload_sha256_hex = sha};
  if (tw_sigv4_sign(&in, c->ak, c->sk, c->region, "execute-api", auth, sizeof auth)) {
    fprintf(stderr, "tweedle apikey: cannot sign the request\n");
    return 1;
  }
  char err[1200];
  tw_http *hc = tw_http_new(&c->url);
  if (!hc) return 1;
  tw_kv hdr[5];
  size_t nh = 0;
  hdr[nh++] = (tw_kv){"Host", c->hostport};
  hdr[nh++] = (tw_kv){"X-Amz-Date", amz};
  if (body) hdr[nh++] = (tw_kv){"Content-Type", "application/json"};
  hdr[nh++] = (tw_kv){"Authorization", auth};
  hdr[nh++] = (tw_kv){"Connection", "close"};
  tw_http_req q = {.method = method,
                   .path = path,
                   .headers = hdr,
                   .nheaders = nh,
                   .body = body,
                   .body_len = blen,
                   .body_fd = -1,
                   .resp_cap = 64u << 20,
                   .resp_fd = -1,
                   .timeout_ms = 30000};
  tw_http_resp r;
  tw_http_resp_init(&r);
  int64_t t0 = tw_mono_ms();
  int failed = tw_http_do(hc, &q, &r, err, sizeof err);
  tw_http_free(hc);
  const char *rbody = tw_buf_cstr(&r.body);
  int rc = 1;
  if (failed && tw_mono_ms() - t0 >= 30000) {
    fprintf(stderr, "tweedle apikey: no answer from %s within 30 s\n", c->hostport);
  } else if (failed) {
    fprintf(stderr, "tweedle apikey: cannot reach %s: %s\n", c->hostport, err);
  } else {
    json_t *doc = json_loadb(rbody, r.body.len, 0, NULL);
    if (r.status >= 200 && r.status < 300 && doc) {
      char *text = json_dumps(doc, JSON_INDENT(2));
      if (text) puts(text);
      free(text);
      rc = 0;
    } else {
      json_t *e = json_object_get(doc, "error");
      const char *code = json_string_value(json_object_get(e, "code"));
      const char *msg = json_string_value(json_object_get(e, "message"));
      fprintf(stderr, "tweedle apikey: HTTP %d %s: %s\n", r.status, code ? code : "",
              msg ? msg : rbody);
    }
    json_decref(doc);
  }
  tw_http_resp_free(&r);
  return rc;
}

static int cmd_create(const cli *c, int argc, char **argv) {
  static const struct option opts[] = {
      {"name", required_argument, 0, 'n'},        {"scope", required_argument, 0, 's'},
      {"bucket", required_argument, 0, 'b'},      {"prefix", required_argument, 0, 'p'},
      {"max-bytes", required_argument, 0, 'm'},   {"max-expires-in", required_argument, 0, 'x'},
      {"scopes-json", required_argument, 0, 'j'}, {"expires-in", required_argument, 0, 'e'},
      {"expires-at", required_argument, 0, 'E'},  {"rate", required_argument, 0, 'r'},
      {"burst", required_argument, 0, 'B'},       {0, 0, 0, 0}};
  json_t *body = json_object(), *scope = json_object(), *actions = json_array();
  json_t *scopes = NULL;
  int rc = 2, o;
  optind = 1;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    char *end = NULL;
    switch (o) {
      case 'n':
        json_object_set_new(body, "name", json_string(optarg));
        break;
      case 's':
        json_array_append_new(actions, json_string(optarg));
        break;
      case 'b':
        json_object_set_new(scope, "bucket", json_string(optarg));
        break;
      case 'p':
        json_object_set_new(scope, "prefix", json_string(optarg));
        break;
      case 'm':
      case 'x':
      case 'e': {
        long long v = strtoll(optarg, &end, 10);
        if (!*optarg || *end) {
          fprintf(stderr, "tweedle apikey: --%s wants a whole number\n",
                  o == 'm'   ? "max-bytes"
                  : o == 'x' ? "max-expires-in"
                             : "expires-in");
          goto out;
        }
        json_object_set_new(o == 'e' ? body : scope,
                            o == 'm'   ? "max_bytes"
                            : o == 'x' ? "max_expires_in"
                                       : "expires_in",
                            json_integer(v));
        break;
      }
      case 'E':
        json_object_set_new(body, "expires_at", json_string(optarg));
        break;
      case 'r':
      case 'B': {
        double v = strtod(optarg, &end);
        if (!*optarg || *end) {
          fprintf(stderr, "tweedle apikey: --%s wants a number\n", o == 'r' ? "rate" : "burst");
          goto out;
        }
        json_object_set_new(body, o == 'r' ? "rate" : "burst", json_real(v));
        break;
      }
      case 'j':
        json_decref(scopes);
        scopes = json_loads(optarg, 0, NULL);
        if (!json_is_array(scopes)) {
          fprintf(stderr, "tweedle apikey: --scopes-json must be a JSON array\n");
          goto out;
        }
        break;
      default:
        fputs(usage, stderr);
        goto out;
    }
  }
  if (optind < argc || !json_object_get(body, "name")) {
    fprintf(stderr, "tweedle apikey create: --name is required%s\n\n%s",
            optind < argc ? " (and takes no other arguments)" : "", usage);
    goto out;
  }
  if (scopes && (json_array_size(actions) || json_object_size(scope))) {
    fprintf(stderr, "tweedle apikey create: use --scopes-json or the scope options, not both\n");
    goto out;
  }
  if (!scopes) {
    if (!json_array_size(actions)) {
      fprintf(stderr,
              "tweedle apikey create: give at least one --scope ACTION (or --scopes-json)\n");
      goto out;
    }
    json_object_set(scope, "actions", actions);
    scopes = json_pack("[O]", scope);
  }
  json_object_set(body, "scopes", scopes);
  char *text = json_dumps(body, JSON_COMPACT);
  rc = call(c, "POST", "/_/api/v1/apikeys", text);
  free(text);
  if (!rc) fprintf(stderr, "tweedle apikey: keep the key now: it is not shown again.\n");
out:
  json_decref(body);
  json_decref(scope);
  json_decref(actions);
  json_decref(scopes);
  return rc;
}

int tw_apikey_main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  const char *endpoint = getenv("TWEEDLE_ENDPOINT"), *data = getenv("TWEEDLE_DATA");
  const char *ca_bundle = NULL;
  const char *region = getenv("AWS_REGION");
  if (!region || !*region) region = getenv("AWS_DEFAULT_REGION");
  /* the common options may come anywhere; the rest goes to the command */
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  if (!rest) return 1;
  int nrest = 0;
  rest[nrest++] = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = !strcmp(a, "--endpoint")    ? &endpoint
                       : !strcmp(a, "--data")      ? &data
                       : !strcmp(a, "--region")    ? &region
                       : !strcmp(a, "--ca-bundle") ? &ca_bundle
                                                   : NULL;
    if (dst && i + 1 < argc) {
      *dst = argv[++i];
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      free(rest);
      return 0;
    } else {
      rest[nrest++] = argv[i];
    }
  }
  cli c;
  memset(&c, 0, sizeof c);
  snprintf(c.region, sizeof c.region, "%s", region && *region ? region : "us-east-1");
  int rc = 2;
  if (parse_endpoint(&c, endpoint && *endpoint ? endpoint : "http://127.0.0.1:9324")) goto out;
  if (ca_bundle) {
    char err[1200];
    if (tw_http_set_ca_bundle(ca_bundle, err, sizeof err)) {
      fprintf(stderr, "tweedle apikey: %s\n", err);
      goto out;
    }
  }
  if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "show") &&
      strcmp(sub, "revoke")) {
    fprintf(stderr, "tweedle apikey: unknown command '%s'\n\n%s", sub, usage);
    goto out;
  }
  if (load_credentials(&c, data && *data ? data : "./data")) {
    rc = 1;
    goto out;
  }
  if (!strcmp(sub, "create")) {
    rc = cmd_create(&c, nrest, rest);
  } else if (!strcmp(sub, "list")) {
    if (nrest != 1) {
      fprintf(stderr, "tweedle apikey list takes no arguments\n");
      goto out;
    }
    rc = call(&c, "GET", "/_/api/v1/apikeys", NULL);
  } else {
    const char *id = nrest == 2 ? rest[1] : NULL;
    if (!id || !*id || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(id)) {
      fprintf(stderr, "tweedle apikey %s: give one key id (ak_...)\n", sub);
      goto out;
    }
    char path[200];
    snprintf(path, sizeof path, "/_/api/v1/apikeys/%.100s", id);
    rc = call(&c, strcmp(sub, "revoke") ? "GET" : "DELETE", path, NULL);
  }
out:
  free(rest);
  return rc;
}

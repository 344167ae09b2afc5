/* `tweedle send` and `tweedle receive`: messages from scripts, with bodies of
 * any size through the object store (the SQS Extended Client format). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "net/http.h"
#include "worker/payload.h"

static const char *send_usage =
    "usage: tweedle send --queue NAME|URL (--body TEXT | --file PATH) [options]\n"
    "\n"
    "Sends one message. A body above the threshold goes to the object store and the\n"
    "message carries a pointer to it, as AWS's SQS Extended Client libraries write it.\n"
    "\n"
    "  --queue Q               queue name or URL\n"
    "  --body TEXT             the body\n"
    "  --file PATH             the body from a file ('-': standard input); streamed when "
    "offloaded\n"
    "  --offload-threshold N   offload bodies (plus attributes) above N bytes (default 262144)\n"
    "  --always-offload        offload every body\n"
    "  --bucket B              bucket for payloads (TWEEDLE_PAYLOAD_BUCKET); created if missing\n"
    "  --key-prefix P          prefix for payload keys (default none: a random UUID)\n"
    "  --attr NAME=VALUE       a String message attribute (repeatable)\n"
    "  --group-id ID           MessageGroupId (FIFO queues)\n"
    "  --dedup-id ID           MessageDeduplicationId (FIFO queues)\n"
    "  --delay S               DelaySeconds\n"
    "  --endpoint URL          SQS (and S3) endpoint (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL)\n"
    "  --s3-endpoint URL       S3 endpoint when it differs (AWS_ENDPOINT_URL_S3)\n"
    "  --ca-bundle FILE        CA certificates (PEM) that https endpoints are verified\n"
    "                          against (AWS_CA_BUNDLE; default: the system store)\n"
    "\n"
    "Prints {\"MessageId\":...,\"Size\":N[,\"Payload\":{\"Bucket\":...,\"Key\":...}]}.\n"
    "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.\n";

static const char *receive_usage =
    "usage: tweedle receive --queue NAME|URL [options]\n"
    "\n"
    "Receives messages and prints one JSON object per line. A message that points to a\n"
    "payload in the object store (SQS Extended Client format) gets the payload as its body.\n"
    "\n"
    "  --queue Q          queue name or URL\n"
    "  --max N            receive up to N messages (default 1)\n"
    "  --wait S           long-poll up to S seconds, 0..20 (default 0)\n"
    "  --visibility S     visibility timeout for the received messages (default: the queue's)\n"
    "  --delete           delete each message after printing it, and its payload object\n"
    "  --keep-payloads    with --delete: leave payload objects in place\n"
    "  --out DIR          write payloads to DIR/<MessageId> (\"BodyFile\") instead of \"Body\"\n"
    "  --endpoint URL     SQS (and S3) endpoint (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL)\n"
    "  --s3-endpoint URL  S3 endpoint when it differs (AWS_ENDPOINT_URL_S3)\n"
    "  --ca-bundle FILE   CA certificates (PEM) that https endpoints are verified against\n"
    "                     (AWS_CA_BUNDLE; default: the system store)\n"
    "\n"
    "Each line: the ReceiveMessage fields (MessageId, ReceiptHandle, MD5OfBody, Body,\n"
    "Attributes, MessageAttributes) and, for payloads, \"Payload\": {Bucket, Key, Size,\n"
    "ExtendedReceiptHandle (the handle the Extended Client libraries' delete expects)}.\n";

typedef struct {
  tw_aws_creds creds;
  tw_sqsc *sqs;
  tw_s3c *s3;
  char queue_url[2048];
} clients;

static int open_clients(clients *c, const char *queue, const char *endpoint,
                        const char *s3_endpoint) {
  char err[512], ep[1024];
  memset(c, 0, sizeof *c);
  if (tw_aws_creds_from_env(&c->creds, err, sizeof err)) {
    fprintf(stderr, "tweedle: %s\n", err);
    return -1;
  }
  tw_aws_endpoint("sqs", endpoint, c->creds.region, ep, sizeof ep);
  if (!(c->sqs = tw_sqsc_new(ep, &c->creds, err, sizeof err))) {
    fprintf(stderr, "tweedle: %s: %s\n", ep, err);
    return -1;
  }
  tw_aws_endpoint("s3", s3_endpoint && *s3_endpoint ? s3_endpoint : endpoint, c->creds.region, ep,
                  sizeof ep);
  if (!(c->s3 = tw_s3c_new(ep, &c->creds, err, sizeof err))) {
    fprintf(stderr, "tweedle: %s: %s\n", ep, err);
    return -1;
  }
  tw_sqsc_error e;
  if (tw_sqsc_queue_url(c->sqs, queue, c->queue_url, sizeof c->queue_url, &e)) {
    fprintf(stderr, "tweedle: queue %s: %s\n", queue, tw_sqsc_strerror(&e, err, sizeof err));
    return -1;
  }
  return 0;
}

static void close_clients(clients *c) {
  tw_sqsc_free(c->sqs);
  tw_s3c_free(c->s3);
}

static int parse_num(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* Standard input into a temporary file, so that its size is known and an
 * offloaded body streams from disk. */
static int spool_stdin(char *path, size_t n) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, n, "%s/tweedle-send-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  char buf[1 << 16];
  ssize_t r;
  while ((r = read(0, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(fd, buf + off, (size_t)(r - off));
      if (w < 0) {
        close(fd);
        unlink(path);
        return -1;
      }
      off += w;
    }
  }
  close(fd);
  if (r < 0) unlink(path);
  return r < 0 ? -1 : 0;
}

int tw_send_main(int argc, char **argv) {
  static const struct option opts[] = {{"queue", required_argument, 0, 'q'},
                                       {"body", required_argument, 0, 'b'},
                                       {"file", required_argument, 0, 'f'},
                                       {"offload-threshold", required_argument, 0, 't'},
                                       {"always-offload", no_argument, 0, 'A'},
                                       {"bucket", required_argument, 0, 'B'},
                                       {"key-prefix", required_argument, 0, 'P'},
                                       {"attr", required_argument, 0, 'a'},
                                       {"group-id", required_argument, 0, 'g'},
                                       {"dedup-id", required_argument, 0, 'd'},
                                       {"delay", required_argument, 0, 'D'},
                                       {"endpoint", required_argument, 0, 'e'},
                                       {"s3-endpoint", required_argument, 0, 'E'},
                                       {"ca-bundle", required_argument, 0, 'C'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *queue = NULL, *body = NULL, *file = NULL, *endpoint = "", *s3_endpoint = "";
  tw_payload_send_opts o = {.threshold = TW_PAYLOAD_DEFAULT_THRESHOLD, .delay_s = -1};
  o.bucket = getenv("TWEEDLE_PAYLOAD_BUCKET");
  json_t *attrs = json_object();
  int rc = 2, c;
  long long v;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'q':
        queue = optarg;
        break;
      case 'b':
        body = optarg;
        break;
      case 'f':
        file = optarg;
        break;
      case 't':
        if (parse_num(optarg, 0, (long long)TW_PAYLOAD_MAX_SIZE, &v)) {
          fprintf(stderr, "tweedle: --offload-threshold must be a number of bytes\n");
          goto out;
        }
        o.threshold = v;
        break;
      case 'A':
        o.always = 1;
        break;
      case 'B':
        o.bucket = optarg;
        break;
      case 'P':
        o.key_prefix = optarg;
        break;
      case 'a': {
        const char *eq = strchr(optarg, '=');
        if (!eq || eq == optarg) {
          fprintf(stderr, "tweedle: --attr wants NAME=VALUE\n");
          goto out;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - optarg), optarg);
        json_object_set_new(attrs, name,
                            json_pack("{s:s,s:s}", "DataType", "String", "StringValue", eq + 1));
        break;
      }
      case 'g':
        o.group_id = optarg;
        break;
      case 'd':
        o.dedup_id = optarg;
        break;
      case 'D':
        if (parse_num(optarg, 0, 900, &v)) {
          fprintf(stderr, "tweedle: --delay must be 0..900\n");
          goto out;
        }
        o.delay_s = (int)v;
        break;
      case 'e':
        endpoint = optarg;
        break;
      case 'E':
        s3_endpoint = optarg;
        break;
      case 'C': {
        char err[1200];
        if (tw_http_set_ca_bundle(optarg, err, sizeof err)) {
          fprintf(stderr, "tweedle send: %s\n", err);
          goto out;
        }
        break;
      }
      case 'h':
        fputs(send_usage, stdout);
        rc = 0;
        goto out;
      default:
        fputs(send_usage, stderr);
        goto out;
    }
  }
  if (!queue || !!body == !!file || optind < argc) {
    fprintf(stderr, "tweedle send: --queue and one of --body or --file are required\n\n%s",
            send_usage);
    goto out;
  }
  if (json_object_size(attrs)) o.attrs = attrs;
  tw_log_setup(0, TW_LOG_INFO);
  clients cl;
  rc = 1;
  char spooled[512] = "";
  if (file && !strcmp(file, "-")) {
    if (spool_stdin(spooled, sizeof spooled)) {
      fprintf(stderr, "tweedle: reading standard input: %s\n", strerror(errno));
      goto out;
    }
    file = spooled;
  }
  if (open_clients(&cl, queue, endpoint, s3_endpoint) == 0) {
    tw_payload_sent sent;
    char err[1024];
    if (tw_payload_send(cl.sqs, cl.s3, cl.queue_url, body, body ? strlen(body) : 0, file, &o, &sent,
                        err, sizeof err)) {
      fprintf(stderr, "tweedle: send: %s\n", err);
    } else {
      json_t *res =
          json_pack("{s:s,s:I}", "MessageId", sent.message_id, "Size", (json_int_t)sent.size);
      if (sent.offloaded)
        json_object_set_new(res, "Payload",
                            json_pack("{s:s,s:s}", "Bucket", sent.ptr.bucket, "Key", sent.ptr.key));
      char *s = json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER);
      printf("%s\n", s);
      free(s);
      json_decref(res);
      rc = 0;
    }
  }
  close_clients(&cl);
  if (spooled[0]) unlink(spooled);
out:
  json_decref(attrs);
  return rc;
}

/* --- receive ----------------------------------------------------------------------- */

/* Writes the file's bytes JSON-string-escaped (without quotes) in constant memory. */
static int write_escaped_file(FILE *out, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static const char hex[] = "0123456789abcdef";
  unsigned char in[1 << 16];
  ssize_t r;
  while ((r = read(fd, in, sizeof in)) > 0) {
    for (ssize_t i = 0; i < r; i++) {
      unsigned char ch = in[i];
      if (ch == '"' || ch == '\\') {
        putc('\\', out);
        putc(ch, out);
      } else if (ch == '\n') {
        fputs("\\n", out);
      } else if (ch == '\r') {
        fputs("\\r", out);
      } else if (ch == '\t') {
        fputs("\\t", out);
      } else if (ch < 0x20 || ch == 0x7f) {
        fprintf(out, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
      } else {
        putc(ch, out);
      }
    }
  }
  close(fd);
  return r < 0 ? -1 : 0;
}

/* Prints one message: the object, with "Body" streamed from body_file when set. */
static int print_message(json_t *o, const char *body_file) {
  char *rest = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!rest) return -1;
  int rc = 0;
  if (body_file) {
    fputs("{\"Body\":\"", stdout);
    rc = write_escaped_file(stdout, body_file);
    fputs("\"", stdout);
    fputs(strcmp(rest, "{}") ? "," : "}", stdout);
    if (strcmp(rest, "{}")) fputs(rest + 1, stdout);
  } else {
    fputs(rest, stdout);
  }
  putchar('\n');
  fflush(stdout);
  free(rest);
  return rc;
}

static void safe_name(const char *id, char *out, size_t n) {
  size_t j = 0;
  for (size_t i = 0; id[i] && j + 1 < n; i++) {
    char ch = id[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_' || ch == '.';
    out[j] = ok && !(j == 0 && ch == '.') ? ch : '_';
    j++;
  }
  out[j] = 0;
}

typedef struct {
  clients cl;
  const char *out_dir;
  int del, keep;
} recv_ctx;

/* One received message: resolve, print, delete. 0, or -1 on an error. */
static int handle_message(recv_ctx *x, json_t *m) {
  char err[1024], path[1024] = "";
  tw_payload_ptr p;
  uint64_t size = 0;
  const char *id = json_string_value(json_object_get(m, "MessageId"));
  const char *handle = json_string_value(json_object_get(m, "ReceiptHandle"));
  if (!id || !handle) return -1;
  int is_ptr = tw_payload_parse(m, &p, err, sizeof err);
  if (is_ptr < 0) {
    fprintf(stderr, "tweedle: message %s: %s\n", id, err);
    return -1;
  }
  int temp = 0;
  if (is_ptr) {
    if (x->out_dir) {
      char name[256];
      safe_name(id, name, sizeof name);
      snprintf(path, sizeof path, "%s/%s", x->out_dir, name);
    } else {
      const char *dir = getenv("TMPDIR");
      snprintf(path, sizeof path, "%s/tweedle-recv-XXXXXX", dir && *dir ? dir : "/tmp");
      int fd = mkstemp(path);
      if (fd < 0) {
        fprintf(stderr, "tweedle: %s: %s\n", path, strerror(errno));
        return -1;
      }
      close(fd);
      temp = 1;
    }
    if (tw_payload_resolve(x->cl.s3, m, path, &p, &size, err, sizeof err) != 1) {
      fprintf(stderr, "tweedle: message %s: %s\n", id, err);
      if (temp) unlink(path);
      return -1;
    }
  }
  json_t *o = json_deep_copy(m);
  int rc = 0;
  if (is_ptr) {
    json_object_del(o, "Body");
    char *ext = tw_payload_decorate_handle(&p, handle);
    json_object_set_new(o, "Payload",
                        json_pack("{s:s,s:s,s:I,s:s}", "Bucket", p.bucket, "Key", p.key, "Size",
                                  (json_int_t)size, "ExtendedReceiptHandle", ext ? ext : ""));
    free(ext);
    if (x->out_dir) json_object_set_new(o, "BodyFile", json_string(path));
  }
  if (print_message(o, is_ptr && temp ? path : NULL)) {
    fprintf(stderr, "tweedle: message %s: writing the body failed\n", id);
    rc = -1;
  }
  json_decref(o);
  if (temp) unlink(path);
  if (!rc && x->del) {
    json_t *req = json_pack("{s:s,s:s}", "QueueUrl", x->cl.queue_url, "ReceiptHandle", handle);
    tw_sqsc_error e;
    if (tw_sqsc_call(x->cl.sqs, "DeleteMessage", req, NULL, &e, NULL)) {
      fprintf(stderr, "tweedle: deleting message %s: %s\n", id,
              tw_sqsc_strerror(&e, err, sizeof err));
      rc = -1;
    } else if (is_ptr && !x->keep && tw_payload_release(x->cl.s3, &p, err, sizeof err)) {
      fprintf(stderr, "tweedle: %s\n", err);
      rc = -1;
    }
    json_decref(req);
  }
  return rc;
}

int tw_receive_main(int argc, char **argv) {
  static const struct option opts[] = {{"queue", required_argument, 0, 'q'},
                                       {"max", required_argument, 0, 'm'},
                                       {"wait", required_argument, 0, 'w'},
                                       {"visibility", required_argument, 0, 'v'},
                                       {"delete", no_argument, 0, 'd'},
                                       {"keep-payloads", no_argument, 0, 'k'},
                                       {"out", required_argument, 0, 'o'},
                                       {"endpoint", required_argument, 0, 'e'},
                                       {"s3-endpoint", required_argument, 0, 'E'},
                                       {"ca-bundle", required_argument, 0, 'C'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *queue = NULL, *endpoint = "", *s3_endpoint = "";
  long long max = 1, wait = 0, vis = -1;
  recv_ctx x;
  memset(&x, 0, sizeof x);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'q':
        queue = optarg;
        break;
      case 'm':
        if (parse_num(optarg, 1, 1000000000, &max)) goto bad_num;
        break;
      case 'w':
        if (parse_num(optarg, 0, 20, &wait)) goto bad_num;
        break;
      case 'v':
        if (parse_num(optarg, 0, 43200, &vis)) goto bad_num;
        break;
      case 'd':
        x.del = 1;
        break;
      case 'k':
        x.keep = 1;
        break;
      case 'o':
        x.out_dir = optarg;
        break;
      case 'e':
        endpoint = optarg;
        break;
      case 'E':
        s3_endpoint = optarg;
        break;
      case 'C': {
        char err[1200];
        if (tw_http_set_ca_bundle(optarg, err, sizeof err)) {
          fprintf(stderr, "tweedle receive: %s\n", err);
          return 2;
        }
        break;
      }
      case 'h':
        fputs(receive_usage, stdout);
        return 0;
      default:
        fputs(receive_usage, stderr);
        return 2;
    }
  }
  if (!queue || optind < argc) {
    fprintf(stderr, "tweedle receive: --queue is required\n\n%s", receive_usage);
    return 2;
  }
  struct stat st;
  if (x.out_dir && (stat(x.out_dir, &st) || !S_ISDIR(st.st_mode))) {
    fprintf(stderr, "tweedle: --out %s: not a directory\n", x.out_dir);
    return 2;
  }
  tw_log_setup(0, TW_LOG_INFO);
  int rc = 1;
  if (open_clients(&x.cl, queue, endpoint, s3_endpoint) == 0) {
    rc = 0;
    long long got = 0;
    while (got < max) {
      json_t *msgs = NULL;
      tw_sqsc_error e;
      char err[1024];
      int n = max - got < 10 ? (int)(max - got) : 10;
      if (tw_sqsc_receive(x.cl.sqs, x.cl.queue_url, n, (int)wait, (int)vis, &msgs, &e, NULL)) {
        fprintf(stderr, "tweedle: receive: %s\n", tw_sqsc_strerror(&e, err, sizeof err));
        rc = 1;
        break;
      }
      size_t i;
      json_t *m;
      json_array_foreach(msgs, i, m) if (handle_message(&x, m)) rc = 1;
      got += (long long)json_array_size(msgs);
      int empty = json_array_size(msgs) == 0;
      json_decref(msgs);
      if (empty) break;
    }
  }
  close_clients(&x.cl);
  return rc;
bad_num:
  fprintf(stderr, "tweedle receive: --max must be >= 1, --wait 0..20, --visibility 0..43200\n");
  return 2;
}

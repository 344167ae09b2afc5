/* The delivery side of the SNS outbox: deliveries to http, https, email and
 * email-json subscribers.
 *
 * Whoever makes a delivery (a publish, Subscribe's confirmation, Unsubscribe's
 * UnsubscribeConfirmation) appends its row (store/sns_outbox.h) in its own
 * store batch, so an acknowledged publish has its rows on disk. A dispatcher
 * thread reads the committed rows that are due and hands them to
 * SNS_OUTBOX_THREADS delivery threads; a delivery that succeeds (a 2xx, or a
 * mail the relay accepted) deletes its row, one that fails reschedules it per
 * the subscription's effective delivery policy, and when the retries are
 * exhausted the notification goes to the subscription's RedrivePolicy
 * dead-letter queue through the event bus (in the batch that deletes the
 * row), else it is dropped and counted. A row is delivered at least once: a
 * crash between the delivery and the commit of its delete delivers it again.
 *
 * The dispatcher, the busy list (rows in flight, or whose delete or
 * reschedule has not committed yet, are not handed out twice), the threads
 * and the throttling are the shared outbox runner's (src/events/outbox.h),
 * which EventBridge's API destinations use too. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/json_out.h"
#include "core/log.h"
#include "events/bus.h"
#include "events/outbox.h"
#include "sns/sns_internal.h"

typedef struct job {
  uint64_t id;
  char *sub_arn, *topic_arn, *protocol, *endpoint, *kind, *msg_id, *subject, *from_name;
  int raw, attempts;
  char *body;
  size_t body_len;
} job;

struct sns_outbox {
  tw_sns *s;
  tw_outbox *runner;
  atomic_uint_fast64_t next_id;
};
typedef struct sns_outbox sns_outbox;

/* --- the delivery policy ------------------------------------------------------ */

typedef struct {
  int min_delay, max_delay; /* seconds */
  int retries, no_delay, min_retries, max_retries;
  char backoff[16];
  double max_per_second;  /* 0: no throttle */
  char content_type[128]; /* requestPolicy.headerContentType */
} policy;

static void default_policy(policy *p) {
  *p = (policy){.min_delay = 20, .max_delay = 20, .retries = 3};
  snprintf(p->backoff, sizeof p->backoff, "linear");
  snprintf(p->content_type, sizeof p->content_type, "text/plain; charset=UTF-8");
}

static int int_member(json_t *o, const char *k, int dflt, int lo, int hi) {
  json_t *v = json_object_get(o, k);
  long long x = json_is_integer(v)  ? json_integer_value(v)
                : json_is_real(v)   ? (long long)json_real_value(v)
                : json_is_string(v) ? atoll(json_string_value(v))
                                    : dflt;
  return x < lo ? lo : x > hi ? hi : (int)x;
}

/* The subscription's effective policy (its own, over the topic's, over AWS's
 * defaults), clamped to AWS's bounds. With mu. */
static void sub_policy(const sns_sub *sub, policy *p) {
  default_policy(p);
  if (strcmp(sub->protocol, "http") && strcmp(sub->protocol, "https")) return;
  char *eff = sns_sub_effective_delivery_policy(sub);
  json_t *doc = eff ? json_loads(eff, 0, NULL) : NULL;
  free(eff);
  json_t *h = json_object_get(doc, "healthyRetryPolicy");
  if (json_is_object(h)) {
    p->min_delay = int_member(h, "minDelayTarget", 20, 1, 3600);
    p->max_delay = int_member(h, "maxDelayTarget", 20, p->min_delay, 3600);
    p->retries = int_member(h, "numRetries", 3, 0, 100);
    p->no_delay = int_member(h, "numNoDelayRetries", 0, 0, 100);
    p->min_retries = int_member(h, "numMinDelayRetries", 0, 0, 100);
    p->max_retries = int_member(h, "numMaxDelayRetries", 0, 0, 100);
    const char *b = json_string_value(json_object_get(h, "backoffFunction"));
    if (b) snprintf(p->backoff, sizeof p->backoff, "%s", b);
  }
  const char *ct = json_string_value(
      json_object_get(json_object_get(doc, "requestPolicy"), "headerContentType"));
  if (ct && *ct && strlen(ct) < sizeof p->content_type && !strpbrk(ct, "\r\n"))
    snprintf(p->content_type, sizeof p->content_type, "%s", ct);
  json_t *t = json_object_get(doc, "throttlePolicy");
  json_t *r = json_object_get(t, "maxReceivesPerSecond");
  if (json_is_number(r) && json_number_value(r) > 0) p->max_per_second = json_number_value(r);
  if (json_is_string(r) && atof(json_string_value(r)) > 0)
    p->max_per_second = atof(json_string_value(r));
  json_decref(doc);
}

/* Seconds before retry number r (1-based), AWS's four phases: the no-delay
 * retries, the retries at minDelayTarget, the backoff phase (the retries left
 * over, growing from minDelayTarget to maxDelayTarget by the backoff
 * function), the retries at maxDelayTarget. */
double sns_retry_delay(int min_delay, int max_delay, int retries, int no_delay, int min_retries,
                       int max_retries, const char *backoff, int r) {
  if (r <= no_delay) return 0;
  r -= no_delay;
  if (r <= min_retries) return min_delay;
  r -= min_retries;
  int nb = retries - no_delay - min_retries - max_retries;
  if (nb < 0) nb = 0;
  if (r > nb) return max_delay;
  double lo = min_delay, hi = max_delay, x = nb ? (double)r / nb : 1;
  if (!strcmp(backoff, "arithmetic")) return lo + (hi - lo) * x * x;
  if (!strcmp(backoff, "geometric")) return lo * pow(hi / lo, x);
  if (!strcmp(backoff, "exponential")) return lo + (hi - lo) * (pow(2, r) - 1) / (pow(2, nb) - 1);
  return lo + (hi - lo) * x; /* linear */
}

static double retry_delay(const policy *p, int r) {
  return sns_retry_delay(p->min_delay, p->max_delay, p->retries, p->no_delay, p->min_retries,
                         p->max_retries, p->backoff, r);
}

/* --- rows ---------------------------------------------------------------------- */

uint64_t sns_outbox_add(tw_sns *s, tw_sns_outbox_row *row) {
  sns_outbox *o = s->outbox;
  row->id = atomic_fetch_add(&o->next_id, 1) + 1;
  row->attempts = 0;
  row->created_ms = tw_now_ms();
  row->due_ms = row->created_ms;
  return tw_store_sns_outbox(s->store)->put(s->store, row);
}

static void put_field(tw_buf *b, const char *name, const char *v, int last) {
  tw_buf_printf(b, "  \"%s\" : ", name);
  tw_json_write_string(b, v, strlen(v));
  tw_buf_puts(b, last ? "\n" : ",\n");
}

void sns_email_footer(const tw_sns *s, const char *sub_arn, tw_buf *out) {
  tw_buf_printf(out,
                "\n\n--\nIf you wish to stop receiving notifications from this topic, please click "
                "or visit the link below to unsubscribe:\n%s/?Action=Unsubscribe&SubscriptionArn=%s"
                "\n\nPlease do not reply directly to this email. This mail was sent by tweedle's "
                "SNS-compatible service.\n",
                s->base_url, sub_arn);
}

uint64_t sns_outbox_confirmation(tw_sns *s, const sns_topic *t, const sns_sub *sub,
                                 const char *kind) {
  int unsub = !strcmp(kind, "UnsubscribeConfirmation");
  char msg_id[37], ts[32], token[129], message[1500], url[2200], cert[800];
  tw_uuid4(msg_id);
  sns_iso8601(tw_now_ms(), ts);
  if (sub->token) {
    snprintf(token, sizeof token, "%s", sub->token);
  } else {
    uint8_t raw[64];
    tw_random_bytes(raw, sizeof raw);
    tw_hex(raw, sizeof raw, token);
  }
  if (unsub)
    snprintf(message, sizeof message,
             "You have chosen to deactivate subscription %s.\nTo cancel this operation and restore "
             "the subscription, visit the SubscribeURL included in this message.",
             sub->arn);
  else
    snprintf(message, sizeof message,
             "You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit "
             "the SubscribeURL included in this message.",
             t->arn);
  snprintf(url, sizeof url, "%s/?Action=ConfirmSubscription&TopicArn=%s&Token=%s", s->base_url,
           t->arn, token);
  sns_cert_url(s, cert, sizeof cert);
  /* Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type */
  tw_buf sts;
  tw_buf_init(&sts, 8u << 20);
  tw_buf_printf(&sts,
                "Message\n%s\nMessageId\n%s\nSubscribeURL\n%s\nTimestamp\n%s\nToken\n%s\n"
                "TopicArn\n%s\nType\n%s\n",
                message, msg_id, url, ts, token, t->arn, kind);
  char *sig = sns_sign(s, t->sigver, sts.data, sts.len);
  tw_buf_free(&sts);
  tw_buf env;
  tw_buf_init(&env, 8u << 20);
  tw_buf_puts(&env, "{\n");
  put_field(&env, "Type", kind, 0);
  put_field(&env, "MessageId", msg_id, 0);
  put_field(&env, "Token", token, 0);
  put_field(&env, "TopicArn", t->arn, 0);
  put_field(&env, "Message", message, 0);
  put_field(&env, "SubscribeURL", url, 0);
  put_field(&env, "Timestamp", ts, 0);
  put_field(&env, "SignatureVersion", t->sigver == 2 ? "2" : "1", 0);
  put_field(&env, "Signature", sig ? sig : "", 0);
  put_field(&env, "SigningCertURL", cert, 1);
  tw_buf_puts(&env, "}");
  free(sig);
  tw_sns_outbox_row row = {.sub_arn = sub->arn,
                           .topic_arn = t->arn,
                           .protocol = sub->protocol,
                           .endpoint = sub->endpoint,
                           .kind = kind,
                           .msg_id = msg_id};
  const char *display = sns_in_str(t->attrs, "DisplayName");
  row.from_name = display && *display ? display : "AWS Notifications";
  tw_buf text;
  tw_buf_init(&text, 8u << 20);
  if (!strcmp(sub->protocol, "email")) {
    row.subject = unsub ? "AWS Notification - Unsubscribe Confirmation"
                        : "AWS Notification - Subscription Confirmation";
    tw_buf_printf(&text,
                  "You have chosen to subscribe to the topic: \n%s\n\nTo confirm this "
                  "subscription, click or visit the link below (If this was in error no action is "
                  "necessary):\nConfirm subscription: %s\n\nPlease do not reply directly to this "
                  "email. This mail was sent by tweedle's SNS-compatible service.\n",
                  t->arn, url);
    row.body = text.data;
    row.body_len = text.len;
  } else {
    if (!strcmp(sub->protocol, "email-json"))
      row.subject = unsub ? "AWS Notification - Unsubscribe Confirmation"
                          : "AWS Notification - Subscription Confirmation";
    row.body = env.data;
    row.body_len = env.len;
  }
  uint64_t ticket = sns_outbox_add(s, &row);
  tw_buf_free(&text);
  tw_buf_free(&env);
  return ticket;
}

/* --- scanning ---------------------------------------------------------------------- */

static void job_free(void *p) {
  job *j = p;
  if (!j) return;
  free(j->sub_arn);
  free(j->topic_arn);
  free(j->protocol);
  free(j->endpoint);
  free(j->kind);
  free(j->msg_id);
  free(j->subject);
  free(j->from_name);
  free(j->body);
  free(j);
}

static char *dup_or_null(const char *v) {
  return v ? strdup(v) : NULL;
}

static void take_row(void *ud, const tw_sns_outbox_row *r) {
  tw_outbox *o = ud;
  if (!tw_outbox_wants(o, r->id)) return;
  job *j = calloc(1, sizeof *j);
  j->id = r->id;
  j->sub_arn = strdup(r->sub_arn);
  j->topic_arn = strdup(r->topic_arn);
  j->protocol = strdup(r->protocol);
  j->endpoint = strdup(r->endpoint);
  j->kind = strdup(r->kind);
  j->msg_id = strdup(r->msg_id);
  j->subject = dup_or_null(r->subject);
  j->from_name = dup_or_null(r->from_name);
  j->raw = r->raw;
  j->attempts = r->attempts;
  j->body = malloc(r->body_len + 1);
  if (r->body_len) memcpy(j->body, r->body, r->body_len);
  j->body[r->body_len] = 0;
  j->body_len = r->body_len;
  if (!tw_outbox_offer(o, r->id, j)) job_free(j);
}

static int scan(void *ud, tw_outbox *o, int64_t now_ms, int limit) {
  sns_outbox *ob = ud;
  return tw_store_sns_outbox(ob->s->store)->due(ob->s->store, now_ms, limit, take_row, o);
}

/* --- one delivery ------------------------------------------------------------------ */

static int send_http(tw_http_cancel *cancel, const job *j, const char *sub_arn,
                     const char *content_type, char *err, size_t errlen) {
  tw_kv hs[8];
  size_t n = 0;
  hs[n++] = (tw_kv){"x-amz-sns-message-type", j->kind};
  hs[n++] = (tw_kv){"x-amz-sns-message-id", j->msg_id};
  hs[n++] = (tw_kv){"x-amz-sns-topic-arn", j->topic_arn};
  if (strcmp(j->kind, "SubscriptionConfirmation"))
    hs[n++] = (tw_kv){"x-amz-sns-subscription-arn", sub_arn};
  if (j->raw) hs[n++] = (tw_kv){"x-amz-sns-rawdelivery", "true"};
  hs[n++] = (tw_kv){"Content-Type", content_type};
  hs[n++] = (tw_kv){"User-Agent", "Amazon Simple Notification Service Agent"};
  int status = sns_http_post(j->endpoint, hs, n, j->body, j->body_len, cancel, err, errlen);
  if (status >= 200 && status < 300) return 0;
  if (status > 0) snprintf(err, errlen, "the endpoint answered HTTP %d", status);
  return -1;
}

static uint64_t deliver(void *ud, tw_outbox *runner, void *data, tw_http_cancel *cancel) {
  sns_outbox *o = ud;
  job *j = data;
  tw_sns *s = o->s;
  const tw_sns_outbox_repo *repo = tw_store_sns_outbox(s->store);
  int notification = !strcmp(j->kind, "Notification");
  policy p;
  default_policy(&p);
  sns_lock(s);
  sns_sub *sub = sns_sub_get(s, j->sub_arn);
  if (s->cluster && (!sub || sub->pending != !strcmp(j->kind, "SubscriptionConfirmation"))) {
    /* cluster mode: the row may be another node's change this node has not
     * heard of yet */
    sns_unlock(s);
    if (sns_cluster_sync(s)) return 0; /* PostgreSQL away: the row stays */
    sns_lock(s);
    sub = sns_sub_get(s, j->sub_arn);
  }
  /* a notification for a subscription that is gone (unsubscribed, its topic
   * deleted) is not delivered; nor a confirmation already answered */
  int gone = notification                                   ? !sub || sub->pending
             : !strcmp(j->kind, "SubscriptionConfirmation") ? !sub || !sub->pending
                                                            : 0;
  if (sub) sub_policy(sub, &p);
  sns_unlock(s);
  if (gone) return repo->remove(s->store, j->id);
  tw_outbox_throttle(runner, j->sub_arn, p.max_per_second);
  if (tw_outbox_stopping(runner)) return 0;
  char err[600] = "";
  int rc;
  if (!strcmp(j->protocol, "email") || !strcmp(j->protocol, "email-json")) {
    rc = s->smtp_host[0]
             ? sns_smtp_send(s->smtp_host, s->smtp_port, s->smtp_from, j->from_name, j->endpoint,
                             j->subject, j->body, j->body_len, err, sizeof err)
             : (snprintf(err, sizeof err, "no SMTP relay configured (--smtp-url)"), -1);
  } else {
    rc = send_http(cancel, j, j->sub_arn, p.content_type, err, sizeof err);
  }
  if (tw_outbox_stopping(runner) && rc) return 0; /* cancelled at shutdown: the row stays */
  if (rc == 0) {
    uint64_t t = repo->remove(s->store, j->id);
    sns_lock(s);
    s->stats.delivered++;
    sns_unlock(s);
    return t;
  }
  int attempts = j->attempts + 1;
  if (attempts <= p.retries) {
    double delay = retry_delay(&p, attempts);
    tw_debug("sns: delivery %" PRIu64 " to %s failed (%s); retry %d of %d in %.1f s", j->id,
             j->endpoint, err, attempts, p.retries, delay);
    uint64_t t = repo->reschedule(s->store, j->id, attempts, tw_now_ms() + (int64_t)(delay * 1000));
    sns_lock(s);
    s->stats.retried++;
    sns_unlock(s);
    return t;
  }
  /* retries exhausted: the dead-letter queue, in the batch that drops the row */
  tw_events_lock(s->bus);
  tw_store_hold(s->store);
  sub = sns_sub_get(s, j->sub_arn);
  int dead = 0;
  if (notification && sub && sub->dlq_arn) {
    tw_event e = {.source = "aws.sns",
                  .type = "Notification",
                  .target = sub->dlq_arn,
                  .body = j->body,
                  .len = j->body_len,
                  .resource = j->topic_arn,
                  .subject = j->msg_id};
    dead = tw_event_publish(s->bus, &e) == 0;
  }
  uint64_t t = repo->remove(s->store, j->id);
  tw_store_release(s->store);
  uint64_t n = dead ? ++s->stats.dead_lettered : ++s->stats.dropped;
  tw_events_unlock(s->bus);
  if (dead)
    tw_info("sns: delivery to %s failed %d times (%s): dead-lettered", j->endpoint, attempts, err);
  else if ((n & (n - 1)) == 0)
    tw_warn(
        "sns: a %s for %s was dropped after %d attempts (%s; no working dead-letter queue); "
        "%" PRIu64 " dropped since start",
        j->kind, j->endpoint, attempts, err, n);
  return t;
}

/* --- open, start, stop ------------------------------------------------------------- */

int sns_outbox_open(tw_sns *s, const tw_config *cfg, char *err, size_t errlen) {
  if (cfg->smtp_url[0] &&
      sns_smtp_parse_url(cfg->smtp_url, s->smtp_host, s->smtp_port, err, errlen))
    return -1;
  snprintf(s->smtp_from, sizeof s->smtp_from, "%s",
           cfg->smtp_from[0] ? cfg->smtp_from : "no-reply@tweedle.local");
  sns_outbox *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  o->s = s;
  tw_outbox_ops ops = {.name = "sns",
                       .threads = SNS_OUTBOX_THREADS,
                       .store = s->store,
                       .ud = o,
                       .scan = scan,
                       .deliver = deliver,
                       .free_job = job_free};
  o->runner = tw_outbox_new(&ops);
  s->outbox = o;
  if (!o->runner) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  uint64_t max = 0;
  if (tw_store_sns_outbox(s->store)->max_id(s->store, &max)) {
    snprintf(err, errlen, "sns: cannot read the delivery outbox");
    return -1;
  }
  atomic_store(&o->next_id, max);
  long pending = tw_store_sns_outbox(s->store)->count(s->store);
  if (pending > 0) tw_info("sns: %ld deliveries waiting in the outbox", pending);
  return 0;
}

int sns_outbox_start(tw_sns *s) {
  return s->outbox ? tw_outbox_start(s->outbox->runner) : 0;
}

void sns_outbox_stop(tw_sns *s) {
  if (s->outbox) tw_outbox_stop(s->outbox->runner);
}

void sns_outbox_close(tw_sns *s) {
  sns_outbox *o = s->outbox;
  if (!o) return;
  tw_outbox_free(o->runner);
  free(o);
  s->outbox = NULL;
}

/* Publish and PublishBatch, the fan-out to SQS subscribers, and SNS as a
 * destination on the event bus.
 *
 * A publish validates its input, signs the notification (outside every lock:
 * RSA is the expensive part), then takes the bus lock (every target engine's
 * lock, ours included) and the store hold, appends one copy per matching
 * queue subscription through the bus, and releases: the copies, the FIFO
 * topic's sequence number and its deduplication entry commit in one batch,
 * and the answer waits for that batch. A copy that a queue refuses (no such
 * queue, too large, more than 10 attributes with raw delivery) goes to the
 * subscription's dead-letter queue if it has one, else it is dropped and
 * counted. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json_out.h"
#include "core/log.h"
#include "events/bus.h"
#include "sns/sns_internal.h"
#include "store/sns.h"

/* One message on its way to a topic's subscribers. */
typedef struct {
  /* input */
  const char *message;
  size_t message_len;
  json_t *structure; /* MessageStructure=json: the parsed object (owned) */
  const char *subject;
  json_t *attrs; /* MessageAttributes, validated (borrowed), or NULL */
  const char *group_id, *dedup_id;
  const char *trace; /* the publisher's trace (X-Ray form), or NULL: SQS copies carry it */
  /* the message queue subscribers get ("sqs" key of a structure, else "default") */
  const char *sqs_message;
  size_t sqs_len;
  /* made once */
  char msg_id[37];
  char timestamp[32];
  char dedup[130]; /* the deduplication id used (explicit or content hash) */
  uint64_t seqno;
  char seqstr[24];
  int duplicate;
  int failed; /* cluster mode: PostgreSQL could not answer the deduplication check */
  int sigver;
  char *signature;
  tw_buf head; /* envelope up to the subscription ARN in the UnsubscribeURL */
  tw_buf tail; /* envelope after it */
  int envelope_ready;
  json_t *raw_attrs; /* attributes for raw delivery (SQS shape), lazily */
  json_t *attr_doc;  /* what attribute-scope filters match, lazily */
  json_t *body_doc;  /* the body parsed for MessageBody-scope filters, lazily */
  int body_parsed;
} sns_msg;

static void msg_free(sns_msg *m) {
  json_decref(m->structure);
  free(m->signature);
  tw_buf_free(&m->head);
  tw_buf_free(&m->tail);
  json_decref(m->raw_attrs);
  json_decref(m->attr_doc);
  json_decref(m->body_doc);
}

/* --- validation ---------------------------------------------------------------- */

static int valid_number(const char *s) {
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  int digits = 0;
  while (isdigit((unsigned char)*p)) p++, digits++;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) p++, digits++;
  }
  if (!digits) return 0;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p)) p++;
  }
  return *p == 0;
}

static int valid_string_array(const char *v) {
  json_t *doc = json_loads(v, JSON_DECODE_ANY, NULL);
  int ok = json_is_array(doc);
  size_t i;
  json_t *x;
  json_array_foreach(doc, i, x) ok &=
      json_is_string(x) || json_is_number(x) || json_is_boolean(x) || json_is_null(x);
  json_decref(doc);
  return ok;
}

/* AWS's checks on MessageAttributes, in AWS's order and words; adds the
 * attributes' size to *size. entry: the PublishBatch entry's position (1-based)
 * or 0. */
static int check_attributes(tw_sns_call *c, json_t *attrs, int entry, size_t *size) {
  const char *name;
  json_t *a;
  json_object_foreach(attrs, name, a) {
    size_t nl = strlen(name);
    if (nl > 256)
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "Length of message attribute name must be less than 256 bytes.");
    if (name[0] == '.')
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "Invalid message attribute name starting with character '.' was found.");
    if (nl && name[nl - 1] == '.')
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "Invalid message attribute name ending with character '.' was found.");
    for (size_t i = 0; i < nl; i++) {
      unsigned char ch = (unsigned char)name[i];
      if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
        return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                        "Invalid non-alphanumeric character '#x%X' was found in the message "
                        "attribute name. Can only include alphanumeric characters, hyphens, "
                        "underscores, or dots.",
                        ch);
      if (ch == '.' && i && name[i - 1] == '.')
        return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                        "Message attribute name can not have successive '.' character.");
    }
    const char *type = sns_in_str(a, "DataType");
    if (!type) {
      if (entry)
        return sns_fail(c, TW_ERR_SNS_VALIDATION_ERROR,
                        "1 validation error detected: Value null at "
                        "'publishBatchRequestEntries.%d.member.messageAttributes.%s.member."
                        "dataType' failed to satisfy constraint: Member must not be null",
                        entry, name);
      return sns_fail(c, TW_ERR_SNS_VALIDATION_ERROR,
                      "1 validation error detected: Value null at 'messageAttributes.%s.member."
                      "dataType' failed to satisfy constraint: Member must not be null",
                      name);
    }
    int is_bin = !strncmp(type, "Binary", 6) && (type[6] == 0 || (type[6] == '.' && type[7]));
    int is_num = !strncmp(type, "Number", 6) && (type[6] == 0 || (type[6] == '.' && type[7]));
    int is_str = !strncmp(type, "String", 6) && (type[6] == 0 || (type[6] == '.' && type[7]));
    if (!is_bin && !is_num && !is_str)
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "The message attribute '%s' has an invalid message attribute type, the set "
                      "of supported type prefixes is Binary, Number, and String.",
                      name);
    const char *sv = sns_in_str(a, "StringValue"), *bv = sns_in_str(a, "BinaryValue");
    if (!sv && !bv)
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "The message attribute '%s' must contain non-empty message attribute value "
                      "for message attribute type '%s'.",
                      name, type);
    const char *field = is_bin ? "Binary" : "String";
    const char *v = is_bin ? bv : sv;
    if (!v)
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "The message attribute '%s' with type '%s' must use field '%s'.", name, type,
                      field);
    if (!*v)
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "The message attribute '%s' must contain non-empty message attribute value "
                      "for message attribute type '%s'.",
                      name, type);
    size_t vlen = strlen(v);
    if (is_bin) {
      uint8_t *tmp = malloc(vlen + 4);
      long dl = tw_base64_decode(v, vlen, tmp);
      free(tmp);
      if (dl < 0)
        return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                        "The message attribute '%s' has an invalid binary value.", name);
      vlen = (size_t)dl;
    } else if (is_num && !valid_number(v)) {
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "Could not cast message attribute '%s' value to number.", name);
    } else if (!strcmp(type, "String.Array") && !valid_string_array(v)) {
      return sns_fail(c, TW_ERR_SNS_PARAMETER_VALUE_INVALID,
                      "The message attribute '%s' with type 'String.Array' must be a JSON array "
                      "of strings, numbers, booleans or nulls.",
                      name);
    }
    *size += nl + strlen(type) + vlen;
  }
  return 0;
}

/* Subject: printable ASCII, at most 100 characters. */
static int valid_subject(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 100) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
  return 1;
}

/* MessageGroupId and MessageDeduplicationId: 1-128 characters of 0x21-0x7e. */
static int valid_fifo_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return 0;
  return 1;
}

/* Reads and checks one message (Publish's input, or one PublishBatch entry).
 * fifo: the topic is a FIFO topic (its name says so). */
static int parse_message(tw_sns_call *c, json_t *in, int entry, int fifo, sns_msg *m,
                         size_t *size) {
  m->message = sns_in_str(in, "Message");
  m->message_len = m->message ? json_string_length(json_object_get(in, "Message")) : 0;
  if (!m->message || !m->message_len)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Empty message");
  m->subject = sns_in_str(in, "Subject");
  if (m->subject && !valid_subject(m->subject))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Subject");
  json_t *attrs = json_object_get(in, "MessageAttributes");
  m->attrs = json_is_object(attrs) && json_object_size(attrs) ? attrs : NULL;
  size_t sz = m->message_len;
  if (m->attrs && check_attributes(c, m->attrs, entry, &sz)) return -1;
  if (size) *size = sz;
  if (sz > SNS_MAX_MESSAGE)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: Message too long");
  const char *structure = sns_in_str(in, "MessageStructure");
  m->sqs_message = m->message;
  m->sqs_len = m->message_len;
  if (structure && *structure) {
    if (strcmp(structure, "json"))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER, "Invalid parameter: MessageStructure");
    json_t *doc = json_loadb(m->message, m->message_len, 0, NULL);
    if (!json_is_object(doc)) {
      json_decref(doc);
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: Message Structure - JSON message body failed to parse");
    }
    m->structure = doc;
    /* keys whose values are not strings are ignored */
    json_t *def = json_object_get(doc, "default");
    if (!json_is_string(def))
      return sns_fail(
          c, TW_ERR_SNS_INVALID_PARAMETER,
          "Invalid parameter: Message Structure - No default entry in JSON message body");
    json_t *sqs = json_object_get(doc, "sqs");
    json_t *use = json_is_string(sqs) ? sqs : def;
    m->sqs_message = json_string_value(use);
    m->sqs_len = json_string_length(use);
  }
  m->group_id = sns_in_str(in, "MessageGroupId");
  m->dedup_id = sns_in_str(in, "MessageDeduplicationId");
  if (fifo) {
    if (!m->group_id || !*m->group_id)
      return sns_fail(
          c, TW_ERR_SNS_INVALID_PARAMETER,
          "Invalid parameter: The MessageGroupId parameter is required for FIFO topics");
    if (!valid_fifo_id(m->group_id))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: MessageGroupId Reason: must be 1 to 128 characters from "
                      "the ASCII range 33-126");
    if (m->dedup_id && !valid_fifo_id(m->dedup_id))
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: MessageDeduplicationId Reason: must be 1 to 128 "
                      "characters from the ASCII range 33-126");
  } else {
    if (m->dedup_id)
      return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: MessageDeduplicationId Reason: The request includes "
                      "MessageDeduplicationId parameter that is not valid for this topic type");
    m->group_id = NULL; /* a standard topic's queues take no group */
  }
  return 0;
}

static int is_fifo_arn(const char *arn) {
  size_t n = strlen(arn);
  return n > 5 && !strcmp(arn + n - 5, ".fifo");
}

/* --- the envelope ------------------------------------------------------------------ */

static void put_field(tw_buf *b, const char *name, const char *v, size_t n, int last) {
  tw_buf_printf(b, "  \"%s\" : ", name);
  tw_json_write_string(b, v, n);
  tw_buf_puts(b, last ? "\n" : ",\n");
}

/* AWS's string to sign for a Notification: Message, MessageId, Subject (when
 * given), Timestamp, TopicArn, Type, each as "Name\nValue\n". */
static char *string_to_sign(const sns_topic *t, const sns_msg *m, size_t *len) {
  tw_buf b;
  tw_buf_init(&b, 4u << 20);
  tw_buf_puts(&b, "Message\n");
  tw_buf_append(&b, m->sqs_message, m->sqs_len);
  tw_buf_printf(&b, "\nMessageId\n%s\n", m->msg_id);
  if (m->subject) tw_buf_printf(&b, "Subject\n%s\n", m->subject);
  tw_buf_printf(&b, "Timestamp\n%s\nTopicArn\n%s\nType\nNotification\n", m->timestamp, t->arn);
  return tw_buf_detach(&b, len);
}

static void build_envelope(tw_sns *s, const sns_topic *t, sns_msg *m) {
  if (m->envelope_ready) return;
  m->envelope_ready = 1;
  tw_buf *h = &m->head;
  tw_buf_init(h, 4u << 20);
  tw_buf_init(&m->tail, 4u << 20);
  tw_buf_puts(h, "{\n");
  put_field(h, "Type", "Notification", 12, 0);
  put_field(h, "MessageId", m->msg_id, strlen(m->msg_id), 0);
  if (t->fifo) put_field(h, "SequenceNumber", m->seqstr, strlen(m->seqstr), 0);
  put_field(h, "TopicArn", t->arn, strlen(t->arn), 0);
  if (m->subject) put_field(h, "Subject", m->subject, strlen(m->subject), 0);
  put_field(h, "Message", m->sqs_message, m->sqs_len, 0);
  put_field(h, "Timestamp", m->timestamp, strlen(m->timestamp), 0);
  if (!t->fifo) { /* FIFO notifications are not signed (as AWS) */
    if (!m->signature || m->sigver != t->sigver) {
      free(m->signature);
      size_t n = 0;
      char *sts = string_to_sign(t, m, &n);
      m->sigver = t->sigver;
      m->signature = sns_sign(s, m->sigver, sts, n);
      free(sts);
    }
    char cert[800];
    sns_cert_url(s, cert, sizeof cert);
    put_field(h, "SignatureVersion", m->sigver == 2 ? "2" : "1", 1, 0);
    put_field(h, "Signature", m->signature ? m->signature : "",
              m->signature ? strlen(m->signature) : 0, 0);
    put_field(h, "SigningCertURL", cert, strlen(cert), 0);
  }
  tw_buf_printf(h, "  \"UnsubscribeURL\" : \"%s/?Action=Unsubscribe&SubscriptionArn=", s->base_url);
  tw_buf *tl = &m->tail;
  tw_buf_putc(tl, '"');
  if (m->attrs) {
    tw_buf_puts(tl, ",\n  \"MessageAttributes\" : {\n");
    const char *name;
    json_t *a;
    int first = 1;
    json_object_foreach(m->attrs, name, a) {
      const char *type = sns_in_str(a, "DataType");
      const char *v =
          !strncmp(type, "Binary", 6) ? sns_in_str(a, "BinaryValue") : sns_in_str(a, "StringValue");
      if (!first) tw_buf_puts(tl, ",\n");
      first = 0;
      tw_buf_puts(tl, "    ");
      tw_json_write_string(tl, name, strlen(name));
      tw_buf_puts(tl, " : {\"Type\":");
      tw_json_write_string(tl, type, strlen(type));
      tw_buf_puts(tl, ",\"Value\":");
      tw_json_write_string(tl, v ? v : "", v ? strlen(v) : 0);
      tw_buf_putc(tl, '}');
    }
    tw_buf_puts(tl, "\n  }");
  }
  tw_buf_puts(tl, "\n}");
}

/* Signs before any lock is taken, when the topic looks like it will need an
 * envelope; build_envelope signs (under the lock) only if this guessed wrong. */
static void presign(tw_sns *s, const char *topic_arn, sns_msg *m) {
  sns_lock(s);
  sns_topic *t = sns_topic_get(s, topic_arn);
  int need = 0, version = 1;
  if (t && !t->fifo) {
    version = t->sigver;
    for (size_t i = 0; i < t->nsubs && !need; i++)
      need = !t->subs[i]->pending && !t->subs[i]->raw && strcmp(t->subs[i]->protocol, "email");
  }
  char arn[600];
  snprintf(arn, sizeof arn, "%s", topic_arn);
  sns_unlock(s);
  if (!need) return;
  size_t n = 0;
  sns_topic fake = {.arn = arn};
  char *sts = string_to_sign(&fake, m, &n);
  m->sigver = version;
  m->signature = sns_sign(s, version, sts, n);
  free(sts);
}

static void msg_start(sns_msg *m) {
  tw_uuid4(m->msg_id);
  sns_iso8601(tw_now_ms(), m->timestamp);
}

/* --- delivery ------------------------------------------------------------------------- */

static json_t *raw_attributes(sns_msg *m) {
  if (!m->raw_attrs) {
    m->raw_attrs = json_object();
    const char *name;
    json_t *a;
    json_object_foreach(m->attrs, name, a) {
      json_t *o = json_object();
      json_object_set(o, "DataType", json_object_get(a, "DataType"));
      const char *type = sns_in_str(a, "DataType");
      const char *field = !strncmp(type, "Binary", 6) ? "BinaryValue" : "StringValue";
      json_object_set(o, field, json_object_get(a, field));
      json_object_set_new(m->raw_attrs, name, o);
    }
  }
  return m->raw_attrs;
}

static int matches(const sns_sub *sub, sns_msg *m) {
  if (sub->blocked) return 0;
  if (!sub->filter) return 1;
  if (sub->body_scope) {
    if (!m->body_parsed) {
      m->body_parsed = 1;
      m->body_doc = json_loadb(m->sqs_message, m->sqs_len, JSON_DECODE_ANY, NULL);
    }
    return m->body_doc && tw_pattern_match(sub->filter, m->body_doc);
  }
  if (!m->attr_doc) {
    json_t *none = json_object();
    m->attr_doc = tw_pattern_sns_attributes(m->attrs ? m->attrs : none);
    json_decref(none);
    if (!m->attr_doc) m->attr_doc = json_object();
  }
  return tw_pattern_match(sub->filter, m->attr_doc);
}

static void note_drop(tw_sns *s, const sns_sub *sub, const char *why) {
  uint64_t n = ++s->stats.dropped;
  if ((n & (n - 1)) == 0) /* 1, 2, 4, 8, ...: no log flood under load */
    tw_warn("sns: a notification for %s was dropped (%s, no working dead-letter queue); %" PRIu64
            " dropped since start",
            sub->arn, why, n);
}

/* 1 when a copy was appended to the open batch (to the queue or its DLQ). */
static int deliver_sqs(tw_sns *s, const sns_topic *t, sns_sub *sub, sns_msg *m,
                       const char *sender) {
  tw_buf body;
  const char *data;
  size_t len;
  int too_many = 0;
  if (sub->raw) {
    data = m->sqs_message;
    len = m->sqs_len;
    too_many = m->attrs && json_object_size(m->attrs) > SNS_MAX_SQS_ATTRIBUTES;
    tw_buf_init(&body, 0);
  } else {
    build_envelope(s, t, m);
    tw_buf_init(&body, 8u << 20);
    tw_buf_append(&body, m->head.data, m->head.len);
    tw_buf_puts(&body, sub->arn);
    tw_buf_append(&body, m->tail.data, m->tail.len);
    data = body.data ? body.data : "";
    len = body.len;
  }
  tw_event e = {.source = "aws.sns",
                .type = "Notification",
                .target = sub->endpoint,
                .body = data,
                .len = len,
                .attributes = sub->raw && m->attrs ? raw_attributes(m) : NULL,
                .sender = sender,
                .group_id = t->fifo ? m->group_id : NULL,
                .dedup_id = t->fifo ? m->dedup : NULL,
                .resource = t->arn,
                .subject = m->msg_id,
                .trace = m->trace};
  int rc = too_many ? -2 : tw_event_publish(s->bus, &e), appended = 0;
  if (rc == 0) {
    s->stats.delivered++;
    if (sub->topic) sub->topic->m_delivered++;
    appended = 1;
  } else {
    if (sub->topic) sub->topic->m_failed++;
    const char *why = too_many   ? "more than 10 message attributes for raw delivery"
                      : rc == -1 ? "the queue does not exist"
                                 : "the queue refused the message";
    if (sub->dlq_arn) {
      e.target = sub->dlq_arn;
      if (too_many) e.attributes = NULL; /* they cannot go with it */
      if (tw_event_publish(s->bus, &e) == 0) {
        s->stats.dead_lettered++;
        appended = 1;
      } else {
        note_drop(s, sub, why);
      }
    } else {
      note_drop(s, sub, why);
    }
  }
  tw_buf_free(&body);
  return appended;
}

/* The message a protocol gets: its key of a MessageStructure=json message,
 * else "default"; without a structure, the message. */
static const char *message_for(const sns_msg *m, const char *protocol, size_t *len) {
  if (!m->structure) {
    *len = m->message_len;
    return m->message;
  }
  json_t *v = json_object_get(m->structure, protocol);
  if (!json_is_string(v)) v = json_object_get(m->structure, "default");
  if (!strcmp(protocol, "sqs") || json_string_value(v) == m->sqs_message) {
    *len = m->sqs_len;
    return m->sqs_message;
  }
  *len = json_string_length(v);
  return json_string_value(v);
}

/* The subscription's envelope into out: the message's own when the protocol
 * gets the same text as queues, else one made and signed for this text. */
static void envelope_for(tw_sns *s, const sns_topic *t, const sns_sub *sub, sns_msg *m,
                         const char *text, size_t len, tw_buf *out) {
  sns_msg v = {0}, *use = m;
  if (text != m->sqs_message) {
    memcpy(v.msg_id, m->msg_id, sizeof v.msg_id);
    memcpy(v.timestamp, m->timestamp, sizeof v.timestamp);
    memcpy(v.seqstr, m->seqstr, sizeof v.seqstr);
    v.subject = m->subject;
    v.attrs = m->attrs;
    v.sqs_message = text;
    v.sqs_len = len;
    use = &v;
  }
  build_envelope(s, t, use);
  tw_buf_append(out, use->head.data, use->head.len);
  tw_buf_puts(out, sub->arn);
  tw_buf_append(out, use->tail.data, use->tail.len);
  if (use == &v) msg_free(&v);
}

/* Appends the notification for an http, https, email or email-json
 * subscription to the outbox (in the open batch). Returns 1. */
static int outbox_notification(tw_sns *s, const sns_topic *t, const sns_sub *sub, sns_msg *m) {
  size_t len = 0;
  const char *text = message_for(m, sub->protocol, &len);
  tw_buf body;
  tw_buf_init(&body, 8u << 20);
  const char *display = sns_in_str(t->attrs, "DisplayName");
  tw_sns_outbox_row row = {.sub_arn = sub->arn,
                           .topic_arn = t->arn,
                           .protocol = sub->protocol,
                           .endpoint = sub->endpoint,
                           .kind = "Notification",
                           .msg_id = m->msg_id,
                           .from_name = display && *display ? display : "AWS Notifications"};
  if (!strcmp(sub->protocol, "email")) {
    /* the bare message, and the footer with the unsubscribe link */
    tw_buf_append(&body, text, len);
    sns_email_footer(s, sub->arn, &body);
    row.subject = m->subject ? m->subject : "AWS Notification Message";
  } else if (sub->raw) {
    tw_buf_append(&body, text, len);
    row.raw = 1;
  } else {
    envelope_for(s, t, sub, m, text, len, &body);
    if (!strcmp(sub->protocol, "email-json"))
      row.subject = m->subject ? m->subject : "AWS Notification Message";
  }
  row.body = body.data ? body.data : "";
  row.body_len = body.len;
  sns_outbox_add(s, &row);
  tw_buf_free(&body);
  return 1;
}

/* With the bus lock and the store hold: deduplicates (FIFO), numbers and fans
 * the message out to the topic's confirmed queue subscriptions. Returns how
 * many operations it appended to the open batch. */
static int publish_locked(tw_sns *s, sns_topic *t, sns_msg *m, const char *sender, void *fifo) {
  int64_t now = tw_now_ms();
  int appended = 0;
  if (t->fifo) {
    if (!m->dedup_id) { /* content-based: SHA-256 of the message body */
      tw_sha256_hex(m->message, m->message_len, m->dedup);
    } else {
      snprintf(m->dedup, sizeof m->dedup, "%s", m->dedup_id);
    }
    char key[300];
    if (t->dedup_by_group)
      snprintf(key, sizeof key, "%s\n%s", m->group_id, m->dedup);
    else
      snprintf(key, sizeof key, "%s", m->dedup);
    sns_dedup *d = tw_map_get(&t->dedup, key);
    if (fifo && !(d && d->expires_ms >= now)) {
      /* cluster mode: another node may have taken this key; the topic's lock
       * (fifo_begin) is held, so the committed rows are the whole story */
      char id[37];
      uint64_t seq = 0;
      int found = tw_store_sns(s->store)->fifo_dedup(fifo, t->arn, key, now, id, &seq);
      if (found < 0) {
        m->failed = 1;
        return 0;
      }
      if (found) {
        memcpy(m->msg_id, id, sizeof m->msg_id);
        m->seqno = seq;
        snprintf(m->seqstr, sizeof m->seqstr, "%020" PRIu64, m->seqno);
        m->duplicate = 1;
        s->stats.deduplicated++;
        return 0;
      }
    }
    if (d && d->expires_ms >= now) { /* accepted, not delivered again */
      memcpy(m->msg_id, d->msg_id, sizeof m->msg_id);
      m->seqno = d->seqno;
      snprintf(m->seqstr, sizeof m->seqstr, "%020" PRIu64, m->seqno);
      m->duplicate = 1;
      s->stats.deduplicated++;
      return 0;
    }
    m->seqno = ++t->seqno;
    /* 20 digits, increasing, never reused: saved with the topic in this batch */
    snprintf(m->seqstr, sizeof m->seqstr, "%020" PRIu64, m->seqno);
    if (!d) {
      d = calloc(1, sizeof *d);
      tw_map_put(&t->dedup, key, d);
    }
    memcpy(d->msg_id, m->msg_id, sizeof d->msg_id);
    d->seqno = m->seqno;
    d->expires_ms = now + SNS_DEDUP_WINDOW_MS;
    const tw_sns_repo *repo = tw_store_sns(s->store);
    repo->topic_seqno(s->store, t->arn, t->seqno);
    tw_sns_dedup_row row = {.topic_arn = t->arn,
                            .key = key,
                            .msg_id = m->msg_id,
                            .seqno = m->seqno,
                            .expires_ms = d->expires_ms};
    repo->dedup_put(s->store, &row);
    appended += 2;
  }
  s->stats.published++;
  sns_metrics_published(t, m->message_len);
  for (size_t i = 0; i < t->nsubs; i++) {
    sns_sub *sub = t->subs[i];
    if (sub->pending) continue;
    if (!matches(sub, m)) {
      s->stats.filtered++;
      continue;
    }
    /* http, https, email and email-json deliveries leave the process through
     * the outbox: their rows join this batch */
    if (strcmp(sub->protocol, "sqs"))
      appended += outbox_notification(s, t, sub, m);
    else
      appended += deliver_sqs(s, t, sub, m, sender);
  }
  return appended;
}

/* Drops expired deduplication entries now and then (memory and store). With
 * the bus lock and the store hold. */
static void prune(tw_sns *s) {
  int64_t now = tw_now_ms();
  if (now < s->next_prune_ms) return;
  s->next_prune_ms = now + 60000;
  const char *k;
  void *v;
  size_t pruned = 0;
  for (tw_map_entry *te = tw_map_next(&s->topics, NULL, &k, &v); te;
       te = tw_map_next(&s->topics, te, &k, &v)) {
    sns_topic *t = v;
    if (!t->fifo || !t->dedup.count) continue;
    /* the map cannot lose entries while it is walked: collect, then drop */
    char **gone = malloc(t->dedup.count * sizeof *gone);
    size_t n = 0;
    const char *dk;
    void *dv;
    for (tw_map_entry *e = tw_map_next(&t->dedup, NULL, &dk, &dv); e;
         e = tw_map_next(&t->dedup, e, &dk, &dv))
      if (((sns_dedup *)dv)->expires_ms < now) gone[n++] = strdup(dk);
    for (size_t i = 0; i < n; i++) {
      free(tw_map_del(&t->dedup, gone[i]));
      free(gone[i]);
    }
    free(gone);
    pruned += n;
  }
  if (pruned) tw_store_sns(s->store)->dedup_prune(s->store, now);
}

/* --- Publish ----------------------------------------------------------------------------- */

/* Cluster mode, FIFO topics: publishes to one topic take turns across the
 * nodes (the topic's lock in PostgreSQL, held from before the decision until
 * its batch committed), so sequence numbers and deduplication are decided on
 * committed rows. NULL on one node, or when the topic is not FIFO. */
static void *fifo_lock(tw_sns_call *c, const char *arn, uint64_t *seqno) {
  tw_sns *s = c->sns;
  const tw_sns_repo *repo = tw_store_sns(s->store);
  *seqno = 0;
  if (!repo->fifo_begin || !is_fifo_arn(arn)) return NULL;
  void *h = repo->fifo_begin(s->store, arn, seqno);
  if (!h) sns_fail(c, TW_ERR_SERVICE_UNAVAILABLE, NULL);
  return h;
}

static void fifo_unlock(tw_sns_call *c, void *h) {
  if (!h) return;
  tw_sns *s = c->sns;
  /* the next holder must read this publish's rows: wait for its batch */
  int64_t until = tw_mono_ms() + 30000;
  while (c->ticket && tw_store_committed(s->store) < c->ticket && tw_mono_ms() < until) usleep(200);
  tw_store_sns(s->store)->fifo_end(s->store, h);
}

static json_t *published(const sns_topic *t, const sns_msg *m) {
  json_t *o = json_pack("{s:s}", "MessageId", m->msg_id);
  if (t->fifo) json_object_set_new(o, "SequenceNumber", json_string(m->seqstr));
  return o;
}

int sns_publish(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *topic_arn = sns_in_str(c->in, "TopicArn");
  const char *target = sns_in_str(c->in, "TargetArn");
  const char *phone = sns_in_str(c->in, "PhoneNumber");
  int has_topic = topic_arn && *topic_arn, has_target = target && *target;
  if (phone && *phone)
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: PhoneNumber Reason: tweedle does not send SMS");
  if (!has_topic && !has_target)
    return sns_fail(
        c, TW_ERR_SNS_INVALID_PARAMETER,
        "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter");
  if (has_topic && has_target && strcmp(topic_arn, target))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: TopicArn Reason: Only one of TopicArn, TargetArn or "
                    "PhoneNumber may be specified");
  const char *arn = has_topic ? topic_arn : target;
  const char *what = has_topic ? "TopicArn" : "TargetArn";
  if (strstr(arn, ":endpoint/"))
    return sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                    "Invalid parameter: TargetArn Reason: No endpoint found for the target arn "
                    "specified");
  if (sns_check_arn(c, arn, what)) return -1;
  sns_msg m = {0};
  if (parse_message(c, c->in, 0, is_fifo_arn(arn), &m, NULL)) {
    msg_free(&m);
    return -1;
  }
  msg_start(&m);
  presign(s, arn, &m);
  m.trace = c->trace[0] ? c->trace : NULL;
  int rc = 0;
  uint64_t pg_seqno = 0;
  void *fifo = fifo_lock(c, arn, &pg_seqno);
  if (!fifo && c->err != TW_ERR_OK) {
    msg_free(&m);
    return -1;
  }
  tw_events_lock(s->bus);
  sns_resync_if_needed(s);
  sns_topic *t = sns_topic_get(s, arn);
  if (t && fifo && t->seqno < pg_seqno) t->seqno = pg_seqno;
  if (!t) {
    rc = sns_fail(c, TW_ERR_NOT_FOUND, "Topic does not exist");
  } else if (t->fifo && !m.dedup_id && !t->content_dedup) {
    rc = sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                  "Invalid parameter: The topic should either have ContentBasedDeduplication "
                  "enabled or MessageDeduplicationId provided explicitly");
  } else {
    tw_store_hold(s->store);
    prune(s);
    int appended = publish_locked(s, t, &m, c->principal, fifo);
    tw_store_release(s->store);
    /* its own batch when it wrote anything; else it only waits for what it saw */
    if (appended) c->ticket = tw_store_ticket(s->store);
    if (m.failed)
      rc = sns_fail(c, TW_ERR_SERVICE_UNAVAILABLE, NULL);
    else
      c->out = published(t, &m);
  }
  tw_events_unlock(s->bus);
  fifo_unlock(c, fifo);
  msg_free(&m);
  return rc;
}

/* --- PublishBatch ----------------------------------------------------------------------- */

static int check_batch_ids(tw_sns_call *c, json_t *entries) {
  size_t i, j;
  json_t *e, *f;
  json_array_foreach(entries, i, e) {
    const char *id = sns_in_str(e, "Id");
    json_array_foreach(entries, j, f) {
      if (j >= i) break;
      const char *other = sns_in_str(f, "Id");
      if (id && other && !strcmp(id, other))
        return sns_fail(c, TW_ERR_SNS_BATCH_IDS_NOT_DISTINCT, NULL);
    }
  }
  json_array_foreach(entries, i, e) {
    const char *id = sns_in_str(e, "Id");
    if (!id || !*id)
      return sns_fail(c, TW_ERR_SNS_INVALID_BATCH_ENTRY_ID,
                      "The Id of a batch entry in the batch request is empty");
    if (strlen(id) > 80)
      return sns_fail(c, TW_ERR_SNS_INVALID_BATCH_ENTRY_ID,
                      "The Id of a batch entry in the batch request is too long: %s", id);
    for (const char *p = id; *p; p++)
      if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
        return sns_fail(c, TW_ERR_SNS_INVALID_BATCH_ENTRY_ID,
                        "The Id of a batch entry in the batch request contains an impermissible "
                        "character: %s",
                        id);
  }
  return 0;
}

int sns_publish_batch(tw_sns_call *c) {
  tw_sns *s = c->sns;
  const char *arn = sns_in_str(c->in, "TopicArn");
  if (sns_check_arn(c, arn, "TopicArn")) return -1;
  json_t *entries = json_object_get(c->in, "PublishBatchRequestEntries");
  size_t n = json_is_array(entries) ? json_array_size(entries) : 0;
  if (!n) return sns_fail(c, TW_ERR_SNS_EMPTY_BATCH, NULL);
  if (n > SNS_MAX_BATCH) return sns_fail(c, TW_ERR_SNS_TOO_MANY_ENTRIES, NULL);
  if (check_batch_ids(c, entries)) return -1;
  int fifo = is_fifo_arn(arn);
  sns_msg ms[SNS_MAX_BATCH];
  memset(ms, 0, sizeof ms);
  int ok[SNS_MAX_BATCH];
  json_t *failed = json_array(), *done = json_array();
  size_t total = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(entries, i);
    size_t size = 0;
    ok[i] = parse_message(c, e, (int)i + 1, fifo, &ms[i], &size) == 0;
    if (!ok[i]) {
      /* malformed attributes and FIFO parameters fail the whole request, as
       * AWS does; the rest fail their entry */
      if (c->err != TW_ERR_SNS_INVALID_PARAMETER || strstr(c->msg, "MessageGroupId") ||
          strstr(c->msg, "MessageDeduplicationId")) {
        rc = -1;
        goto out;
      }
      const tw_err_info *info = tw_err_get(c->err);
      json_array_append_new(
          failed, json_pack("{s:s,s:s,s:s,s:b}", "Id", sns_in_str(e, "Id"), "Code", info->code,
                            "Message", c->msg, "SenderFault", 1));
      c->err = TW_ERR_OK;
      c->msg[0] = 0;
      size = ms[i].message_len;
    }
    total += size;
  }
  if (total > SNS_MAX_MESSAGE) {
    rc = sns_fail(c, TW_ERR_SNS_BATCH_TOO_LONG, NULL);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (!ok[i]) continue;
    msg_start(&ms[i]);
    presign(s, arn, &ms[i]);
    ms[i].trace = c->trace[0] ? c->trace : NULL;
  }
  uint64_t pg_seqno = 0;
  void *lock = fifo_lock(c, arn, &pg_seqno);
  if (!lock && c->err != TW_ERR_OK) {
    rc = -1;
    goto out;
  }
  tw_events_lock(s->bus);
  sns_resync_if_needed(s);
  sns_topic *t = sns_topic_get(s, arn);
  if (t && lock && t->seqno < pg_seqno) t->seqno = pg_seqno;
  if (!t) {
    rc = sns_fail(c, TW_ERR_NOT_FOUND, "Topic does not exist");
  } else {
    for (size_t i = 0; i < n && t->fifo && !t->content_dedup; i++)
      if (ok[i] && !ms[i].dedup_id)
        rc = sns_fail(c, TW_ERR_SNS_INVALID_PARAMETER,
                      "Invalid parameter: The topic should either have ContentBasedDeduplication "
                      "enabled or MessageDeduplicationId provided explicitly");
    if (!rc) {
      tw_store_hold(s->store);
      prune(s);
      int appended = 0;
      for (size_t i = 0; i < n; i++) {
        if (!ok[i]) continue;
        appended += publish_locked(s, t, &ms[i], c->principal, lock);
        if (ms[i].failed) rc = sns_fail(c, TW_ERR_SERVICE_UNAVAILABLE, NULL);
        json_t *r = published(t, &ms[i]);
        json_object_set_new(r, "Id", json_string(sns_in_str(json_array_get(entries, i), "Id")));
        json_array_append_new(done, r);
      }
      tw_store_release(s->store);
      if (appended) c->ticket = tw_store_ticket(s->store);
    }
  }
  tw_events_unlock(s->bus);
  fifo_unlock(c, lock);
  if (!rc) {
    c->out = json_pack("{s:O,s:O}", "Successful", done, "Failed", failed);
  }
out:
  for (size_t i = 0; i < n; i++) msg_free(&ms[i]);
  json_decref(failed);
  json_decref(done);
  return rc;
}

/* --- SNS on the event bus ------------------------------------------------------------------ */

static int topic_exists(void *ud, const char *arn, int *fifo) {
  sns_cluster_sync_locked(ud); /* cluster mode: a topic another node just created */
  sns_topic *t = sns_topic_get(ud, arn);
  if (!t) return 0;
  if (fifo) *fifo = t->fifo;
  return 1;
}

/* A publish from inside tweedle (S3 events, EventBridge, alarms): e->body is
 * the message, e->subject its Subject. Called with the bus lock and the
 * publisher's store hold: the fan-out joins the publisher's batch. */
/* A delivery from S3 or EventBridge to a topic whose Policy names that
 * service's principal (as AWS's docs have users write it, with aws:SourceArn
 * conditions): the policy must allow sns:Publish. A topic without such a
 * statement takes every delivery, as sqs_events.c does for queues. */
static int delivery_allowed(tw_sns *s, const sns_topic *t, const tw_event *e) {
  static const char *const services[][2] = {{"aws.s3", "s3.amazonaws.com"},
                                            {"aws.events", "events.amazonaws.com"}};
  const char *service = NULL;
  for (size_t i = 0; e->source && i < sizeof services / sizeof services[0]; i++)
    if (!strcmp(e->source, services[i][0])) service = services[i][1];
  if (!service || !t->policy || !tw_policy_names_service(t->policy, service)) return 1;
  tw_kv keys[] = {{"aws:SourceArn", e->resource}, {"aws:SourceAccount", s->account}};
  tw_policy_req req = {.action = "sns:Publish",
                       .resource = t->arn,
                       .account = s->account,
                       .service = service,
                       .keys = e->resource ? keys : keys + 1,
                       .nkeys = e->resource ? 2 : 1};
  if (tw_policy_eval(t->policy, &req) == TW_POLICY_ALLOW) return 1;
  tw_warn("access denied: principal=%s action=sns:Publish resource=%s source_arn=%s", service,
          t->arn, e->resource ? e->resource : "-");
  return 0;
}

static int topic_deliver(void *ud, const tw_event *e) {
  tw_sns *s = ud;
  sns_cluster_sync_locked(s); /* cluster mode: a topic or subscription another node made */
  sns_topic *t = sns_topic_get(s, e->target);
  if (!t) return -1;
  if (!delivery_allowed(s, t, e)) return -1;
  if (!e->body || !e->len) return -2;
  sns_msg m = {0};
  m.message = e->body;
  m.message_len = e->len;
  m.sqs_message = e->body;
  m.sqs_len = e->len;
  m.subject = e->subject && valid_subject(e->subject) ? e->subject : NULL;
  m.trace = e->trace;
  size_t size = e->len;
  if (json_is_object(e->attributes) && json_object_size(e->attributes)) {
    tw_sns_call check = {.sns = s};
    if (check_attributes(&check, e->attributes, 0, &size)) return -2;
    m.attrs = e->attributes;
  }
  if (size > SNS_MAX_MESSAGE) return -2;
  if (t->fifo && s->cluster) {
    /* the topic's lock (fifo_lock) is held until the publish's batch commits,
     * and this batch is the publisher's: refused rather than numbered by one
     * node alone */
    static int warned;
    if (!warned++)
      tw_warn(
          "sns: FIFO topic %s refused a delivery from %s: in cluster mode FIFO topics take "
          "Publish and PublishBatch only",
          t->arn, e->source ? e->source : "the event bus");
    return -2;
  }
  if (t->fifo) {
    m.group_id = e->group_id ? e->group_id : e->source ? e->source : "tweedle";
    m.dedup_id = e->dedup_id; /* NULL: a hash of the body */
    if (!valid_fifo_id(m.group_id) || (m.dedup_id && !valid_fifo_id(m.dedup_id))) return -2;
  }
  msg_start(&m);
  publish_locked(s, t, &m, e->sender, NULL);
  msg_free(&m);
  return 0;
}

static void bus_lock(void *ud) {
  sns_lock(ud);
}
static void bus_unlock(void *ud) {
  sns_unlock(ud);
}

int sns_join_bus(tw_sns *s) {
  tw_event_target t = {
      .name = "sns",
      .arn_prefix = "arn:aws:sns:",
      .exists = topic_exists,
      .deliver = topic_deliver,
      .lock = bus_lock,
      .unlock = bus_unlock,
      .ud = s,
  };
  return tw_events_add_target(s->bus, &t);
}

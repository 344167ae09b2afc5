/* Large payloads in the format of AWS's SQS Extended Client libraries (Java
 * amazon-sqs-java-extended-client-lib, Python amazon-sqs-extended-client):
 *
 *   body:      ["software.amazon.payloadoffloading.PayloadS3Pointer",
 *               {"s3BucketName":"B","s3Key":"K"}]
 *   attribute: ExtendedPayloadSize (Number) = the payload's size in bytes
 *
 * A receiver recognises an offloaded message by the attribute (or the legacy
 * SQSLargePayloadSize, whose body names com.amazon.sqs.javamessaging.
 * MessageS3Pointer), fetches the object, and drops the attribute. The
 * libraries hand their callers a receipt handle decorated with the pointer,
 * -..s3BucketName..-B-..s3BucketName..--..s3Key..-K-..s3Key..-HANDLE, so that
 * their delete can remove the object too.
 *
 * Bodies move between files and the object store in constant memory: a
 * payload is uploaded from a file (streamed) and downloaded into a file. */
#ifndef TW_WORKER_PAYLOAD_H
#define TW_WORKER_PAYLOAD_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "client/s3.h"
#include "client/sqs.h"
#include "worker/worker.h"

#define TW_PAYLOAD_CLASS "software.amazon.payloadoffloading.PayloadS3Pointer"
#define TW_PAYLOAD_LEGACY_CLASS "com.amazon.sqs.javamessaging.MessageS3Pointer"
#define TW_PAYLOAD_ATTR "ExtendedPayloadSize"
#define TW_PAYLOAD_LEGACY_ATTR "SQSLargePayloadSize"
#define TW_PAYLOAD_BUCKET_MARKER "-..s3BucketName..-"
#define TW_PAYLOAD_KEY_MARKER "-..s3Key..-"
/* The libraries' historical default (SQS's old 256 KiB limit). */
#define TW_PAYLOAD_DEFAULT_THRESHOLD 262144
/* S3's single PUT limit: the client streams one PUT, no multipart. */
#define TW_PAYLOAD_MAX_SIZE (5ull << 30)

typedef struct {
  char bucket[256];
  char key[1100];
  long long size; /* the attribute's value, -1 when it is not a number */
  int legacy;     /* SQSLargePayloadSize */
} tw_payload_ptr;

/* A received message (a ReceiveMessage "Messages" entry): 1 it points to a
 * payload (p filled), 0 it is an ordinary message, -1 it carries the
 * attribute but its body is not a pointer (err says why). */
int tw_payload_parse(json_t *message, tw_payload_ptr *p, char *err, size_t errlen);

/* The pointer body as the Java library writes it (compact JSON). malloc'd. */
char *tw_payload_pointer_body(const char *bucket, const char *key);
/* The receipt handle as the libraries decorate it. malloc'd. */
char *tw_payload_decorate_handle(const tw_payload_ptr *p, const char *handle);
/* The bytes the libraries count for message attributes: per attribute its
 * name, data type and value (binary values decoded). */
size_t tw_payload_attrs_size(json_t *attrs);

/* --- sending -------------------------------------------------------------------- */

typedef struct {
  long long threshold;    /* offload when body + attributes exceed it */
  int always;             /* offload every body */
  const char *bucket;     /* where payloads go (created when missing) */
  const char *key_prefix; /* prepended to the random key; NULL for none */
  json_t *attrs;          /* MessageAttributes to send (borrowed), NULL for none */
  const char *group_id, *dedup_id;
  int delay_s; /* -1: the queue's */
} tw_payload_send_opts;

typedef struct {
  char message_id[128];
  int offloaded;
  tw_payload_ptr ptr; /* when offloaded */
  uint64_t size;      /* the body's size */
} tw_payload_sent;

/* Sends the body of `len` bytes at `body`, or, when path is non-NULL, the
 * contents of that file (streamed to the object store when it is offloaded;
 * read into memory only when it is small enough to go inline). s3 may be
 * NULL when nothing needs offloading. 0, or -1 with err. */
int tw_payload_send(tw_sqsc *sqs, tw_s3c *s3, const char *queue_url, const char *body, size_t len,
                    const char *path, const tw_payload_send_opts *o, tw_payload_sent *out,
                    char *err, size_t errlen);

/* --- receiving ------------------------------------------------------------------ */

/* Resolves a received message in place: when it points to a payload, the
 * payload is downloaded into the file at path, and the message gets the
 * payload's MD5OfBody, loses the size attribute (MD5OfMessageAttributes
 * recomputed) and keeps the pointer in "Body". Returns 1 resolved (p filled,
 * *size the payload's bytes), 0 nothing to resolve, -1 with err (the file is
 * removed). */
int tw_payload_resolve(tw_s3c *s3, json_t *message, const char *path, tw_payload_ptr *p,
                       uint64_t *size, char *err, size_t errlen);
/* Deletes the payload object (after its message was deleted). 0 or -1. */
int tw_payload_release(tw_s3c *s3, const tw_payload_ptr *p, char *err, size_t errlen);

/* --- the worker runtime --------------------------------------------------------- */

/* Options the worker's hooks use (the hooks' ud). */
typedef struct {
  int keep_payloads; /* --keep-payloads: leave objects after success */
} tw_payload_worker;

/* The runtime's hooks for extended payloads: prepare (resolve before the
 * handler runs: the handler sees the payload as the body), deleted (remove
 * the object once the message is deleted) and msg_free. Sets those members
 * of ext and ext->ud = pw; leaves the others alone. */
void tw_payload_worker_ext(tw_worker_ext *ext, tw_payload_worker *pw);
int tw_payload_prepare(void *ud, tw_worker *w, tw_wmsg *m, char *why, size_t whylen);
void tw_payload_deleted(void *ud, tw_worker *w, tw_wmsg *m);
void tw_payload_msg_free(void *ud, tw_wmsg *m);
/* For hooks of other runtimes (pipeline): the pointer a prepared message
 * carries, or NULL when it had none. */
const tw_payload_ptr *tw_payload_of(const tw_wmsg *m);

/* `tweedle send` and `tweedle receive` (src/main.c). */
int tw_send_main(int argc, char **argv);
int tw_receive_main(int argc, char **argv);

#endif

/* The web console's read paths in cluster mode (sqs_pg_console.c): the same
 * documents as tw_sqs_console_queues / tw_sqs_console_peek (sqs.h), read from
 * PostgreSQL. Nothing here changes a message. */
#ifndef TW_SQS_PG_CONSOLE_H
#define TW_SQS_PG_CONSOLE_H
#include <jansson.h>

#include "sqs/sqs_pg.h"
#include "store/pg_sqs.h"

/* Every queue (at most 1000, by name) with its counts and DLQ: a new array,
 * or NULL when PostgreSQL failed. */
json_t *tw_sqs_pg_console_queues(tw_sqs_pg *p);
/* {messages, total} of queue name; NULL with *rc TW_PG_NOT_FOUND or a store error. */
json_t *tw_sqs_pg_console_peek(tw_sqs_pg *p, const char *name, int max, int *rc);

#endif

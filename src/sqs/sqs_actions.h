/* The SQS action table: every action, its handler, and what it does:
 *   TW_SQS_WRITES    changes stored state (ReceiveMessage does: visibility);
 *   TW_SQS_MESSAGES  carries message bodies (what the service's 8 MiB body
 *                    cap is sized for; every other action's body is small).
 * Every action needs a SigV4 signature; the body cap is the service's. */
#ifndef TW_SQS_ACTIONS_H
#define TW_SQS_ACTIONS_H
#include "sqs/sqs.h"

#define TW_SQS_ACTIONS(X)                                                                \
  X(CreateQueue, tw_sqs_create_queue, TW_SQS_WRITES)                                     \
  X(GetQueueUrl, tw_sqs_get_queue_url, 0)                                                \
  X(ListQueues, tw_sqs_list_queues, 0)                                                   \
  X(DeleteQueue, tw_sqs_delete_queue, TW_SQS_WRITES)                                     \
  X(GetQueueAttributes, tw_sqs_get_queue_attributes, 0)                                  \
  X(SetQueueAttributes, tw_sqs_set_queue_attributes, TW_SQS_WRITES)                      \
  X(PurgeQueue, tw_sqs_purge_queue, TW_SQS_WRITES)                                       \
  X(TagQueue, tw_sqs_tag_queue, TW_SQS_WRITES)                                           \
  X(UntagQueue, tw_sqs_untag_queue, TW_SQS_WRITES)                                       \
  X(ListQueueTags, tw_sqs_list_queue_tags, 0)                                            \
  X(ListDeadLetterSourceQueues, tw_sqs_list_dead_letter_source_queues, 0)                \
  X(AddPermission, tw_sqs_add_permission, TW_SQS_WRITES)                                 \
  X(RemovePermission, tw_sqs_remove_permission, TW_SQS_WRITES)                           \
  X(SendMessage, tw_sqs_send_message, TW_SQS_WRITES | TW_SQS_MESSAGES)                   \
  X(SendMessageBatch, tw_sqs_send_message_batch, TW_SQS_WRITES | TW_SQS_MESSAGES)        \
  X(ReceiveMessage, tw_sqs_receive_message, TW_SQS_WRITES)                               \
  X(DeleteMessage, tw_sqs_delete_message, TW_SQS_WRITES)                                 \
  X(DeleteMessageBatch, tw_sqs_delete_message_batch, TW_SQS_WRITES)                      \
  X(ChangeMessageVisibility, tw_sqs_change_message_visibility, TW_SQS_WRITES)            \
  X(ChangeMessageVisibilityBatch, tw_sqs_change_message_visibility_batch, TW_SQS_WRITES) \
  X(StartMessageMoveTask, tw_sqs_start_message_move_task, TW_SQS_WRITES)                 \
  X(ListMessageMoveTasks, tw_sqs_list_message_move_tasks, 0)                             \
  X(CancelMessageMoveTask, tw_sqs_cancel_message_move_task, TW_SQS_WRITES)               \
  X(TweedleDeleteAndSend, tw_sqs_tweedle_delete_and_send,                                \
    TW_SQS_WRITES | TW_SQS_MESSAGES) /* sqs_pipeline.c */

#define TW_SQS_DECLARE(name, fn, flags) int fn(tw_sqs_call *c);
TW_SQS_ACTIONS(TW_SQS_DECLARE)
#undef TW_SQS_DECLARE

#endif

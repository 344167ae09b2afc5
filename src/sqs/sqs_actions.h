/* The SQS action table: every action, its handler. */
#ifndef TW_SQS_ACTIONS_H
#define TW_SQS_ACTIONS_H
#include "sqs/sqs.h"

#define TW_SQS_ACTIONS(X)                                               \
  X(CreateQueue, tw_sqs_create_queue)                                   \
  X(GetQueueUrl, tw_sqs_get_queue_url)                                  \
  X(ListQueues, tw_sqs_list_queues)                                     \
  X(DeleteQueue, tw_sqs_delete_queue)                                   \
  X(GetQueueAttributes, tw_sqs_get_queue_attributes)                    \
  X(SetQueueAttributes, tw_sqs_set_queue_attributes)                    \
  X(PurgeQueue, tw_sqs_purge_queue)                                     \
  X(TagQueue, tw_sqs_tag_queue)                                         \
  X(UntagQueue, tw_sqs_untag_queue)                                     \
  X(ListQueueTags, tw_sqs_list_queue_tags)                              \
  X(ListDeadLetterSourceQueues, tw_sqs_list_dead_letter_source_queues)  \
  X(AddPermission, tw_sqs_add_permission)                               \
  X(RemovePermission, tw_sqs_remove_permission)                         \
  X(SendMessage, tw_sqs_send_message)                                   \
  X(SendMessageBatch, tw_sqs_send_message_batch)                        \
  X(ReceiveMessage, tw_sqs_receive_message)                             \
  X(DeleteMessage, tw_sqs_delete_message)                               \
  X(DeleteMessageBatch, tw_sqs_delete_message_batch)                    \
  X(ChangeMessageVisibility, tw_sqs_change_message_visibility)          \
  X(ChangeMessageVisibilityBatch, tw_sqs_change_message_visibility_batch) \
  X(StartMessageMoveTask, tw_sqs_start_message_move_task)               \
  X(ListMessageMoveTasks, tw_sqs_list_message_move_tasks)               \
  X(CancelMessageMoveTask, tw_sqs_cancel_message_move_task)               \
  X(TweedleDeleteAndSend, tw_sqs_tweedle_delete_and_send) /* sqs_pipeline.c */

#define TW_SQS_DECLARE(name, fn) int fn(tw_sqs_call *c);
TW_SQS_ACTIONS(TW_SQS_DECLARE)
#undef TW_SQS_DECLARE

#endif

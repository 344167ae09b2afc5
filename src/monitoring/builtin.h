/* The built-in AWS/SQS, AWS/S3 and AWS/SNS metrics, published every
 * --metrics-interval seconds (builtin.c says where they are counted). */
#ifndef TW_MONITORING_BUILTIN_H
#define TW_MONITORING_BUILTIN_H

typedef struct tw_builtin tw_builtin;
struct tw_app;

/* Starts the publisher and the S3 request hook; before the HTTP server. */
tw_builtin *tw_builtin_start(struct tw_app *app);
/* After the HTTP server stopped (its hook may run until then). */
void tw_builtin_stop(tw_builtin *b);
/* One publication (the thread runs it every interval). */
void tw_builtin_publish(tw_builtin *b);

#endif

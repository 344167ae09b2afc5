/* The built-in metrics (AWS/SQS, AWS/S3, AWS/SNS, AWS/ApiGateway,
 * tweedle/Jobs, tweedle/Store), published every --metrics-interval seconds
 * (builtin.c says where they are counted). */
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
/* Counts store batches (tweedle/Store): before the store's writer starts,
 * before the Prometheus hook (which calls it). */
void tw_builtin_install_store(void);

/* Distributions are counted in buckets 1.01^k (k in -700..1400: 0.001 to
 * 1.1e6), so a reported percentile is within 0.5 %: the bucket of v (0 ..
 * TW_BUILTIN_LAT_N - 1) and the value a bucket stands for. */
#define TW_BUILTIN_LAT_N 2101
int tw_builtin_lat_bucket(double v);
double tw_builtin_lat_value(int i);

#endif

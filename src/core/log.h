/* Structured logging: one line per event, text or JSON, to stderr. */
#ifndef TW_CORE_LOG_H
#define TW_CORE_LOG_H
#include <stddef.h>

typedef enum { TW_LOG_DEBUG, TW_LOG_INFO, TW_LOG_WARN, TW_LOG_ERROR } tw_log_level;

void tw_log_setup(int json, tw_log_level min);
int tw_log_json(void);
void tw_log(tw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line per HTTP request. */
void tw_log_request(const char *method, const char *path, const char *action, int status, double ms,
                    const char *request_id, const char *remote);

/* A second destination for the lines written by tw_log (the server's log
 * group /tweedle/server, src/logs/logs_server.c; not the per-request lines):
 * fn gets the line without its newline and must not block. NULL removes it. */
typedef void (*tw_log_sink_fn)(const char *line, size_t n);
void tw_log_set_sink(tw_log_sink_fn fn);

#define tw_info(...) tw_log(TW_LOG_INFO, __VA_ARGS__)
#define tw_warn(...) tw_log(TW_LOG_WARN, __VA_ARGS__)
#define tw_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)
#define tw_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)

#endif

/* tweedle pipeline — the C API for in-process routers (docs/pipelines.md).
 *
 * The same runtime as `tweedle pipeline --exec ROUTER`, with the router a
 * function instead of a command:
 *
 *   #include <stdlib.h>
 *   #include <string.h>
 *   #include <tweedle/pipeline.h>
 *
 *   // record: the state record (JSON text). *next: a malloc'd JSON text of
 *   // the next state, an array of states (fan-out), or NULL / "null" when the
 *   // record is finished. Non-zero: the record comes back for another try.
 *   static int route(const char *record, size_t len, char **next) {
 *     if (!strstr(record, "\"done\"")) *next = strdup("{\"done\":true}");
 *     return 0;
 *   }
 *
 *   int main(int argc, char **argv) { return tw_pipeline_run_main(argc, argv, route); }
 *
 * Build: cc -Iinclude app.c build/libtweedle-worker.a \
 *          $(pkg-config --libs jansson libssl libcrypto) -lpthread -lm
 * Run:   ./app --queue records --endpoint http://127.0.0.1:9324 [--concurrency 4]
 *          [--atomic auto|always|never] [--keep-payloads] ...
 *
 * With --concurrency N the function runs on N threads at once: it must be
 * thread-safe. A crash in it ends the process (the record comes back after
 * the visibility timeout). */
#ifndef TWEEDLE_PIPELINE_H
#define TWEEDLE_PIPELINE_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*tw_router_fn)(const char *record, size_t len, char **next);

/* Parses the options in argv (as `tweedle pipeline`, without --exec /
 * --exec-persistent), runs until SIGTERM or SIGINT, and returns the exit
 * status (0 after a clean stop, 2 for bad options). */
int tw_pipeline_run_main(int argc, char **argv, tw_router_fn fn);

#ifdef __cplusplus
}
#endif
#endif

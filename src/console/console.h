/* The web console at /_/console/: static pages built into the binary (assets.c)
 * and a JSON API under /_/console/api/ (api*.c) backed by the engines
 * directly, behind a server-side session (session.c). See docs/console.md. */
#ifndef TW_CONSOLE_CONSOLE_H
#define TW_CONSOLE_CONSOLE_H
#include "http/service.h"

typedef struct tw_app tw_app;

/* Sets up the sessions and the request counters; before the HTTP server starts. */
int tw_console_open(tw_app *app);
/* After the HTTP server stopped. */
void tw_console_close(void);
/* Every path under /_/console. */
extern const tw_service tw_console_service;

#endif

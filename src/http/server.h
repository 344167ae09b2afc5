/* The libmicrohttpd adapter: starts the daemon, turns MHD callbacks into
 * tw_request objects, and hands finished requests to the router. */
#ifndef TW_HTTP_SERVER_H
#define TW_HTTP_SERVER_H
#include <stdint.h>

#include "app.h"
#include "http/request.h"

int tw_http_start(tw_app *app, char *err, size_t errlen);
void tw_http_stop(tw_app *app);
/* The store reports a durable commit: wake requests waiting for it. */
void tw_http_on_commit(void *ud, uint64_t committed, int ok);

/* router.c: tw_route_begin sees the headers (and may answer at once, before a
 * client waiting on 100-continue sends its body); tw_route the buffered request. */
void tw_route_begin(tw_request *r);
void tw_route(tw_request *r);

#endif

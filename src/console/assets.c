/* The console's static files: index.html for the console's root, the others
 * by name. Public (they hold no data), cached briefly, with the console's
 * security headers. */
#include <string.h>

#include "console/assets.h"
#include "console/console_internal.h"

static const char *content_type(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
  if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
  if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
  if (!strcmp(dot, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

int tw_console_asset(tw_request *r, const char *path) {
  if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) return 0;
  const char *name = *path ? path : "index.html";
  for (size_t i = 0; i < tw_console_nfiles; i++) {
    const tw_console_file *f = &tw_console_files[i];
    if (strcmp(f->name, name)) continue;
    tw_req_respond(r, 200, content_type(name), f->data, f->len);
    tw_console_headers(r);
    tw_req_add_header(r, "Cache-Control", "no-cache");
    return 1;
  }
  return 0;
}

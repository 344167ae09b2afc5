/* The console's static files, embedded at build time (scripts/embed_assets.sh
 * writes the table from src/console/assets/). */
#ifndef TW_CONSOLE_ASSETS_H
#define TW_CONSOLE_ASSETS_H
#include <stddef.h>

typedef struct {
  const char *name; /* file name in src/console/assets/ */
  const unsigned char *data;
  size_t len;
} tw_console_file;

extern const tw_console_file tw_console_files[];
extern const size_t tw_console_nfiles;

#endif

/* What the SQLite backend's files share: the schema parts and (for now in
 * store.h) the statement helpers tw_store_exec / tw_store_read_stmt that the
 * repositories in this folder build on. Nothing outside src/store/sqlite/
 * includes this. */
#ifndef TW_STORE_SQLITE_INTERNAL_H
#define TW_STORE_SQLITE_INTERNAL_H
#include "store/store.h"

extern const char *const tw_sqlite_schema_sqs;
extern const char *const tw_sqlite_schema_s3;
extern const char *const tw_sqlite_schema_gateway;

#endif

/* Free space of the data directory. Writes that add data (an object body, a
 * message) are refused with a clean error while the file system holding the
 * data directory has less than a reserve free, so that deletes, purges and the
 * store's own bookkeeping always find room to commit: a full disk then never
 * locks the server in a state where nothing can be freed. Space the database
 * already holds but no longer uses (its free pages, after a purge) counts as
 * free: new rows reuse it without growing the file.
 *
 * The reserve: TWEEDLE_MIN_FREE_MB if set (0 turns the check off), else an
 * eighth of the file system, at least 32 MiB (the WAL grows to 16 MiB between
 * checkpoints, and a checkpoint may grow the database by as much; half of a
 * file system smaller than 64 MiB) and at most 256 MiB. */
#ifndef TW_STORE_SPACE_H
#define TW_STORE_SPACE_H
#include <stdint.h>

/* Starts watching dir (the store calls it when it opens). */
void tw_space_watch(const char *dir);
/* 1 while free space (statvfs, plus the database's unused pages) is below
 * the reserve. */
int tw_space_low(void);
/* The database's unused bytes (the store's writer reports them). */
void tw_space_set_reusable(int64_t bytes);
/* 1 when the writer should measure its unused pages again (at most 4 per s). */
int tw_space_reusable_due(void);

#endif

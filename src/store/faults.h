/* Test-only fault injection for the store and the blob files, on when the
 * environment variable TWEEDLE_TEST_FAULTS names a directory. Each fault is a
 * file in it holding a number, read at the moment the fault could strike, so
 * a test can arm one at any time:
 *   commit-delay-ms    the writer sleeps this long before each commit
 *   fail-commits       the next N batches fail (roll back)
 *   fail-syncfs        the next N file-system syncs before a commit fail
 *   fail-blob-writes   the next N writes of an object body fail (EIO)
 * Off (the default), each check is one pointer test. */
#ifndef TW_STORE_FAULTS_H
#define TW_STORE_FAULTS_H

/* The fault's number, or -1 when off or not armed. */
long tw_fault_value(const char *name);
/* 1 when the fault strikes now (its count goes down by one), else 0. */
int tw_fault_take(const char *name);

#endif

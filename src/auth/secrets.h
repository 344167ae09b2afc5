/* Secrets at rest: the files of the data directory that hold secrets (the
 * generated credentials, the SNS signing key, the store with the receipt-handle
 * secret) are private to the server's user, mode 0600 in a 0700 directory. */
#ifndef TW_AUTH_SECRETS_H
#define TW_AUTH_SECRETS_H

#include <stddef.h>

/* Before anything opens the data directory: creates it 0700 if missing,
 * creates the store file 0600 if missing (whatever the umask), then refuses
 * (-1, err says which file and the chmod that fixes it) when the directory is
 * writable by group/others or a secret file is readable or writable by them. */
int tw_secrets_check(const char *data_dir, char *err, size_t errlen);

/* Creates (or truncates) a secret file with mode 0600 whatever the umask:
 * the open descriptor, or -1. */
int tw_secret_open(const char *path, int flags);

#endif

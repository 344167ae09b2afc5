#include "auth/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

/* The files of the data directory that hold secrets. */
static const char *const SECRET_FILES[] = {
    "credentials.json",    /* generated access key pair */
    "sns-signing-key.pem", /* SNS message signing key */
    "tweedle.db",          /* the store: receipt-handle secret, users' data */
    "tweedle.db-wal",      "tweedle.db-shm",
};

int tw_secret_open(const char *path, int flags) {
  int fd = open(path, flags | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (fchmod(fd, 0600)) { /* open's mode is masked by the umask; 0600 whatever it is */
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int tw_secrets_check(const char *data_dir, char *err, size_t errlen) {
  struct stat st;
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create the data directory %s: %s", data_dir, strerror(errno));
    return -1;
  }
  if (stat(data_dir, &st) || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "the data directory %s is not a directory", data_dir);
    return -1;
  }
  if (st.st_mode & 022) {
    snprintf(err, errlen,
             "the data directory %s is writable by group or others (mode %04o): others could "
             "replace its secret files; fix it with: chmod 700 %s",
             data_dir, (unsigned)(st.st_mode & 07777), data_dir);
    return -1;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/tweedle.db", data_dir);
  if (access(path, F_OK) != 0) { /* a new store: an empty file is a new SQLite database */
    int fd = tw_secret_open(path, O_WRONLY | O_EXCL);
    if (fd < 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
      return -1;
    }
    if (fd >= 0) close(fd);
  }
  for (size_t i = 0; i < sizeof SECRET_FILES / sizeof *SECRET_FILES; i++) {
    snprintf(path, sizeof path, "%s/%s", data_dir, SECRET_FILES[i]);
    if (lstat(path, &st)) continue; /* not made yet: made 0600 when it is */
    if (S_ISREG(st.st_mode) && (st.st_mode & 077) && !strncmp(SECRET_FILES[i], "tweedle.db", 10)) {
      /* the store's files are tweedle's own, and versions before 0.3 made them under the
       * umask (0644): tighten them instead of refusing an upgraded data directory */
      if (chmod(path, 0600) == 0) {
        tw_warn("%s was accessible by group or others (mode %04o): now 0600", path,
                (unsigned)(st.st_mode & 07777));
        continue;
      }
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
      snprintf(err, errlen,
               "%s holds secrets and is accessible by group or others (mode %04o); the server "
               "refuses to start with it: fix it with: chmod 600 %s",
               path, (unsigned)(st.st_mode & 07777), path);
      return -1;
    }
  }
  return 0;
}

/* Server-side TLS for the libmicrohttpd adapter: the certificate chain and
 * private key, read from PEM files, handed to GnuTLS (which libmicrohttpd uses)
 * through a certificate callback, so that a reload (SIGHUP) swaps them for
 * new handshakes while connections already open keep theirs.
 *
 * One server per process: GnuTLS's certificate callback carries no user
 * pointer, so the credentials in use are process-wide. */
#ifndef TW_HTTP_TLS_H
#define TW_HTTP_TLS_H
#include <gnutls/abstract.h>
#include <stddef.h>

typedef struct tw_tls tw_tls;

/* Reads and checks cert_file (PEM: the server certificate first, then any
 * intermediates) and key_file (PEM, unencrypted), and makes them the
 * credentials of new handshakes. NULL with a message in err when a file is
 * missing or unreadable, holds no certificate or key, or the key does not
 * belong to the certificate. */
tw_tls *tw_tls_open(const char *cert_file, const char *key_file, char *err, size_t errlen);
/* Reads the same files again; on success new handshakes use them (err then
 * describes the new certificate), on failure the old ones stay in use. 0 or -1. */
int tw_tls_reload(tw_tls *t, char *err, size_t errlen);
/* One line about the certificate in use: subject, serial, expiry. */
void tw_tls_describe(tw_tls *t, char *out, size_t n);
/* The certificate callback to give libmicrohttpd (MHD_OPTION_HTTPS_CERT_CALLBACK2):
 * the credentials loaded last. */
gnutls_certificate_retrieve_function3 tw_tls_retrieve;
/* After the HTTP server stopped: frees every set of credentials ever loaded. */
void tw_tls_close(tw_tls *t);

#endif

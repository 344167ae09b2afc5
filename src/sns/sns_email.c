/* Mail for email and email-json subscriptions: a small SMTP client over a
 * plain TCP connection to the relay named by --smtp-url smtp://host[:port]
 * (RFC 5321: EHLO, falling back to HELO, MAIL FROM, RCPT TO, DATA with
 * dot-stuffing, QUIT). No STARTTLS, no AUTH: point it at a local relay (an
 * MTA on the host, or a sink in tests) that forwards with the policy it has.
 * Bodies go as text/plain UTF-8: 8bit when every line is short enough for
 * SMTP, else base64. Every wait is bounded by SNS_DELIVERY_TIMEOUT_S. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "sns/sns_internal.h"

int sns_smtp_parse_url(const char *url, char host[256], char port[8], char *err, size_t errlen) {
  if (strncasecmp(url, "smtp://", 7)) {
    snprintf(err, errlen, "--smtp-url '%s': must be smtp://HOST[:PORT] (no smtps, no STARTTLS)",
             url);
    return -1;
  }
  const char *p = url + 7, *end;
  if (*p == '[') {
    end = strchr(p, ']');
    if (!end || end == p + 1 || (size_t)(end - p - 1) >= 256) goto bad;
    memcpy(host, p + 1, (size_t)(end - p - 1));
    host[end - p - 1] = 0;
    end++;
  } else {
    end = p + strcspn(p, ":/");
    if (end == p || (size_t)(end - p) >= 256) goto bad;
    memcpy(host, p, (size_t)(end - p));
    host[end - p] = 0;
  }
  snprintf(port, 8, "25");
  if (*end == ':') {
    end++;
    size_t n = strspn(end, "0123456789");
    if (!n || n > 5 || atoi(end) <= 0 || atoi(end) > 65535) goto bad;
    memcpy(port, end, n);
    port[n] = 0;
    end += n;
  }
  if (*end && strcmp(end, "/")) goto bad;
  return 0;
bad:
  snprintf(err, errlen, "--smtp-url '%s': cannot parse (smtp://HOST[:PORT])", url);
  return -1;
}

typedef struct {
  int fd;
  int64_t deadline; /* monotonic ms */
  char buf[4096];
  size_t len;
  char *err;
  size_t errlen;
} smtp_conn;

static int wait_fd(smtp_conn *c, short ev) {
  int64_t left = c->deadline - tw_mono_ms();
  if (left <= 0) {
    snprintf(c->err, c->errlen, "SMTP relay timed out");
    return -1;
  }
  struct pollfd p = {.fd = c->fd, .events = ev};
  int rc = poll(&p, 1, (int)left);
  if (rc <= 0) {
    snprintf(c->err, c->errlen, "SMTP relay timed out");
    return -1;
  }
  return 0;
}

static int send_all(smtp_conn *c, const char *p, size_t n) {
  while (n) {
    if (wait_fd(c, POLLOUT)) return -1;
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w <= 0) {
      snprintf(c->err, c->errlen, "SMTP relay: %s", strerror(errno));
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads one (possibly multi-line) reply; returns its code, -1 on error. The
 * last line's text is left in c->buf. */
static int reply(smtp_conn *c) {
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl) {
      size_t line = (size_t)(nl - c->buf) + 1;
      int code = line >= 4 ? atoi(c->buf) : 0;
      int more = line >= 4 && c->buf[3] == '-';
      if (!more) {
        char text[512];
        size_t tl = line < sizeof text ? line : sizeof text - 1;
        memcpy(text, c->buf, tl);
        text[tl] = 0;
        text[strcspn(text, "\r\n")] = 0;
        memmove(c->buf, c->buf + line, c->len - line);
        c->len -= line;
        snprintf(c->err, c->errlen, "SMTP relay answered: %s", text);
        return code ? code : -1;
      }
      memmove(c->buf, c->buf + line, c->len - line);
      c->len -= line;
      continue;
    }
    if (c->len == sizeof c->buf) c->len = 0; /* an absurd line: drop it */
    if (wait_fd(c, POLLIN)) return -1;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) {
      snprintf(c->err, c->errlen, "SMTP relay closed the connection");
      return -1;
    }
    c->len += (size_t)r;
  }
}

/* Sends a command line and reads the reply: 0 when its code is want (or in
 * want's hundred when want < 10), else -1. */
static int command(smtp_conn *c, const char *line, int want) {
  if (line && (send_all(c, line, strlen(line)) || send_all(c, "\r\n", 2))) return -1;
  int code = reply(c);
  if (code < 0) return -1;
  return want < 10 ? (code / 100 == want ? 0 : -1) : (code == want ? 0 : -1);
}

static int connect_relay(smtp_conn *c, const char *host, const char *port) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai) {
    snprintf(c->err, c->errlen, "SMTP relay %s: %s", host, gai_strerror(gai));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    if (errno == EINPROGRESS) {
      c->fd = fd;
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (!wait_fd(c, POLLOUT) && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) && !soerr)
        break;
      if (soerr) snprintf(c->err, c->errlen, "SMTP relay %s:%s: %s", host, port, strerror(soerr));
    } else {
      snprintf(c->err, c->errlen, "SMTP relay %s:%s: %s", host, port, strerror(errno));
    }
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  c->fd = fd;
  return fd < 0 ? -1 : 0;
}

/* RFC 2047 for a header value that is not plain ASCII. */
static void header_text(tw_buf *b, const char *s) {
  int plain = 1;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) plain = 0;
  if (plain) {
    tw_buf_puts(b, s);
    return;
  }
  size_t n = strlen(s);
  char *enc = malloc(4 * ((n + 2) / 3) + 1);
  tw_base64_encode((const uint8_t *)s, n, enc);
  tw_buf_printf(b, "=?UTF-8?B?%s?=", enc);
  free(enc);
}

/* The message body with CRLF line ends, dot-stuffed, 8bit or base64. */
static void body_text(tw_buf *b, const char *body, size_t len, int *base64) {
  size_t line = 0, longest = 0;
  for (size_t i = 0; i < len; i++) {
    if (body[i] == '\n') {
      if (line > longest) longest = line;
      line = 0;
    } else {
      line++;
    }
  }
  if (line > longest) longest = line;
  *base64 = longest > 900 || memchr(body, 0, len) != NULL;
  if (*base64) {
    char *enc = malloc(4 * ((len + 2) / 3) + 1);
    size_t n = tw_base64_encode((const uint8_t *)body, len, enc);
    for (size_t i = 0; i < n; i += 76) {
      tw_buf_append(b, enc + i, n - i < 76 ? n - i : 76);
      tw_buf_puts(b, "\r\n");
    }
    free(enc);
    return;
  }
  int bol = 1;
  for (size_t i = 0; i < len; i++) {
    char ch = body[i];
    if (bol && ch == '.') tw_buf_putc(b, '.'); /* dot-stuffing */
    bol = 0;
    if (ch == '\r') continue;
    if (ch == '\n') {
      tw_buf_puts(b, "\r\n");
      bol = 1;
      continue;
    }
    tw_buf_putc(b, ch);
  }
  if (!bol) tw_buf_puts(b, "\r\n");
}

int sns_smtp_send(const char *host, const char *port, const char *from, const char *from_name,
                  const char *to, const char *subject, const char *body, size_t len, char *err,
                  size_t errlen) {
  smtp_conn c = {.fd = -1,
                 .deadline = tw_mono_ms() + SNS_DELIVERY_TIMEOUT_S * 1000,
                 .err = err,
                 .errlen = errlen};
  if (connect_relay(&c, host, port)) return -1;
  int rc = -1;
  char line[1200], me[256] = "tweedle.local";
  const char *at = strrchr(from, '@');
  if (at && at[1] && strlen(at + 1) < sizeof me) snprintf(me, sizeof me, "%s", at + 1);
  if (command(&c, NULL, 220)) goto out;
  snprintf(line, sizeof line, "EHLO %s", me);
  if (command(&c, line, 250)) {
    snprintf(line, sizeof line, "HELO %s", me);
    if (command(&c, line, 250)) goto out;
  }
  snprintf(line, sizeof line, "MAIL FROM:<%s>", from);
  if (command(&c, line, 2)) goto out;
  snprintf(line, sizeof line, "RCPT TO:<%s>", to);
  if (command(&c, line, 2)) goto out;
  if (command(&c, "DATA", 354)) goto out;
  tw_buf m;
  tw_buf_init(&m, 8u << 20);
  char date[64], uuid[37];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  tw_uuid4(uuid);
  tw_buf_puts(&m, "From: ");
  if (from_name && *from_name) {
    header_text(&m, from_name);
    tw_buf_printf(&m, " <%s>\r\n", from);
  } else {
    tw_buf_printf(&m, "%s\r\n", from);
  }
  tw_buf_printf(&m, "To: %s\r\nSubject: ", to);
  header_text(&m, subject && *subject ? subject : "AWS Notification Message");
  int b64 = 0;
  tw_buf body_buf;
  tw_buf_init(&body_buf, 8u << 20);
  body_text(&body_buf, body, len, &b64);
  tw_buf_printf(&m,
                "\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: %s\r\n\r\n",
                date, uuid, me, b64 ? "base64" : "8bit");
  tw_buf_append(&m, body_buf.data, body_buf.len);
  tw_buf_free(&body_buf);
  tw_buf_puts(&m, ".\r\n");
  int sent = send_all(&c, m.data, m.len);
  tw_buf_free(&m);
  if (sent || command(&c, NULL, 250)) goto out;
  rc = 0;
  command(&c, "QUIT", 221); /* the mail is accepted whatever QUIT answers */
out:
  close(c.fd);
  return rc;
}

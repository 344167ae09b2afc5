#!/usr/bin/env python3
"""Groups `perf script -F comm,tid,ip,sym` call stacks of a tweedle server into
the cost centres named in bench/README.md, so a profile reads as "where the
time goes" instead of a list of libc symbols.

  perf script -i perf.data -F comm,tid,ip,sym | python3 bench/perf_summary.py

libmicrohttpd ships without symbols; its pool-zeroing memset is recognised by
the call sites inside the library (offsets 0x13ced and 0x13c3d of
libmicrohttpd.so.12.60.0, Debian 12's 0.9.75: MHD_pool_reset and
MHD_pool_reallocate). On another build of the library that line reads 0."""
import collections
import sys

RULES = [
    ("libmicrohttpd pool zeroing (memset of the per-connection pool)",
     lambda s: s[0].startswith("__memset") and any(f in ("13ced", "13c3d") for f in s[1:3])),
    ("request log line (tw_log_request)", lambda s: "tw_log_request" in s),
    ("ids: tw_uuid4 -> RAND_bytes", lambda s: "tw_uuid4" in s),
    ("SigV4 verification", lambda s: "tw_req_authenticate" in s),
    ("JSON response encoding (json_dumps)", lambda s: "json_dumps" in s or "json_dump_callback" in s),
    ("JSON request parsing (json_loadb)", lambda s: "json_loadb" in s),
    ("store writer: fdatasync", lambda s: "writer_main" in s and ("__GI_fdatasync" in s or "fdatasync" in s
                                                                  or "__x64_sys_fdatasync" in s)),
    ("store writer: SQLite statements and commit", lambda s: "writer_main" in s),
    ("request teardown (on_completed: json_decref, free)", lambda s: "on_completed" in s),
    ("engine: SendMessageBatch", lambda s: "tw_sqs_send_message_batch" in s),
    ("engine: SendMessage", lambda s: "tw_sqs_send_message" in s),
    ("engine: ReceiveMessage", lambda s: "tw_sqs_receive_message" in s),
    ("engine: batch handling (DeleteMessageBatch...)", lambda s: "handle_batch" in s),
    ("SQS JSON front end, other", lambda s: "tw_sqs_json_serve" in s),
    ("socket send/recv", lambda s: any(x in s for x in ("__libc_sendmsg", "__libc_recv", "__libc_send",
                                                         "__GI___send", "__libc_write"))),
    ("libmicrohttpd / epoll, other", lambda s: "start_thread" in s and "writer_main" not in s),
]


def main():
    counts = collections.Counter()
    total = 0
    stack = []

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        for name, match in RULES:
            if match(stack):
                counts[name] += 1
                return
        counts["other"] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            stack.clear()
            continue
        if line[0] in "\t ":
            parts = line.split(None, 1)
            sym = parts[1].replace(" (inlined)", "") if len(parts) > 1 else ""
            stack.append(parts[0] if sym == "[unknown]" else sym)
    flush()
    for name, n in counts.most_common():
        print("%5.1f%%  %s" % (100.0 * n / max(total, 1), name))
    print("%d samples" % total)


if __name__ == "__main__":
    main()

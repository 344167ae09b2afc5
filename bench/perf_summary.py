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
    ("SigV4 verification", lambda s: "tw_req_authenticate" in s or "tw_sigv4_verify" in s),
    # S3: per-request SQL, the blob file's life, hashing, sendfile
    ("S3: SQL parsed per request (sqlite3_prepare_v2 under tw_s3_*)",
     lambda s: "sqlite3_prepare_v2" in s and any(f.startswith("tw_s3_") for f in s)),
    ("S3 PUT: creating the temp file (open O_CREAT: ext4 inode allocation)", lambda s: "tw_blob_create" in s),
    ("S3 PUT: rename into place (tw_blob_publish)", lambda s: "tw_blob_publish" in s),
    ("S3 PUT: MD5 of the body (the ETag)", lambda s: "MD5_Update" in s or "md5_block_asm_data_order" in s),
    ("S3 PUT: CRC64NVME of the body (default checksum)", lambda s: "tw_crc64nvme_update" in s),
    ("S3 PUT: other body hashing (SHA-256 of signed payloads, CRCs)", lambda s: "take_bytes" in s and
     ("tw_hash_update" in s or "tw_cksum_update" in s)),
    ("S3 PUT: writing the body to the file (tw_blob_write)", lambda s: "tw_blob_write" in s),
    ("S3 GET: sendfile (kernel TCP send path)", lambda s: "__GI_sendfile64" in s or "__x64_sys_sendfile64" in s),
    ("store writer: syncfs (object files reach the disk)", lambda s: "writer_main" in s and
     ("__GI_syncfs" in s or "__x64_sys_syncfs" in s or "syncfs" in s)),
    ("JSON response encoding (json_dumps)", lambda s: "json_dumps" in s or "json_dump_callback" in s),
    ("JSON request parsing (json_loadb)", lambda s: "json_loadb" in s or "tw_json_parse_object_fast" in s),
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
    ("S3 front end and engine, other (tw_s3_*: metadata reads, notify, XML)",
     lambda s: any(f.startswith("tw_s3_") for f in s)),
    ("setsockopt (libmicrohttpd toggling TCP_CORK / TCP_NODELAY)", lambda s: "__GI___setsockopt" in s),
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

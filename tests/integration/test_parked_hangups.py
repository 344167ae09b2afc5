"""Parked long polls whose client hung up (issue 16.5).

libmicrohttpd does not watch suspended connections, so the server checks its
parked sockets once a second and ends those whose client is gone: their file
descriptor, memory and queue waiter are freed within seconds, not at the
poll's deadline (WaitTimeSeconds=20 here), and no message is handed to a
vanished client.

Figures (file descriptors and RSS before / during / after) are printed to
stderr.  TWEEDLE_HANGUP_POLLS sets the number of polls (default 10,000; fewer
when the file descriptor limits do not allow that many, which is said).
"""

import os
import resource
import socket
import struct
import sys
import threading
import time
import unittest

import harness as h
from harness import SqsTestCase

SERVER = None
WANT = int(os.environ.get("TWEEDLE_HANGUP_POLLS", "10000"))
WAIT = 20  # the polls' WaitTimeSeconds: everything must be checked well before it


def setUpModule():
    h.start_module_server(__name__)


def tearDownModule():
    h.stop_module_server(__name__)


def note(msg):
    sys.stderr.write("  [parked-hangups] %s\n" % msg)
    sys.stderr.flush()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[3]
                return 1 << 30 if v == "unlimited" else int(v)
    raise AssertionError("no 'Max open files' in /proc/%d/limits" % pid)


def server_side_inode(server_port, client_port):
    """The inode of the server's end of our connection (from /proc/net/tcp)."""
    want_local = "0100007F:%04X" % server_port
    want_remote = "0100007F:%04X" % client_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want_local and parts[2] == want_remote and parts[9] != "0":
                return parts[9]
    return None


def holds_socket(pid, inode):
    target = "socket:[%s]" % inode
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                return True
        except OSError:
            pass
    return False


def sanitized(pid):
    """ASan/TSan builds keep freed memory in quarantine: RSS says nothing there."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    return "libasan" in maps or "libtsan" in maps


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class ParkedHangupTest(SqsTestCase):

    def signed_receive(self, url, wait=WAIT, visibility=None):
        """The bytes of one signed ReceiveMessage (JSON protocol, whatever
        botocore the client has), signed once and sent on any connection."""
        payload = '{"QueueUrl": "%s", "WaitTimeSeconds": %d' % (url, wait)
        if visibility is not None:
            payload += ', "VisibilityTimeout": %d' % visibility
        body = (payload + "}").encode()
        req = h.AWSRequest(method="POST", url=self.server.endpoint + "/", data=body,
                           headers={"Content-Type": h.JSON_CT,
                                    "X-Amz-Target": "AmazonSQS.ReceiveMessage"})
        h.SigV4Auth(h.Credentials(h.ACCESS_KEY, h.SECRET_KEY), "sqs", h.REGION).add_auth(req)
        head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (
            self.server.port, len(body))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
        return head.encode() + body

    def open_poll(self, raw):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(raw)
        return s

    def assert_parked(self, socks):
        """No answer yet on these sockets: they are parked, not refused."""
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            finally:
                s.setblocking(True)
            self.fail("a long poll was answered at once instead of parked: %r" % data[:300])

    def counts(self, url):
        a = self.attrs(url, ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"))
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def hang_up(self, socks, rst_every=2):
        """Close abruptly: every other one with a reset (SO_LINGER 0), the rest with FIN."""
        for i, s in enumerate(socks):
            if rst_every and i % rst_every == 0:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    # ------------------------------------------------------------------

    def test_one_hung_up_poll_is_freed_and_takes_no_message(self):
        pid = self.server.proc.pid
        url = self.make_queue("hang1")
        s = self.open_poll(self.signed_receive(url, visibility=60))
        inode = wait_until(lambda: server_side_inode(self.server.port, s.getsockname()[1]), 5)
        self.assertTrue(inode, "the server's end of the connection not found")
        self.assertTrue(wait_until(lambda: holds_socket(pid, inode), 5), "poll never accepted")
        time.sleep(0.3)  # parked
        self.assert_parked([s])
        t0 = time.monotonic()
        s.close()
        freed = wait_until(lambda: not holds_socket(pid, inode), 5)
        took = time.monotonic() - t0
        self.assertTrue(freed, "the hung-up poll's connection is still open %.1fs after" % took)
        note("one poll: connection freed %.2fs after the client closed" % took)
        self.sqs.send_message(QueueUrl=url, MessageBody="for the living")
        self.assertEqual(self.counts(url), (1, 0))
        time.sleep(0.3)  # a dead waiter, if any were left, would have been woken by now
        self.assertEqual(self.counts(url), (1, 0), "a vanished client took the message")
        msgs = self.receive(url, WaitTimeSeconds=2)
        self.assertEqual([m["Body"] for m in msgs], ["for the living"])

    def test_many_hung_up_polls_free_their_slots_within_seconds(self):
        pid = self.server.proc.pid
        # file descriptors: ours and the server's
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want_own = WANT + 256
        if soft < want_own:
            new = want_own if hard == resource.RLIM_INFINITY else min(want_own, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        own = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        url = self.make_queue("hangmany")
        self.sqs.send_message(QueueUrl=url, MessageBody="warm")  # warm the paths measured
        self.assertEqual(len(self.receive_all(url, 1, timeout=5)), 1)
        base_fd, base_rss = fd_count(pid), rss_kib(pid)
        server_limit = soft_nofile(pid)
        n = min(WANT, own - 256, server_limit - base_fd - 128)
        if n < WANT:
            note("only %d polls: fd limits (ours %d, server's %d with %d open) do not allow %d"
                 % (n, own, server_limit, base_fd, WANT))
        self.assertGreater(n, 100, "file descriptor limits too low for this test")

        raw = self.signed_receive(url, visibility=60)
        socks = []
        t_first = time.monotonic()
        try:
            for _ in range(n):
                socks.append(self.open_poll(raw))
            opened = time.monotonic() - t_first
            # all accepted and parked (an answered poll would close: fds would not grow)
            self.assertTrue(wait_until(lambda: fd_count(pid) >= base_fd + n, 10),
                            "server holds %d fds, expected >= %d" % (fd_count(pid), base_fd + n))
            self.assertTrue(wait_until(lambda: self.counts(url) == (0, 0), 5))
            time.sleep(1.0)  # the last requests are read and parked
            self.assert_parked(socks[:: max(1, n // 200)] + socks[-5:])
            during_fd, during_rss = fd_count(pid), rss_kib(pid)
            self.assertGreaterEqual(during_fd, base_fd + n)
            t_close = time.monotonic()
            self.hang_up(socks)
        finally:
            for s in socks:
                s.close()
        socks = []
        # messages sent right after the hang-ups must not go to a vanished client
        m = 20
        for i in range(m):
            self.sqs.send_message(QueueUrl=url, MessageBody="after-%d" % i)
        self.assertEqual(self.counts(url), (m, 0))

        fds_back = wait_until(lambda: fd_count(pid) <= base_fd + 16, 8)
        t_fds = time.monotonic() - t_close
        after_fd = fd_count(pid)
        slack_kib = max(16 * 1024, (during_rss - base_rss) // 4)
        san = sanitized(pid)
        rss_back = san or wait_until(lambda: rss_kib(pid) <= base_rss + slack_kib, 8, step=0.2)
        t_rss = time.monotonic() - t_close
        after_rss = rss_kib(pid)
        since_first = time.monotonic() - t_first
        note("%d polls opened in %.1fs; fds base %d, parked %d, after %d (%.1fs after the hang-ups); "
             "RSS base %.1f MiB, parked %.1f MiB, after %.1f MiB (%.1fs after); %.1fs since the first poll"
             % (n, opened, base_fd, during_fd, after_fd, t_fds, base_rss / 1024, during_rss / 1024,
                after_rss / 1024, t_rss, since_first))
        self.assertTrue(fds_back, "server still holds %d fds %.1fs after the hang-ups (base %d)"
                        % (after_fd, t_fds, base_fd))
        if san:
            note("sanitizer build: RSS not checked (freed memory stays in its quarantine)")
        else:
            self.assertTrue(rss_back, "server RSS %.1f MiB %.1fs after the hang-ups (base %.1f, parked %.1f)"
                            % (after_rss / 1024, t_rss, base_rss / 1024, during_rss / 1024))
        # well before the polls' own deadline: freed by the check, not by the timeout
        self.assertLess(since_first, WAIT - 3, "too slow to tell the check from the polls' deadline")

        # nothing was received by a dead poll; all m are there for a live one
        self.assertEqual(self.counts(url), (m, 0), "a vanished client took messages")
        got = self.receive_all(url, m, timeout=10, VisibilityTimeout=30)
        self.assertEqual(sorted(x["Body"] for x in got), sorted("after-%d" % i for i in range(m)))

        # a fresh long poll and a send still pair up
        out = {}

        def poll():
            t0 = time.monotonic()
            out["msgs"] = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            out["took"] = time.monotonic() - t0

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        time.sleep(0.5)
        self.sqs.send_message(QueueUrl=url, MessageBody="live")
        t.join(15)
        self.assertFalse(t.is_alive(), "the live poll did not return")
        self.assertEqual([x["Body"] for x in out["msgs"]], ["live"])
        self.assertLess(out["took"], 5)


if __name__ == "__main__":
    unittest.main()

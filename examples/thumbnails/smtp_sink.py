"""A tiny SMTP sink for the example: accepts every mail on 127.0.0.1:PORT and
writes each one (headers and body, dot-unstuffed) to DIR/NNNN.eml. Stands in
for the mail relay SNS email subscriptions go through.
    python3 smtp_sink.py PORT DIR"""
import os
import socketserver
import sys
import threading

PORT, OUT = int(sys.argv[1]), sys.argv[2]
os.makedirs(OUT, exist_ok=True)
lock = threading.Lock()
count = [0]


class Session(socketserver.StreamRequestHandler):
    timeout = 30

    def say(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.say("220 sink ESMTP")
        rcpt, sender = [], None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.say("250 sink")
            elif verb == "MAIL":
                sender, rcpt = cmd[10:], []
                self.say("250 ok")
            elif verb == "RCPT":
                rcpt.append(cmd[8:])
                self.say("250 ok")
            elif verb == "DATA":
                self.say("354 go on")
                lines = []
                while True:
                    l = self.rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    lines.append(l[1:] if l.startswith(b"..") else l)
                with lock:
                    count[0] += 1
                    name = os.path.join(OUT, "%04d.eml" % count[0])
                with open(name + ".tmp", "wb") as f:
                    f.write(("X-Sink-From: %s\r\nX-Sink-To: %s\r\n" % (sender, ",".join(rcpt))).encode())
                    f.write(b"".join(lines))
                os.rename(name + ".tmp", name)
                self.say("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.say("250 ok")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 not here")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", PORT), Session).serve_forever()

#!/usr/bin/env python3
"""Send messages to the test MTA over SMTP, byte for byte.

  send.py [--port N] [--crlf] [--from ADDR] RESULTS_TSV  < LIST

LIST lines: "RECIPIENT<TAB>PATH".  Each message is sent as is (only
dot-stuffed; with --crlf, LF line ends are first turned into CRLF).
smtplib's data() is not used because it rewrites bare CR/LF.
One SMTP session; RSET between messages; reconnects after a 421 or a
dropped connection.  Writes "RECIPIENT<TAB>PATH<TAB>CODE TEXT" per message
to RESULTS_TSV, never aborts on 4xx/5xx.  python3 stdlib only.
"""
import re
import smtplib
import sys
import time


def to_crlf(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


class Sender:
    def __init__(self, port, sender="sender@example.org", host="127.0.0.1"):
        self.port, self.sender, self.host = port, sender, host
        self.s = None

    def connect(self):
        self.close()
        self.s = smtplib.SMTP(self.host, self.port, local_hostname="client.example", timeout=300)
        self.s.ehlo()

    def close(self):
        if self.s is not None:
            try:
                self.s.quit()
            except Exception:
                try:
                    self.s.close()
                except Exception:
                    pass
        self.s = None

    def send(self, rcpt, data):
        """Returns "CODE text" of the final reply (or of the first refusal)."""
        for attempt in (1, 2):
            try:
                if self.s is None:
                    self.connect()
                return self._send(rcpt, data)
            except (smtplib.SMTPServerDisconnected, ConnectionError, OSError) as e:
                self.s = None
                if attempt == 2:
                    return "000 connection failed: %s" % e
        return "000 ?"

    def _send(self, rcpt, data):
        s = self.s
        code, msg = s.mail(self.sender)
        if code != 250:
            self._rset()
            return "%d %s" % (code, msg.decode("latin-1", "replace"))
        code, msg = s.rcpt(rcpt)
        if code not in (250, 251):
            self._rset()
            return "%d %s" % (code, msg.decode("latin-1", "replace"))
        s.putcmd("data")
        code, msg = s.getreply()
        if code != 354:
            self._rset()
            return "%d %s" % (code, msg.decode("latin-1", "replace"))
        body = re.sub(rb"(?m)^\.", b"..", data)
        if not body.endswith(b"\n"):
            body += b"\r\n"
        s.send(body + b".\r\n")
        code, msg = s.getreply()
        res = "%d %s" % (code, msg.decode("latin-1", "replace"))
        if code == 421:
            self.close()
        else:
            self._rset()
        return res

    def _rset(self):
        try:
            self.s.rset()
        except Exception:
            self.close()


def main(argv):
    port, crlf, sender = 2525, False, "sender@example.org"
    args = argv[1:]
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--port":
            port = int(args.pop(0))
        elif a == "--crlf":
            crlf = True
        elif a == "--from":
            sender = args.pop(0)
    out = open(args[0], "w")
    snd = Sender(port, sender)
    t0 = time.time()
    n = 0
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        rcpt, path = line.split("\t", 1)
        with open(path, "rb") as f:
            data = f.read()
        if crlf:
            data = to_crlf(data)
        res = snd.send(rcpt, data)
        out.write("%s\t%s\t%s\n" % (rcpt, path, res.replace("\n", " ").replace("\t", " ")))
        out.flush()
        n += 1
    snd.close()
    print("send.py: %d messages in %.1f s" % (n, time.time() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

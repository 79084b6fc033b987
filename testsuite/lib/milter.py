"""milter.py -- a minimal milter-protocol client (sendmail's side), Python 3
stdlib only, for what milterdrv cannot do: chosen envelope addresses (hostile
recipients, many RCPTs), raw header values, aborts and RSETs inside one
connection, and a check that nothing follows the final reply."""
import select
import socket
import struct

P_NOCONNECT, P_NOHELO, P_NOMAIL, P_NORCPT = 0x1, 0x2, 0x4, 0x8
P_NOBODY, P_NOHDRS, P_NOEOH, P_NR_HDR = 0x10, 0x20, 0x40, 0x80
P_NODATA = 0x200
P_NR_CONN, P_NR_HELO, P_NR_MAIL, P_NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
P_NR_DATA, P_NR_EOH, P_NR_BODY = 0x10000, 0x40000, 0x80000
VERDICTS = {b"c": "continue", b"a": "accept", b"r": "reject", b"t": "tempfail",
            b"d": "discard", b"y": "reply", b"s": "skip", b"f": "tempfail",
            b"4": "tempfail"}


class MilterError(Exception):
    pass


class Client:
    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.proto = 0
        self.extra = 0		# packets seen after a final reply

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _readn(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise MilterError("connection closed by the filter")
            b += c
        return b

    def read(self):
        n = struct.unpack(">I", self._readn(4))[0]
        if n == 0 or n > 64 * 1024 * 1024:
            raise MilterError("bad packet length %d" % n)
        d = self._readn(n)
        return d[:1], d[1:]

    def reply(self):
        while True:
            c, d = self.read()
            if c == b"p":
                continue
            if c not in VERDICTS:
                raise MilterError("unexpected reply %r" % c)
            return VERDICTS[c], d

    def pending(self, wait=0.2):
        r, _, _ = select.select([self.s], [], [], wait)
        return bool(r)

    def negotiate(self):
        self.send(b"O", struct.pack(">III", 6, 0x1ff, 0x001fffff))
        c, d = self.read()
        if c != b"O" or len(d) < 12:
            raise MilterError("bad negotiation reply")
        self.proto = struct.unpack(">I", d[8:12])[0]

    def macro(self, cmd, pairs):
        self.send(b"D", cmd + b"".join(k + b"\0" + v + b"\0" for k, v in pairs))

    def step(self, cmd, data, noflag, nrflag):
        if self.proto & noflag:
            return "continue"
        self.send(cmd, data)
        if self.proto & nrflag:
            return "continue"
        return self.reply()[0]

    def connect(self):
        self.macro(b"C", [(b"j", b"mx.mailcorral.test"), (b"{daemon_name}", b"MTA"),
                          (b"_", b"client.example [192.0.2.1]")])
        v = self.step(b"C", b"client.example\0" + b"4" + struct.pack(">H", 2525)
                      + b"192.0.2.1\0", P_NOCONNECT, P_NR_CONN)
        if v != "continue":
            raise MilterError("connect: %s" % v)
        v = self.step(b"H", b"client.example\0", P_NOHELO, P_NR_HELO)
        if v != "continue":
            raise MilterError("helo: %s" % v)

    def txn(self, qid, sender, rcpts, headers, body, chunk=65535, abort_at=None):
        """One transaction.  abort_at: None, "rcpt" (RSET after the
        recipients) or "body" (abort after the first body chunk).
        Returns (verdict, reply data, list of modifications)."""
        self.macro(b"M", [(b"i", qid), (b"{mail_mailer}", b"esmtp"),
                          (b"{mail_addr}", sender.strip(b"<>"))])
        v = self.step(b"M", sender + b"\0", P_NOMAIL, P_NR_MAIL)
        if v != "continue":
            return v, b"", []
        for r in rcpts:
            self.macro(b"R", [(b"{rcpt_mailer}", b"local"), (b"{rcpt_addr}", r.strip(b"<>"))])
            v = self.step(b"R", r + b"\0", P_NORCPT, P_NR_RCPT)
            if v != "continue":
                return v, b"", []
        if abort_at == "rcpt":
            self.send(b"A")
            return "aborted", b"", []
        v = self.step(b"T", b"", P_NODATA, P_NR_DATA)
        if v != "continue":
            return v, b"", []
        for k, val in headers:
            v = self.step(b"L", k + b"\0" + val + b"\0", P_NOHDRS, P_NR_HDR)
            if v != "continue":
                return v, b"", []
        v = self.step(b"N", b"", P_NOEOH, P_NR_EOH)
        if v != "continue":
            return v, b"", []
        for off in range(0, len(body), chunk):
            v = self.step(b"B", body[off:off + chunk], P_NOBODY, P_NR_BODY)
            if abort_at == "body":
                self.send(b"A")
                return "aborted", b"", []
            if v != "continue":
                return v, b"", []
        self.send(b"E")
        mods = []
        while True:
            c, d = self.read()
            if c in VERDICTS and c != b"s":
                if self.pending():
                    self.extra += 1
                return VERDICTS[c], d, mods
            mods.append((c, d))

    def quit(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.s.close()


def split_message(raw):
    """Header fields [(name, value)] (value without the blank after the
    colon, folds kept as LF) and the body with CRLF line ends."""
    head, sep, body = raw.partition(b"\n\n")
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b"\n" + line
        elif b":" in line:
            k, v = line.split(b":", 1)
            fields.append([k.rstrip(), v[1:] if v[:1] == b" " else v])
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return [tuple(f) for f in fields], body

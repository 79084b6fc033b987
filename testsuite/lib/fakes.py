"""Fake spamd and clamd servers for the fault tests (python3 stdlib only).

Each fake listens on 127.0.0.1:PORT in a thread; its behaviour is the
attribute `mode`, which the test changes at run time.  Counters: `conns`
(connections accepted), `active` (open now), `max_active`.

spamd modes: ok, spam, hang (reads, never answers), delay (answers ok after
`delay` seconds), http500, random, nan (`Spam: True ; NaN / 5.0`), rst (reset
half-way through the answer), status76 (`SPAMD/1.1 76 Bad header line`),
longline (a 10 MB header line; `longline_sent` lists how many bytes of it
each connection took before the client went away), clen-1
(`Content-length: -1`).
clamd modes: ok, virus, hang, garbage (random bytes), error (`ERROR`),
size (`INSTREAM size limit exceeded. ERROR`), close (closed before the reply),
slow (answers ok `slow` seconds after the stream; the connection leaves
`active` before the answer, so `max_active` never counts one the client has
already let go).
"""
import os
import socket
import struct
import threading
import time

MAX_HOLD = 60.0     # a hung fake never holds a connection longer than this


def recv_upto(c, buf, n):
    """buf and what c sends next until there are n bytes; None when the
    client went away first."""
    while len(buf) < n:
        d = c.recv(65536)
        if not d:
            return None
        buf += d
    return buf


class Fake:
    def __init__(self, port, mode="ok"):
        self.mode = mode
        self.delay = 3.0
        self.slow = 0.05
        self.local = threading.local()
        self.lock = threading.Lock()
        self.conns = self.active = self.max_active = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.port = port
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def reset_counts(self):
        with self.lock:
            self.conns = self.max_active = 0

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def release(self):
        """This connection is no longer active (before its last answer)."""
        if not getattr(self.local, "released", False):
            self.local.released = True
            with self.lock:
                self.active -= 1

    def _serve(self, c):
        self.local.released = False
        with self.lock:
            self.conns += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        c.settimeout(MAX_HOLD)
        try:
            self.handle(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass
            self.release()

    def hold(self, c):
        """Never answer.  The client may half-close after its request, so
        EOF does not end the hold: it ends when the mode changes, the fake
        stops, or after MAX_HOLD."""
        t0 = time.monotonic()
        c.settimeout(0.2)
        eof = False
        while time.monotonic() - t0 < MAX_HOLD and not self.stopping and self.mode == "hang":
            if eof:
                time.sleep(0.2)
                continue
            try:
                d = c.recv(65536)
            except socket.timeout:
                continue
            if not d:
                eof = True

    @staticmethod
    def rst(c):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class FakeSpamd(Fake):
    LONGLINE = 10 * 1024 * 1024

    def __init__(self, port, mode="ok"):
        self.longline_sent = []
        super().__init__(port, mode)

    def send_longline(self, c):
        """A status line, then one header line of LONGLINE bytes, sent in
        64 KiB pieces; records how much went out before the reset/EOF."""
        sent = 0
        piece = b"a" * 65536
        try:
            c.sendall(b"SPAMD/1.1 0 EX_OK\r\nX-Junk: ")
            while sent < self.LONGLINE:
                c.sendall(piece)
                sent += len(piece)
            c.sendall(b"\r\nSpam: False ; 0.5 / 5.0\r\n\r\n")
        finally:
            with self.lock:
                self.longline_sent.append(sent)

    def read_request(self, c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return None
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        clen = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                clen = int(line.split(b":", 1)[1])
        if recv_upto(c, body, clen) is None:
            return None
        return head

    def handle(self, c):
        mode = self.mode
        if mode == "hang":
            self.hold(c)
            return
        if self.read_request(c) is None:
            return
        if mode == "delay":
            time.sleep(self.delay)
            mode = "ok"
        if mode in ("ok", "spam"):
            verdict = b"True ; 1000.0 / 5.0" if mode == "spam" else b"False ; 0.5 / 5.0"
            c.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: " + verdict + b"\r\n\r\n")
        elif mode == "http500":
            c.sendall(b"HTTP/1.0 500 Internal Server Error\r\n\r\n")
        elif mode == "random":
            c.sendall(os.urandom(4096))
        elif mode == "nan":
            c.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: True ; NaN / 5.0\r\n\r\n")
        elif mode == "rst":
            c.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-le")
            self.rst(c)
        elif mode == "status76":
            c.sendall(b"SPAMD/1.1 76 Bad header line\r\n\r\n")
        elif mode == "longline":
            self.send_longline(c)
        elif mode == "clen-1":
            c.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\nSpam: False ; 0.5 / 5.0\r\n\r\n")


class FakeClamd(Fake):
    def read_stream(self, c):
        """Reads zINSTREAM and its chunks; False when the client went away."""
        buf = b""

        def need(n):
            nonlocal buf
            buf = recv_upto(c, buf, n)
            return buf is not None

        if not need(10):
            return False
        buf = buf[10:]              # "zINSTREAM\0"
        while True:
            if not need(4):
                return False
            n = struct.unpack(">I", buf[:4])[0]
            buf = buf[4:]
            if n == 0:
                return True
            if not need(n):
                return False
            buf = buf[n:]

    def handle(self, c):
        mode = self.mode
        if mode == "hang":
            self.hold(c)
            return
        if not self.read_stream(c):
            return
        if mode == "slow":
            time.sleep(self.slow)
            self.release()
            c.sendall(b"stream: OK\0")
            return
        reply = {
            "ok": b"stream: OK\0",
            "virus": b"stream: Eicar-Test-Signature FOUND\0",
            "garbage": os.urandom(512),
            "error": b"ERROR\0",
            "size": b"INSTREAM size limit exceeded. ERROR\0",
        }.get(mode)
        if reply is not None:
            c.sendall(reply)

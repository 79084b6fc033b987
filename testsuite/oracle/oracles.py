"""The oracles of the differential MIME test (doc/oracle.md).

Each oracle reads a message the way real mail software does and lists every
attachment it would offer a user: (names, declared type, decoded bytes).

  compat32, default   Python's email package, both policies (in process)
  gmime               GMime 3 through gi (mu, notmuch, Geary); in process,
                      so this module runs under /usr/bin/python3
  mimetools           MIME-tools (MIMEDefang, amavis): oracle_mimetools.pl
  postal              postal-mime from npm: oracle_postal.mjs

Run under Debian's /usr/bin/python3 (gi lives there).
"""
import base64
import email
import email.policy
import json
import os
import signal
import subprocess
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLES = ("compat32", "default", "gmime", "mimetools", "postal")
PARSE_SECONDS = 20          # one message, one oracle

try:
    import gi
    gi.require_version("GMime", "3.0")
    from gi.repository import GMime
    GMime.init()
except Exception as e:      # reported by need_gmime()
    GMime = None
    GMIME_ERR = str(e)


def need_gmime():
    if GMime is None:
        raise SystemExit("oracles.py: GMime 3 through gi is missing (%s): "
                         "run scripts/install-deps.sh, use /usr/bin/python3"
                         % GMIME_ERR)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def _text(v):
    """A header value the email package returned, as one str."""
    if v is None:
        return None
    if isinstance(v, tuple):        # compat32 RFC 2231 (charset, lang, s)
        try:
            return email.utils.collapse_rfc2231_value(v)
        except Exception:
            return str(v[2])
    return str(v)


def py_atts(data, policy):
    msg = email.message_from_bytes(data, policy=policy)
    out = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        names = []
        for get in (lambda: part.get_filename(),
                    lambda: part.get_param("name"),
                    lambda: part.get_param("filename", header="content-disposition")):
            try:
                n = _text(get())
            except Exception:
                n = None
            if n and n not in names:
                names.append(n)
        try:
            body = part.get_payload(decode=True)
        except Exception:
            body = None
        if not isinstance(body, bytes):
            p = part.get_payload()
            body = p.encode("utf-8", "surrogateescape") if isinstance(p, str) else b""
        try:
            ctype = part.get_content_type()
        except Exception:
            ctype = ""
        out.append({"names": names, "type": ctype, "data": body})
    return out


def gmime_atts(data):
    need_gmime()
    st = GMime.StreamMem.new_with_buffer(data)
    msg = GMime.Parser.new_with_stream(st).construct_message(None)
    out = []
    if msg is None:
        return out

    def walk(o, depth):
        if o is None or depth > 200:
            return
        if isinstance(o, GMime.Multipart):
            for i in range(o.get_count()):
                walk(o.get_part(i), depth + 1)
        elif isinstance(o, GMime.MessagePart):
            m = o.get_message()
            if m is not None:
                walk(m.get_mime_part(), depth + 1)
        elif isinstance(o, GMime.Part):
            names = []
            ct = o.get_content_type()
            cd = o.get_content_disposition()
            for n in (o.get_filename(), ct.get_parameter("name") if ct else None,
                      cd.get_parameter("filename") if cd else None):
                if n and n not in names:
                    names.append(n)
            buf = GMime.StreamMem.new()
            w = o.get_content()
            if w is not None:
                w.write_to_stream(buf)
            b = buf.get_byte_array()
            out.append({"names": names, "type": ct.get_mime_type() if ct else "",
                        "data": bytes(b) if b is not None else b""})

    walk(msg.get_mime_part(), 0)
    return out


class Proc:
    """A long-running helper program spoken to through its stdin/stdout."""

    def __init__(self, argv, cwd=None):
        self.argv, self.cwd = argv, cwd
        self.p = None

    def ensure(self):
        if self.p is None or self.p.poll() is not None:
            self.p = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, bufsize=-1)
        return self.p

    def kill(self):
        if self.p is not None:
            try:
                self.p.kill()
                self.p.wait()
            except Exception:
                pass
        self.p = None

    def close(self):
        if self.p is not None:
            self.p.stdin.close()
            self.p.wait()
            self.p = None


class Worker(Proc):
    """An oracle program: a path in, a JSON line out."""

    def ask(self, path):
        self.ensure()
        self.p.stdin.write(os.path.abspath(path).encode() + b"\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()     # under the caller's alarm
        if not line:
            self.p = None
            raise RuntimeError("%s died" % self.argv[0])
        r = json.loads(line)
        if not r.get("ok"):
            raise RuntimeError(r.get("err", "failed"))
        return [{"names": a["names"], "type": a["type"],
                 "data": base64.b64decode(a["data"])} for a in r["atts"]]



class Oracles:
    """All five oracles; read(path) -> {oracle: [att] or Exception}."""

    def __init__(self):
        need_gmime()
        self.perl = Worker(["perl", os.path.join(HERE, "oracle_mimetools.pl")], HERE)
        self.node = Worker(["node", os.path.join(HERE, "oracle_postal.mjs")], HERE)
        signal.signal(signal.SIGALRM, _alarm)

    def _one(self, name, path, data):
        signal.alarm(PARSE_SECONDS)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name == "compat32":
                    return py_atts(data, email.policy.compat32)
                if name == "default":
                    return py_atts(data, email.policy.default)
                if name == "gmime":
                    return gmime_atts(data)
                if name == "mimetools":
                    return self.perl.ask(path)
                return self.node.ask(path)
        except Timeout:
            if name == "mimetools":
                self.perl.kill()
            elif name == "postal":
                self.node.kill()
            return Timeout("timed out after %d s" % PARSE_SECONDS)
        except RecursionError as e:
            return e
        except Exception as e:
            return e
        finally:
            signal.alarm(0)

    def read(self, path):
        with open(path, "rb") as f:
            data = f.read()
        return {n: self._one(n, path, data) for n in ORACLES}

    def close(self):
        self.perl.close()
        self.node.close()


def enc_name(n):
    if isinstance(n, bytes):
        return n
    try:
        return n.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return n.encode("utf-8", "replace")


def esc(b):
    """judge.c's %XX escape (bytes <= 0x20, '%', >= 0x7f); '-' if empty."""
    if not b:
        return b"-"
    return b"".join(bytes([c]) if 0x20 < c < 0x7f and c != 0x25 else b"%%%02X" % c for c in b)


def unesc(s):
    if s == "-":
        return b""
    out = bytearray()
    b = s.encode("latin-1", "replace")
    i = 0
    while i < len(b):
        if b[i] == 0x25 and i + 2 < len(b):
            try:
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    return bytes(out)


class Judge(Proc):
    """mailcorral-judge -b: the daemon's rules on (names, type, bytes)."""

    MAX_NAMES = 16

    def __init__(self, binary, conf=None):
        Proc.__init__(self, [binary, "-b"] + (["-c", conf] if conf else []))
        self.cache = {}
        self.calls = 0

    def judge(self, names, ctype, data):
        key = (tuple(names), ctype, len(data), hash(data))
        if key in self.cache:
            return self.cache[key]
        self.ensure()
        fields = [esc(enc_name(ctype)), b"%d" % len(data)] + \
            [esc(enc_name(n)) for n in names[:self.MAX_NAMES]]
        self.p.stdin.write(b"\t".join(fields) + b"\n" + data)
        self.p.stdin.flush()
        line = self.p.stdout.readline().decode("latin-1").rstrip("\n")
        if not line:
            self.p = None
            raise RuntimeError("mailcorral-judge -b died")
        code, reason, what = (line.split("\t") + ["", ""])[:3]
        r = (int(code), reason, unesc(what).decode("utf-8", "replace"))
        self.calls += 1
        if len(self.cache) > 200000:
            self.cache.clear()
        self.cache[key] = r
        return r



class View(Proc):
    """mailcorral-judge -M: every name MailCorral's parser reads in a
    message (all views) and its findings, from one long-running process."""

    def __init__(self, binary, conf=None):
        Proc.__init__(self, [binary, "-M"] + (["-c", conf] if conf else []))

    def read(self, path):
        """-> (names set, [finding fields], [mime error words])"""
        self.ensure()
        self.p.stdin.write(os.path.abspath(path).encode() + b"\n")
        self.p.stdin.flush()
        names, finds, errs = set(), [], []
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.p = None
                raise RuntimeError("mailcorral-judge -M died")
            f = line.decode("latin-1").rstrip("\n").split("\t")
            if f[0] == ".":
                break
            if f[0] == "P":
                for n in f[9:]:
                    names.add(unesc(n).decode("utf-8", "replace"))
            elif f[0] == "F":
                finds.append(f[1:])
            elif f[0] == "E":
                errs = f[1:]
            elif f[0] == "X":
                raise RuntimeError("mailcorral-judge -M %s: %s" % (path, f[1:]))
        return names, finds, errs



def norm_name(n):
    """A name as the rules compare it, roughly: last path component,
    control characters out, blanks collapsed, trailing dots and blanks
    cut, lower case.  Only for the differential report."""
    n = n.replace("\\", "/").split("/")[-1]
    n = "".join(c for c in n if ord(c) >= 0x20 and ord(c) != 0x7f and
                c not in "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\ufeff"
                "\u2066\u2067\u2068\u2069")
    n = " ".join(n.split())
    return n.rstrip(". ").lower()

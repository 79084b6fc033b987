#!/usr/bin/env python3
"""MailCorral virus scanning, end to end (run by testsuite/e2e/virus.sh).

  virus_e2e.py                      run the tests (stack and clamd running)
  virus_e2e.py --write-conf FILE V  write config variant V (base, reject,
                                    discard, accept, breaker, accept1)

Environment: TOP, STACK_DIR, SMTP_PORT, CLAMD_DIR, CLAMD_PORT (set by
virus.sh).  The stack (stack.sh) runs with the base config and the real
clamd (clamd.sh) is up when the tests start; this script restarts the
filter with other configs, stops clamd, and serves a fake clamd that
accepts and never answers on CLAMD_PORT (a thread, so it ends with us).
t_busy drives a filter of its own on clamd's unix socket with milterdrv
(virus.sh builds it) at 32 sessions at once: a busy clamd is no failure.
Prints PASS/FAIL lines and ends with "N passed, N failed".
python3 stdlib only.
"""
import base64
import binascii
import glob
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
STACK_DIR = os.environ.get("STACK_DIR", "/tmp/mc-e2e-virus")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "2545"))
CLAMD_DIR = os.environ.get("CLAMD_DIR", "/tmp/mc-e2e-clamd")
CLAMD_PORT = int(os.environ.get("CLAMD_PORT", "2548"))
TESTFILES = os.environ.get("CLAMAV_TESTFILES", "/usr/share/clamav-testfiles")
TIMEOUT = 5            # clamd_timeout of every config here (seconds)
SLACK = 4              # "a few seconds" on top of the timeout

sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest                    # noqa: E402
from mctest import Sender, crlf, fsize, read_from  # noqa: E402
import check                     # noqa: E402  testsuite/check.py, on mctest's path

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_TAIL = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
EICAR_RX = r"Lab\.EICAR"

BASE = [
    "virus_arbitron = clamd",
    "clamd_servers = 127.0.0.1:%d" % CLAMD_PORT,
    "clamd_timeout = %ds" % TIMEOUT,
    "spool_dir = @STACK_DIR@/spool",
    "bypass_key_file = @STACK_DIR@/spamkey",
    "corral_dir = @STACK_DIR@/corral",
    "spam_arbitron = none",
]
VARIANTS = {
    "base": [],
    "reject": ["virus_action = reject"],
    "discard": ["virus_action = discard"],
    "accept": ["on_clamd_failure = accept"],
    "breaker": ["clamd_max_failures = 2", "clamd_backoff = 60s"],
    "accept1": ["on_clamd_failure = accept", "clamd_max_failures = 1", "clamd_backoff = 3s"],
}


def write_conf(path, variant):
    mctest.write_conf(path, "testsuite/e2e/virus.sh: variant %s" % variant, BASE + VARIANTS[variant])


# ------------------------------------------------------------ results
R = mctest.Results()
result = R.check


# ------------------------------------------------------------ stack helpers
MAIL_DIR = os.path.join(STACK_DIR, "mail")
MC_LOG = os.path.join(STACK_DIR, "mailcorral.log")
CLAMD_LOG = os.path.join(CLAMD_DIR, "clamd.log")


def restart_filter(variant):
    global sender
    path = os.path.join(STACK_DIR, "virus-%s.conf" % variant)
    write_conf(path, variant)
    rc, out = mctest.restart_filter(path, sender)
    sender = None
    if rc != 0:
        result(False, "restart filter with %s config" % variant, out[-300:])
        return False
    return True


sender = None
counter = [0]


def send(user, raw):
    global sender
    if sender is None:
        sender = Sender(SMTP_PORT)
    counter[0] += 1
    return mctest.send_logged(sender, "%s%d" % (user, counter[0]), raw, MAIL_DIR, MC_LOG)


# ------------------------------------------------------------ messages
def headers(subject, ctype=None):
    h = ("From: Sender <sender@example.org>\n"
         "To: rcpt@mx.mailcorral.test\n"
         "Subject: %s\n"
         "Date: Sun, 22 Nov 2026 03:00:00 +0000\n"
         "Message-ID: <%s.%d@example.org>\n"
         "MIME-Version: 1.0\n" % (subject, re.sub(r"\W", "", subject), os.getpid()))
    if ctype:
        h += "Content-Type: %s\n" % ctype
    return h


def b64(data):
    return base64.encodebytes(data).decode()


def text_part(marker):
    return ("Content-Type: text/plain; charset=us-ascii\n"
            "Content-Transfer-Encoding: 7bit\n\n"
            "Hello,\n\nthe report is attached.  %s\n\nRegards\n" % marker)


def attach(data, name, ctype="application/octet-stream", cte="base64", body=None):
    if body is None:
        body = b64(data)
    return ('Content-Type: %s; name="%s"\n'
            'Content-Disposition: attachment; filename="%s"\n'
            "Content-Transfer-Encoding: %s\n\n%s" % (ctype, name, name, cte, body))


def multipart(subject, parts, boundary="=_mc_e2e_virus_b1"):
    out = headers(subject, 'multipart/mixed; boundary="%s"' % boundary) + "\n"
    out += "This is a multi-part message in MIME format.\n"
    for p in parts:
        out += "--%s\n%s" % (boundary, p)
        if not out.endswith("\n"):
            out += "\n"
    out += "--%s--\n" % boundary
    return crlf(out)


def qp_eicar():
    # real quoted-printable: hex escapes and a soft line break, so only a
    # decoded stream matches the signature
    e = EICAR.decode()
    k = e.index("-")
    q = "=58" + e[1:30] + "=\n" + e[30:k] + "=2D" + e[k + 1:] + "=\n"
    import quopri
    assert quopri.decodestring(q.encode()) == EICAR
    return q


def zip_of(name, data):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return bio.getvalue()


def uuencode(data, name):
    lines = ["begin 644 %s" % name]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45]).decode().rstrip("\n"))
    lines += ["`", "end"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ checks
def readings_hold(raw, needle):
    for blob in check.readings(raw):
        if needle in blob:
            return True
    return False


def text_has(raw, needle):
    return any(needle.encode() in p for _, p in check.text_parts(raw))


def removed_entry(d):
    """(name, why) pairs of removed="name"(why) in the decision line."""
    return re.findall(r'removed="([^"]*)"\((.*?)\)(?= removed=|$)', d["changes"]) if d else []


def check_removed(label, s, marker, needle, virus_rx=None, allow_rules=False):
    """The infected part is gone, the text with the marker delivered with a
    warning; the decision line shows the clamd verdict (or, allow_rules
    "any", a removal by MailCorral's own rules; "archive", a removal by its
    archive rules: dangerous member, unreadable, nested too deep)."""
    why = []
    raw = s.got()
    d = s.decision
    if s.code != 250:
        why.append("not accepted")
    if raw is None:
        why.append("expected one delivered copy")
    else:
        if readings_hold(raw, needle):
            why.append("the infected content reached the mailbox")
        if not text_has(raw, marker):
            why.append("text with marker %s missing" % marker)
        if not text_has(raw, "MailCorral"):
            why.append("no warning text")
    if d is None:
        why.append("no decision line")
    else:
        rem = removed_entry(d)
        infected = [w for _, w in rem if w.startswith("infected ")]
        by_clamd = virus_rx is not None and re.search(virus_rx, d["virus"]) and \
            any(re.search(virus_rx, w) for w in infected) and d["clamd"] >= 1
        if by_clamd:
            if raw is not None and not text_has(raw, re.search(virus_rx, d["virus"]).group(0)):
                why.append("warning does not name the virus %s" % d["virus"])
        elif rem and (allow_rules == "any" or
                      (allow_rules == "archive" and rem[0][1].startswith("archive-"))):
            label += " (removed by rules: %s)" % rem[0][1]
        else:
            why.append("no clamd verdict in the decision line")
    return result(not why, label, "; ".join(why) + " -- " + s.where() if why else "")


# ------------------------------------------------------------ fake clamd
class FakeClamd:
    """Accepts on CLAMD_PORT, reads and never answers."""

    def __init__(self, port):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(50)
        self.conns = []
        self.accepted = 0
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        self.ls.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self.drain, args=(c,), daemon=True).start()

    def drain(self, c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    def close(self):
        self.stop = True
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.ls.close()


# ------------------------------------------------------------ tests
def t_viruses():
    m = "MARK-b64-%d" % os.getpid()
    s = send("eicb64", multipart("EICAR base64", [text_part(m), attach(EICAR, "report.txt")]))
    check_removed("EICAR attachment, base64", s, m, EICAR_TAIL, EICAR_RX)

    m = "MARK-qp-%d" % os.getpid()
    s = send("eicqp", multipart("EICAR quoted-printable",
                                [text_part(m), attach(None, "notes.txt", cte="quoted-printable", body=qp_eicar())]))
    check_removed("EICAR attachment, quoted-printable", s, m, EICAR_TAIL, EICAR_RX)

    m = "MARK-zip-%d" % os.getpid()
    s = send("eiczip", multipart("EICAR in a zip",
                                 [text_part(m), attach(zip_of("sample.txt", EICAR), "archive.zip", "application/zip")]))
    check_removed("EICAR in a zip", s, m, EICAR_TAIL, EICAR_RX)

    m = "MARK-rfc822-%d" % os.getpid()
    inner = multipart("inner", [text_part("inner text"), attach(EICAR, "data.bin")], boundary="=_inner_b2")
    s = send("eicmsg", multipart("EICAR in a forwarded message",
                                 [text_part(m), 'Content-Type: message/rfc822\nContent-Disposition: inline\n\n'
                                  + inner.decode().replace("\r\n", "\n")]))
    check_removed("EICAR in a nested message/rfc822", s, m, EICAR_TAIL, EICAR_RX)

    m = "MARK-uu-%d" % os.getpid()
    body = "Hello,\n\nhere it is.  %s\n\n%s\nRegards\n" % (m, uuencode(EICAR, "report.txt"))
    s = send("eicuu", crlf(headers("EICAR uuencoded in the text",
                                   "text/plain; charset=us-ascii") + "\n" + body))
    check_removed("EICAR uuencoded in a text body", s, m, EICAR_TAIL, EICAR_RX)


def t_testfiles():
    files = sorted(f for f in glob.glob(os.path.join(TESTFILES, "*")) if os.path.isfile(f))
    if not files:
        result(False, "clamav-testfiles present", "no files in %s" % TESTFILES)
        return
    by_clamd = 0
    for i, path in enumerate(files):
        base = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        m = "MARK-tf%d-%d" % (i, os.getpid())
        s = send("tf", multipart("sample %s" % base, [text_part(m), attach(data, "sample%d.dat" % i)]))
        # clamd.sh's signatures: Lab.EICAR and one hash per sample, named
        # after the file (clamd may name the clam.exe found inside)
        rx = r"(?:clam[\w.-]*|Lab\.[\w.-]+)\.UNOFFICIAL"
        pe = data[:2] == b"MZ"
        ok = check_removed("clamav-testfiles %s%s" % (base, " (PE)" if pe else ""), s, m, data, rx,
                           allow_rules="any" if pe else "archive")
        if ok and s.decision and re.search(rx, s.decision["virus"]):
            by_clamd += 1
    print("# %d of %d clamav-testfiles samples removed on clamd's verdict" % (by_clamd, len(files)), flush=True)


def unchanged(got, raw):
    """[] when got, the one delivered copy, has raw's body and no
    X-MailCorral header; else what is wrong."""
    if got is None:
        return ["not delivered"]
    if check.body_of(got) != check.body_of(raw):
        return ["body changed"]
    if any(k.startswith(b"x-mailcorral") for k, _ in check.unfold_headers(got)):
        return ["X-MailCorral header added"]
    return []


def t_controls():
    # plain text only: never sent to clamd, delivered as it is
    m = "MARK-plain-%d" % os.getpid()
    raw = crlf(headers("plain control", "text/plain; charset=us-ascii")
               + "Content-Transfer-Encoding: 7bit\n\nHello,\n\nnothing attached.  %s\n\nRegards\n" % m)
    coff = fsize(CLAMD_LOG)
    s = send("plain", raw)
    why = unchanged(s.got(), raw)
    result(not why, "plain-text control delivered byte-for-byte", "; ".join(why) + " -- " + s.where())
    d = s.decision
    result(d is not None and d["clamd"] == 0 and d["virus"] == "none" and d["action"] == "accept",
           "plain-text control: clamd not asked (clamd=0 virus=none)", s.where())

    # canary: plain text holding the EICAR string (not at the start).  Plain
    # text is never sent (doc: "Headers and plain text are not sent"); had it
    # been sent, clamd would log a FOUND line and the text would change.
    m = "MARK-canary-%d" % os.getpid()
    raw = crlf(headers("plain canary", "text/plain; charset=us-ascii")
               + "Content-Transfer-Encoding: 7bit\n\nHello,\n\nthe test string is\n%s\nend.  %s\n"
               % (EICAR.decode(), m))
    s = send("canary", raw)
    time.sleep(0.3)
    new = read_from(CLAMD_LOG, coff)
    d = s.decision
    result(d is not None and d["clamd"] == 0 and "FOUND" not in new and "instream" not in new
           and s.got() is not None,
           "plain text only: clamd's log shows no new scan",
           "clamd log grew: %r -- %s" % (new[-200:], s.where()))

    # text + PDF-like attachment: scanned, clean, unchanged
    pdf = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
           b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
           b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    m = "MARK-pdf-%d" % os.getpid()
    raw = multipart("pdf control", [text_part(m), attach(pdf, "invoice.pdf", "application/pdf")])
    s = send("pdf", raw)
    why = unchanged(s.got(), raw)
    d = s.decision
    if d is None or d["clamd"] < 1 or d["virus"] != "clean" or d["action"] != "accept":
        why.append("expected action=accept virus=clean clamd>=1")
    result(not why, "text + PDF control scanned clean and delivered byte-for-byte",
           "; ".join(why) + " -- " + s.where())


def eicar_msg(tag):
    m = "MARK-%s-%d" % (tag, os.getpid())
    return m, multipart("EICAR %s" % tag, [text_part(m), attach(EICAR, "report.txt")])


def t_reject():
    if not restart_filter("reject"):
        return
    _, raw = eicar_msg("reject")
    s = send("rej", raw)
    d = s.decision
    ok = s.code // 100 == 5 and re.search(EICAR_RX, s.reply) and not s.copies and \
        d is not None and d["action"] == "reject"
    result(ok, "virus_action = reject: 5xx naming the virus, nothing delivered", s.where())


def t_discard():
    if not restart_filter("discard"):
        return
    _, raw = eicar_msg("discard")
    s = send("dis", raw)
    time.sleep(0.3)
    s.copies = check.find_delivered(MAIL_DIR, s.user)
    d = s.decision
    ok = s.code == 250 and not s.copies and d is not None and d["action"] == "discard" and \
        re.search(EICAR_RX, d["virus"])
    result(ok, "virus_action = discard: nothing delivered, action=discard logged", s.where())


def failure_reason(s):
    m = re.search(r"clamd-failed reason=(.*)", s.log)
    return m.group(1).strip() if m else None


def clamd_failed(label, s, why, max_secs, min_secs):
    """The checks common to a message clamd failed on: the log gives the
    reason, the time taken is within [min_secs, max_secs]; why holds what
    the caller found wrong already."""
    if not failure_reason(s):
        why.append("no clamd-failed reason= in the log")
    if max_secs is not None and s.secs > max_secs:
        why.append("took %.1f s (limit %.1f s)" % (s.secs, max_secs))
    if min_secs is not None and s.secs < min_secs:
        why.append("took only %.1f s: clamd was not waited for" % s.secs)
    return result(not why, "%s (%.1f s, reason=%s)" % (label, s.secs, failure_reason(s)),
                  "; ".join(why) + " -- " + s.where())


def expect_tempfail(label, s, max_secs=None, min_secs=None):
    why = []
    if s.code != 451:
        why.append("expected 451")
    if s.copies:
        why.append("delivered")
    if s.decision is None or s.decision["action"] != "tempfail":
        why.append("no action=tempfail")
    return clamd_failed(label, s, why, max_secs, min_secs)


def expect_unchecked(label, s, max_secs=None, min_secs=None):
    why = []
    raw = s.got()
    if s.code != 250 or raw is None:
        why.append("expected delivery")
    else:
        hv = [v for k, v in check.unfold_headers(raw) if k == b"x-mailcorral-virus"]
        if not hv or not hv[0].startswith(b"unchecked ("):
            why.append("no X-MailCorral-Virus: unchecked (...) header (%r)" % hv)
        if not readings_hold(raw, EICAR_TAIL) and b"MARK-" not in raw:
            why.append("content lost")
    return clamd_failed(label, s, why, max_secs, min_secs)


def pdf_msg(tag):
    m = "MARK-%s-%d" % (tag, os.getpid())
    return multipart("attachment %s" % tag, [text_part(m), attach(b"%PDF-1.4\n%%EOF\n" * 3, "doc.pdf",
                                                                  "application/pdf")])


# clamd busy: 32 sessions at once against clamd's MaxThreads 12 and
# MaxConnectionQueueLength 15 (clamd.sh, as Debian's), 320 messages of the
# bench corpus (a ninth of them EICAR), clamd_timeout at its default (this
# is about a busy clamd, not a slow one).  Before clamd_max_connections and
# the retry of a full local queue, 8-21 % of such runs were tempfailed.
BUSY_CONC, BUSY_MSGS = 32, 320


def t_busy():
    drv = os.path.join(TOP, "testsuite/bench/milterdrv")
    mix = os.path.join(TOP, "testsuite/bench/corpus/mix")
    d = mctest.MilterDaemon(os.path.join(STACK_DIR, "busy"))
    shutil.rmtree(d.dir, ignore_errors=True)
    os.makedirs(os.path.join(d.dir, "spool"), exist_ok=True)
    mctest.write_conf(d.conf, "virus_e2e.py t_busy", [
        "allow_root = yes", "spool_dir = %s/spool" % d.dir, "spam_arbitron = none",
        "virus_arbitron = clamd", "clamd_servers = unix:%s/clamd.sock" % CLAMD_DIR])
    t0 = time.monotonic()
    try:
        if not result(d.spawn(os.environ.get("MAILCORRAL", os.path.join(TOP, "mailcorral"))),
                      "clamd busy: filter of its own starts", d.logtext()[-300:]):
            return
        p = subprocess.run([drv, "-j", "-q", "-s", "unix:" + d.sock, "-c", str(BUSY_CONC),
                            "-n", str(BUSY_MSGS), "-T", "30", "-d", mix],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        r = dict(kv.partition("=")[::2] for kv in p.stdout.decode().split())
        log = d.logtext()
        nfail = log.count("clamd-failed")
        got = "%s; %d clamd-failed lines%s" % (
            " ".join("%s=%s" % (k, r.get(k)) for k in ("messages", "errors", "tempfail", "reject",
                                                      "accept", "continue", "p99_ms")),
            nfail, (": " + re.findall(r"clamd-failed reason=.*", log)[0]) if nfail else "")
        result(p.returncode == 0 and r.get("messages") == str(BUSY_MSGS) and r.get("errors") == "0"
               and r.get("tempfail") == "0" and nfail == 0,
               "clamd busy: %d messages, %d sessions at once, clamd MaxThreads 12: none tempfailed (%.1f s)"
               % (BUSY_MSGS, BUSY_CONC, time.monotonic() - t0), got)
        # the EICAR messages of the corpus were scanned, not waved through
        neicar = len(re.findall(r"virus=Lab\.EICAR", log))
        result(neicar >= BUSY_MSGS // 9, "clamd busy: clamd found EICAR in every ninth message (%d)" % neicar,
               "%d decisions with virus=Lab.EICAR" % neicar)
        # clamd_fd_passing (default yes) on this unix: socket: clamd read the
        # parts from our memory files (its log names the file it scanned;
        # an INSTREAM is "instream(local)")
        try:
            with open(os.path.join(CLAMD_DIR, "clamd.log"), errors="replace") as f:
                clog = f.read()
        except OSError as e:
            clog = str(e)
        nfd = clog.count("/memfd:mailcorral-clamd (deleted): Lab.EICAR")
        result(nfd >= BUSY_MSGS // 9, "clamd busy: parts handed to clamd as descriptors (FILDES): "
               "%d EICAR found in /memfd:mailcorral-clamd" % nfd, clog[-300:])
    finally:
        if d.proc is not None:
            d.terminate(15)


def t_clamd_down():
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/clamd.sh"), "stop"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not result(r.returncode == 0, "stop clamd", r.stdout.decode(errors="replace")[-200:]):
        return
    if not restart_filter("base"):
        return
    for i in range(2):
        expect_tempfail("clamd down: tempfailed 451 #%d" % (i + 1), send("down", pdf_msg("down%d" % i)),
                        max_secs=SLACK)
    if not restart_filter("accept"):
        return
    for i in range(2):
        expect_unchecked("clamd down, on_clamd_failure = accept: delivered unchecked #%d" % (i + 1),
                         send("downacc", pdf_msg("downacc%d" % i)), max_secs=SLACK)
    qf = glob.glob(os.path.join(STACK_DIR, "mqueue", "*"))
    result(not qf, "clamd down: nothing left in sendmail's queue", "queue: %s" % qf[:5])


def t_clamd_hung():
    try:
        fake = FakeClamd(CLAMD_PORT)
    except OSError as e:
        result(False, "fake clamd listens on %d" % CLAMD_PORT, str(e))
        return
    try:
        if not restart_filter("breaker"):
            return
        # clamd_max_failures = 2: two messages wait for the timeout ...
        for i in range(2):
            expect_tempfail("clamd hung: tempfailed after clamd_timeout #%d" % (i + 1),
                            send("hung", pdf_msg("hung%d" % i)),
                            max_secs=TIMEOUT + SLACK, min_secs=TIMEOUT - 0.5)
        n = fake.accepted
        # ... then the breaker is open: the later ones fail at once
        for i in range(2):
            s = send("hungfast", pdf_msg("hungfast%d" % i))
            expect_tempfail("clamd hung: breaker open after clamd_max_failures, fails at once #%d" % (i + 1),
                            s, max_secs=1.5)
        result(fake.accepted == n, "clamd hung: breaker open, the fake is not contacted",
               "%d new connections" % (fake.accepted - n))
        if not restart_filter("accept1"):
            return
        expect_unchecked("clamd hung, on_clamd_failure = accept: delivered unchecked after the timeout",
                         send("hungacc", pdf_msg("hungacc")), max_secs=TIMEOUT + SLACK,
                         min_secs=TIMEOUT - 0.5)
        expect_unchecked("clamd hung, accept, breaker open (clamd_max_failures = 1): delivered at once",
                         send("hungacc", pdf_msg("hungacc2")), max_secs=1.5)
        # after clamd_backoff (3 s) one message tries clamd again
        time.sleep(4)
        n = fake.accepted
        expect_unchecked("clamd hung, accept: after clamd_backoff one message tries clamd again",
                         send("hungacc", pdf_msg("hungacc3")), max_secs=TIMEOUT + SLACK,
                         min_secs=TIMEOUT - 0.5)
        result(fake.accepted == n + 1, "clamd hung: the retry after clamd_backoff reached the fake",
               "%d new connections" % (fake.accepted - n))
        qf = glob.glob(os.path.join(STACK_DIR, "mqueue", "*"))
        result(not qf, "clamd hung: nothing left in sendmail's queue", "queue: %s" % qf[:5])
    finally:
        fake.close()


def main(argv):
    if len(argv) >= 4 and argv[1] == "--write-conf":
        write_conf(argv[2], argv[3])
        return 0
    return mctest.run_tests(R, [t_viruses, t_testfiles, t_controls, t_reject, t_discard,
                                t_busy, t_clamd_down, t_clamd_hung],
                            lambda: sender is not None and sender.close())


if __name__ == "__main__":
    sys.exit(main(sys.argv))

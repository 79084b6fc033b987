#!/usr/bin/env python3
"""MailCorral's Perl shim, end to end (run by testsuite/e2e/perl.sh).

  perl_e2e.py                      run the tests (the stack is running)
  perl_e2e.py --write-conf FILE V  write config variant V (base, reload)

Environment: TOP, STACK_DIR, SMTP_PORT, RUN_AS (set by perl.sh).  The
stack runs the daemon as root dropping to RUN_AS; the site filter is
perl/filter.pl, whose behaviour depends on the first word of the Subject.
Prints PASS/FAIL lines and ends with "N passed, N failed".
python3 stdlib only.
"""
import base64
import hashlib
import os
import pwd
import re
import signal
import sys
import threading
import time

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
STACK_DIR = os.environ.get("STACK_DIR", "/tmp/mc-e2e-perl")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "2615"))
RUN_AS = os.environ.get("RUN_AS", "mail")
HERE = os.path.join(TOP, "testsuite", "e2e", "perl")
TIMEOUT, GRACE, WORKERS, MEMORY = 3, 1, 2, 256 * 1024 * 1024

sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest                    # noqa: E402
from mctest import Sender, crlf, fsize, read_from, proc_status, children  # noqa: E402

BASE = [
    "user = %s" % RUN_AS,
    "spool_dir = @STACK_DIR@/spool",
    "bypass_key_file = @STACK_DIR@/spamkey",
    "corral_dir = @STACK_DIR@/corral",
    "spam_arbitron = none",
    "blacklist = black@example.org",
    "perl_shim = %s/perlshim.pl" % TOP,
    "perl_workers = %d" % WORKERS,
    "perl_timeout = %ds" % TIMEOUT,
    "perl_kill_grace = %ds" % GRACE,
    "perl_memory_limit = %d" % MEMORY,
    "perl_max_requests = 1000",
]
VARIANTS = {
    "base": ["perl_filter = %s/filter.pl" % HERE],
    "reload": ["perl_filter = %s/filter2.pl" % HERE],
}


def write_conf(path, variant):
    mctest.write_conf(path, "testsuite/e2e/perl.sh: variant %s (shortened timeouts)" % variant, BASE + VARIANTS[variant])


R = mctest.Results()
result = R.check


MAIL_DIR = os.path.join(STACK_DIR, "mail")
MC_LOG = os.path.join(STACK_DIR, "mailcorral.log")


def daemon_pid():
    with open(os.path.join(STACK_DIR, "mailcorral.bgpid")) as f:
        return int(f.read().strip())


def workers():
    return [c for c in children(daemon_pid()) if "perlshim.pl" in c[2] and c[1] != "Z"]


def zombies():
    return [c for c in children(daemon_pid()) if c[1] == "Z"]


def wait_workers(n, secs=5.0):
    end = time.time() + secs
    while time.time() < end:
        if len(workers()) == n and not zombies():
            return True
        time.sleep(0.05)
    return False


counter = [0]
local = threading.local()


def send(word, body=None, sender="sender@example.org", extra=""):
    """One message with Subject "<word> ...", on this thread's session."""
    s = getattr(local, "sender", None)
    if s is None or s.sender != sender:
        if s is not None:
            s.close()
        s = local.sender = Sender(SMTP_PORT, sender=sender)
    counter[0] += 1
    user = "p%s%d" % (re.sub(r"\W", "", word), counter[0])
    return mctest.send_logged(s, user, message(word, body, extra), MAIL_DIR, MC_LOG,
                              done=lambda log: user in log or mctest.DECISION.search(log))


def close_session():
    s = getattr(local, "sender", None)
    if s is not None:
        s.close()
        local.sender = None


def message(word, body, extra=""):
    h = ("From: Sender <sender@example.org>\n"
         "To: rcpt@mx.mailcorral.test\n"
         "Subject: %s test\n"
         "Date: Sun, 06 Dec 2026 22:00:00 +0000\n"
         "Message-ID: <perl.%s.%d.%d@example.org>\n"
         "MIME-Version: 1.0\n%s" % (word, re.sub(r"\W", "", word), os.getpid(), counter[0], extra))
    if body is None:
        body = "Content-Type: text/plain\n\nplain text\n"
    return crlf(h) + crlf(body) if isinstance(body, str) else crlf(h) + body


def multipart(parts, boundary="BOUNDARY-perl"):
    """parts: [(headers str, content bytes)] -> body incl. the top Content-Type."""
    out = b"Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n" % boundary.encode()
    for hdr, content in parts:
        out += b"--%s\r\n%s\r\n\r\n%s\r\n" % (boundary.encode(), crlf(hdr).rstrip(b"\r\n"), content)
    out += b"--%s--\r\n" % boundary.encode()
    return out


def b64(data):
    return crlf(base64.encodebytes(data))


TEXT = ("Content-Type: text/plain; charset=us-ascii", b"Hello, this is the text.\r\n")


def attachment(name, data, ctype="application/octet-stream"):
    return ("Content-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\n"
            "Content-Transfer-Encoding: base64" % (ctype, name, name), b64(data))


def names_in(msg):
    out = []
    for p in msg.walk():
        n = p.get_filename()
        if n:
            out.append(n)
    return out


def payload_of(msg, name):
    for p in msg.walk():
        if p.get_filename() == name:
            return p.get_payload(decode=True)
    return None


def failed_reason(s):
    m = re.search(r"perl-failed reason=(\S+)", s.log)
    return m.group(1) if m else None


# ------------------------------------------------------------ tests
def t_actions():
    # DROP: the .bin part goes through the rewriter, with a warning
    s = send("drop", multipart([TEXT, attachment("data.bin", b"\x00\x01binary"),
                                attachment("keep.pdf", b"%PDF-1.4 fine")]))
    m = s.msg()
    result(s.code == 250 and m is not None and "data.bin" not in names_in(m) and "keep.pdf" in names_in(m)
           and b"site-filter" in s.got() and "perl=none(drop:1" in (s.decision or {}).get("rest", ""),
           "perl drop a part", s.where())
    # RENAME keeps the bytes under the new name
    s = send("rename", multipart([TEXT, attachment("report.txt", b"quarterly report", "text/plain")]))
    m = s.msg()
    result(s.code == 250 and m is not None and names_in(m) == ["renamed.dat"]
           and payload_of(m, "renamed.dat") == b"quarterly report", "perl rename a part", s.where())
    # REPLACE: new content from the file the filter wrote
    s = send("replace", multipart([TEXT, attachment("old.txt", b"old content", "text/plain")]))
    m = s.msg()
    result(s.code == 250 and m is not None and "old.txt" not in names_in(m)
           and payload_of(m, "new.txt") == b"replacement of old content", "perl replace a part", s.where())
    # header add / change / delete
    s = send("hdradd")
    m = s.msg()
    result(s.code == 250 and m is not None and m.get("X-Site-Filter") == "added by the site",
           "perl add a header", s.where())
    s = send("hdrchange", extra="X-Change-Me: original\n")
    m = s.msg()
    result(s.code == 250 and m is not None and m.get_all("X-Change-Me") == ["changed by the site"],
           "perl change a header", s.where())
    s = send("hdrdelete", extra="X-Delete-Me: one\nX-Delete-Me: two\n")
    m = s.msg()
    result(s.code == 250 and m is not None and m.get_all("X-Delete-Me") is None and m.get("Subject"),
           "perl delete a header (every occurrence)", s.where())
    # whole-message verdicts
    s = send("reject")
    result(s.reply.startswith("554") and "5.7.1" in s.reply and "site policy says no" in s.reply
           and not s.copies and (s.decision or {}).get("action") == "reject", "perl reject", s.where())
    s = send("discard")
    result(s.code == 250 and not s.copies and (s.decision or {}).get("action") == "discard",
           "perl discard", s.where())
    s = send("tempfail")
    result(s.reply.startswith("451") and "4.3.0" in s.reply and "come back later" in s.reply
           and not s.copies, "perl tempfail", s.where())
    # ACCEPT skips the spam check: a blacklisted sender is not tagged
    s = send("accept", sender="black@example.org")
    m = s.msg()
    s2 = send("plain", sender="black@example.org")
    m2 = s2.msg()
    result(s.code == 250 and m is not None and "[SPAM]" not in (m.get("Subject") or "")
           and "via=site-filter" in (s.decision or {}).get("line", "") and m2 is not None
           and "[SPAM]" in (m2.get("Subject") or ""), "perl accept skips the spam check",
           s.where() + " / " + s2.where())
    close_session()
    # the filter's own print goes to stderr, not into the protocol
    s = send("print")
    m = s.msg()
    result(s.code == 250 and m is not None and m.get("X-Printed") == "yes", "perl filter print is harmless",
           s.where())


def t_sees_decoded():
    data = bytes(range(256)) * 4
    qp = ("Content-Type: text/plain; charset=utf-8; name=\"=?UTF-8?B?w6lsw6h2ZS50eHQ=?=\"\n"
          "Content-Disposition: inline; filename*=UTF-8''%C3%A9l%C3%A8ve.txt\n"
          "Content-Transfer-Encoding: quoted-printable", b"caf=C3=A9 =3D ok=\r\n more\r\n")
    s = send("echo", multipart([TEXT, attachment("bytes.dat", data), qp]))
    m = s.msg()
    seen = (m.get("X-Seen") if m is not None else "") or ""
    got = {}
    for item in seen.split():
        f = item.split(":")
        if len(f) == 6:
            got[bytes.fromhex(f[2]).decode("utf-8", "replace")] = (bytes.fromhex(f[1]).decode(),
                                                                   bytes.fromhex(f[3]).decode(),
                                                                   int(f[4]), f[5])
    want_bytes = ("application/octet-stream", "attachment", len(data), hashlib.md5(data).hexdigest())
    qp_dec = "café = ok more\r\n".encode()
    ok = got.get("bytes.dat") == want_bytes and "élève.txt" in got and \
        got["élève.txt"][3] == hashlib.md5(qp_dec).hexdigest() and got["élève.txt"][1] == "inline"
    result(s.code == 250 and ok, "perl filter sees decoded content and names", "%s; seen %r" % (s.where(), got))


def t_lazy():
    # a part the filter does not read is never written to a file
    want = b"the one part read\r\n"
    s = send("lazy", multipart([TEXT, attachment("want.txt", want, "text/plain"),
                                attachment("other.bin", b"\x00never written" * 100)]))
    m = s.msg()
    files = (m.get("X-Files") if m is not None else None) or ""
    result(s.code == 250 and m is not None and m.get("X-Want") == hashlib.md5(want).hexdigest()
           and re.fullmatch(r"part[0-9]+", files) is not None,
           "perl writes only the part the filter reads", "%s; files %r" % (s.where(), files))


def t_fs11():
    for word in ("die", "kill9", "abort", "nof"):
        s = send(word)
        s2 = send("hdradd")
        m2 = s2.msg()
        result(s.reply.startswith("451") and "4.3.0" in s.reply and not s.copies and failed_reason(s)
               and s2.code == 250 and m2 is not None and m2.get("X-Site-Filter"),
               "FS-11 %s: 451, next message OK" % word,
               "%s reason=%s / next: %s" % (s.where(), failed_reason(s), s2.where()))
    result(wait_workers(WORKERS) , "FS-11 workers respawned, no zombies",
           "workers %r zombies %r" % (workers(), zombies()))
    codes = {}
    t0 = time.time()
    for _ in range(100):
        s = send("kill9")
        codes[s.code] = codes.get(s.code, 0) + 1
    alive = os.path.exists("/proc/%d" % daemon_pid())
    back = wait_workers(WORKERS)
    s = send("hdradd")
    result(codes == {451: 100} and alive and back and s.code == 250,
           "FS-11 100 crashes in a row: daemon alive, %d workers, reaped" % WORKERS,
           "codes %r in %.1fs, alive %s, workers %r, zombies %r, next %s" %
           (codes, time.time() - t0, alive, workers(), zombies(), s.where()))


def rss_kb():
    v = proc_status(daemon_pid()).get("VmRSS", "0 kB").split()[0]
    return int(v)


def t_fs12():
    close_session()
    rss0 = rss_kb()
    res = {}

    def hang(word):
        s = send(word)
        close_session()
        res[word] = s

    off = fsize(MC_LOG)
    t0 = time.time()
    th = [threading.Thread(target=hang, args=(w,)) for w in ("sleep", "spin")]
    for t in th:
        t.start()
    time.sleep(0.8)     # both workers are busy now
    s = send("hdradd")
    close_session()
    result(s.reply.startswith("451") and s.secs < 1.5 and "no-free-workers" in s.log,
           "FS-12 all workers hung: tempfail at once (no free workers)", s.where())
    for t in th:
        t.join(60)
    # the two sessions ran at once: judge their log lines together
    log = read_from(MC_LOG, off)
    timeouts = len(re.findall(r"perl-failed reason=timeout", log))
    killed = len(re.findall(r"perl worker pid=\d+ timeout: SIG(?:TERM|KILL)", log))
    for w in ("sleep", "spin"):
        r = res.get(w)
        ok = r is not None and r.reply.startswith("451") and "4.3.0" in r.reply and \
            TIMEOUT <= r.secs <= TIMEOUT + 2 * GRACE + 1 and timeouts == 2 and killed == 2
        result(ok, "FS-12 %s: busy timeout %ds, worker killed, 451" % (w, TIMEOUT),
               "%s; %d timeouts, %d killed in the log" % (r.where() if r else "no result", timeouts, killed))
    # recovery: a good message within timeout + 2 * grace + 1 of the hang
    ok = None
    while time.time() - t0 <= TIMEOUT + 2 * GRACE + 1:
        s = send("hdradd")
        if s.code == 250:
            ok = time.time() - t0
            break
        time.sleep(0.2)
    close_session()
    result(ok is not None, "FS-12 recovery within timeout + 2*grace + 1 s",
           "recovered after %s s" % ok)
    s = send("alloc")
    result(s.reply.startswith("451") and failed_reason(s) in ("crash", "timeout"),
           "FS-12 4 GB allocation under RLIMIT_AS: 451", "%s reason=%s" % (s.where(), failed_reason(s)))
    back = wait_workers(WORKERS)
    rss1 = rss_kb()
    slack = 64 * 1024 if os.environ.get("MC_ASAN") == "1" else 8 * 1024   # kB; ASan's quarantine grows
    result(back and rss1 - rss0 < slack, "FS-12 workers back, daemon RSS unchanged",
           "RSS %d -> %d kB; workers %r zombies %r" % (rss0, rss1, workers(), zombies()))


def t_scp1():
    marker = os.path.join(STACK_DIR, "pwned")
    evil_name = "$(touch %s);`touch %s`;x|y&z>w.bin" % (marker, marker)
    evil_body = ("$(touch {0}) `touch {0}` ; touch {0} | sh -c 'touch {0}'\r\n".format(marker)).encode()
    s = send("echo", multipart([TEXT, attachment(evil_name, evil_body)]))
    m = s.msg()
    seen = (m.get("X-Seen") if m is not None else "") or ""
    names = []
    md5s = []
    for item in seen.split():
        f = item.split(":")
        if len(f) == 6:
            names.append(bytes.fromhex(f[2]).decode("utf-8", "replace"))
            md5s.append(f[5])
    result(s.code == 250 and evil_name in names and hashlib.md5(evil_body).hexdigest() in md5s
           and not os.path.exists(marker), "SC-P1 shell metacharacters reach the filter verbatim, nothing runs",
           "%s; names %r; marker exists %s" % (s.where(), names, os.path.exists(marker)))
    s = send("whoami")
    m = s.msg()
    w = (m.get("X-Worker") if m is not None else "") or ""
    mm = re.match(r"pid=(\d+) taint=(\d) uid=(\d+)", w)
    uid = pwd.getpwnam(RUN_AS).pw_uid
    detail = "header %r" % w
    ok = False
    if mm:
        pid = int(mm.group(1))
        st = proc_status(pid)
        try:
            with open("/proc/%d/limits" % pid) as f:
                lim = [ln for ln in f if ln.startswith("Max address space")]
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError as e:
            lim, argv = [str(e)], []
        uids = st.get("Uid", "").split()
        ok = mm.group(2) == "1" and uids and all(int(u) == uid for u in uids) and uid != 0 and \
            lim and lim[0].split()[3] == str(MEMORY) and argv[:2] == [b"/usr/bin/perl", b"-T"] or \
            (mm.group(2) == "1" and uids and all(int(u) == uid for u in uids) and uid != 0 and
             lim and lim[0].split()[3] == str(MEMORY) and argv[:2] == [b"perl", b"-T"])
        ok = bool(ok) and st.get("PPid") == str(daemon_pid())
        detail += "; Uid %r; limits %r; argv %r; ppid %s" % (uids, lim, argv[:4], st.get("PPid"))
    result(s.code == 250 and ok, "SC-P1 workers: unprivileged user, taint mode, RLIMIT_AS", detail)
    for word, reason in (("badname", "bad-header-name"), ("crlf", "bad-value"), ("badpart", "bad-part"),
                         ("escape", "bad-path"), ("unknownverb", "bad-verb")):
        s = send(word, multipart([TEXT, attachment("a.txt", b"x", "text/plain")]))
        got = b"Bcc:" in (s.got() or b"")
        result(s.reply.startswith("451") and not s.copies and not got and
               (failed_reason(s) or "").endswith(reason),
               "SC-P1 reply refused: %s" % word, "%s reason=%s" % (s.where(), failed_reason(s)))


def t_scp2():
    for word in ("nof", "halfline"):
        s = send(word)
        result(s.reply.startswith("451") and "4.3.0" in s.reply and not s.copies and
               failed_reason(s) == "crash", "SC-P2 output cut short (%s): 451" % word,
               "%s reason=%s" % (s.where(), failed_reason(s)))


def t_scp2_after_f():
    # in the same write as the answer: the answer is refused
    s = send("afterf")
    result(s.reply.startswith("451") and failed_reason(s) == "bad-reply:data-after-terminator",
           "SC-P2 bytes after the F line (same write): refused", "%s reason=%s" % (s.where(), failed_reason(s)))
    # written later: the next message on that worker finds them waiting
    s = send("afterflate")
    time.sleep(0.5)
    res = [send("hdradd") for _ in range(WORKERS + 1)]
    stale = [r for r in [s] + res if r.got() and b"X-Stale" in r.got()]
    m = s.msg()
    ok = s.code == 250 and m is not None and m.get("X-After-F") == "late" and not stale and \
        "out-of-step" in "".join(r.log for r in res) and all(r.code == 250 for r in res)
    result(ok, "SC-P2 bytes after the F line (later): that worker is stopped, the next message served by "
           "another; never read as an answer",
           "; ".join("%s %s" % (r.reply[:3], failed_reason(r)) for r in [s] + res) + "; stale %d" % len(stale))


def t_reload():
    close_session()
    old = sorted(w[0] for w in workers())
    path = os.path.join(STACK_DIR, "mailcorral.conf")
    conf = open(path).read().replace("%s/filter.pl" % HERE, "%s/filter2.pl" % HERE)
    with open(path, "w") as f:
        f.write(conf)
    off = fsize(MC_LOG)
    os.kill(daemon_pid(), signal.SIGUSR1)
    end = time.time() + 20      # a reload reads SpamAssassin's files too: slow under ASan
    while time.time() < end and "configuration reloaded" not in read_from(MC_LOG, off):
        time.sleep(0.05)
    reload_secs = time.time() - (end - 20)
    s = send("hdradd")
    m = s.msg()
    close_session()
    time.sleep(0.3)
    new = sorted(w[0] for w in workers())
    result(s.code == 250 and m is not None and m.get("X-Filter") == "two" and m.get("X-Site-Filter") is None
           and wait_workers(WORKERS) and not set(old) & set(w[0] for w in workers()),
           "perl SIGUSR1 reload: new filter used, old workers retired",
           "%s; workers %r -> %r; reload logged after %.1fs" % (s.where(), old, new, reload_secs))


def reload_with(conf):
    path = os.path.join(STACK_DIR, "mailcorral.conf")
    with open(path, "w") as f:
        f.write(conf)
    off = fsize(MC_LOG)
    os.kill(daemon_pid(), signal.SIGUSR1)
    end = time.time() + 20
    while time.time() < end and "configuration reloaded" not in read_from(MC_LOG, off):
        time.sleep(0.05)
    return "configuration reloaded" in read_from(MC_LOG, off)


def t_reload_off():
    close_session()
    path = os.path.join(STACK_DIR, "mailcorral.conf")
    conf = open(path).read()
    off_conf = "".join(ln for ln in conf.splitlines(True) if not ln.startswith("perl_filter"))
    ok1 = reload_with(off_conf)
    s = send("hdradd")
    close_session()
    gone = wait_workers(0)
    result(ok1 and s.code == 250 and s.decision is not None and "perl=" not in s.decision["line"] and gone,
           "perl SIGUSR1 reload with perl_filter unset: shim off, workers stopped",
           "%s; workers %r" % (s.where(), workers()))
    ok2 = reload_with(conf)
    result(ok2 and wait_workers(WORKERS), "perl SIGUSR1 reload back on: %d workers" % WORKERS,
           "workers %r" % workers())


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--write-conf":
        write_conf(sys.argv[2], sys.argv[3])
        return 0
    t_start = time.time()
    result(wait_workers(WORKERS), "perl workers started (%d)" % WORKERS,
           "workers %r" % workers())
    for fn in (t_actions, t_sees_decoded, t_lazy, t_fs11, t_fs12, t_scp1, t_scp2, t_scp2_after_f, t_reload, t_reload_off):
        try:
            fn()
        except Exception as e:  # a crashed test is a failed test
            import traceback
            traceback.print_exc()
            result(False, fn.__name__, "exception %r" % e)
        close_session()
    # clean stop, with a message stuck in a worker: it gives up, the
    # workers go with the daemon, nothing is left behind
    pid = daemon_pid()
    wk = [w[0] for w in workers()]
    stuck = {}

    def hung():
        stuck["s"] = send("sleep")
        close_session()

    th = threading.Thread(target=hung)
    th.start()
    time.sleep(0.5)
    wk = sorted(set(wk) | set(w[0] for w in workers()))
    t0 = time.time()
    rc, out = mctest.stack("stop")
    stop_secs = time.time() - t0
    th.join(30)
    time.sleep(0.2)
    left = [w for w in wk if os.path.exists("/proc/%d" % w)]
    log = read_from(MC_LOG, 0)
    spool = os.listdir(os.path.join(STACK_DIR, "spool"))
    st = stuck.get("s")
    result(rc == 0 and not left and not os.path.exists("/proc/%d" % pid) and
           "private data not NULL" not in log and not [n for n in spool if n.startswith("perl.")]
           and st is not None and not st.copies and st.code != 250 and stop_secs < 15,
           "perl clean stop with a hung worker: workers gone, temp dirs removed",
           "rc %d in %.1fs, left %r, spool %r, stuck message %s, %s" %
           (rc, stop_secs, left, spool[:5], st.where() if st else None, out[-200:]))
    print("# perl suite took %.1f s" % (time.time() - t_start), file=sys.stderr)
    print(R.line(), flush=True)
    return R.rc()


if __name__ == "__main__":
    sys.exit(main())

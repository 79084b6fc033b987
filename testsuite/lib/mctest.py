"""mctest.py -- the helpers every python test suite had its own copy of.

    sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
    import mctest

Results (one counter per suite; the shell side is testsuite/lib/result.sh):
    R = mctest.Results()
    R.check(ok, name, why="")   prints "PASS name" or "FAIL name: why",
                                counts it, returns ok
    R.skip(name, why="")        prints "SKIP name: why", counts it
    R.record(ok, line)          counts a result the caller printed as line
    R.line()                    "N passed, N failed" (every suite's last line)
    R.save(path)                writes "PASSED FAILED SKIPPED" for a shell
                                wrapper that adds its own checks
                                (result.sh: result_add_file)
    R.rc()                      exit status: 1 when something failed

The daemon's decision line ("QID: action=... from=<...> nrcpt=N size=N",
verdict.c verdict_log) and its log file:
    parse_decision(line)        dict of its fields, or None
    decision_lines(text, qid=None)
    qid_lines(text, qid)        every line about one message
    fsize(path), read_from(path, off)  a log as it grows
    log_for(path, qid)          qid_lines of the log file at path
    wait_for(pred, timeout, step)      pred's value once truthy, or its last

Processes (/proc): proc_field(pid, "VmRSS"), proc_cpu(pid), proc_fds(pid),
children(pid).  MilterDaemon: one mailcorral -f on a unix socket, without
sendmail (spawn, terminate, and the same readers).

Messages: crlf(s), str or bytes to bytes with CRLF line ends;
test_msg(domain, subject=, body=, extra=, msgid=, date=, frm=) a CRLF
message to u@domain with a fresh Message-ID and today's Date;
exe_msg(domain, nonce, **kw) the same, multipart with an evil.exe part;
parse_mail(path) a delivered copy as an EmailMessage; plain_text(msg) its
text/plain body (the whole message when it has none).

The running private stack (testsuite/stack/stack.sh):
    write_conf(path, comment, lines)  a config for it (@STACK_DIR@ is its)
    stack(cmd, *args, env=None)  runs stack.sh CMD ARGS; (rc, output)
    restart_filter(conf, sender) closes sender's session, restarts the
                                filter with conf; (rc, output)
    smtp_text(port, sender, rcpts, text)  one message (str, any line
                                ends) in one SMTP session
    send_logged(sender, user, raw, mail_dir, log)  one message over SMTP
                                (testsuite/stack/send.py's Sender), then
                                waits for its decision line and delivered
                                copy; returns a Sent

python3 stdlib only.  Errors are the caller's to report: nothing here
prints PASS or FAIL by itself except Results.
"""
import email
import email.policy
import os
import re
import signal
import smtplib
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "testsuite", "stack"))
sys.path.insert(0, os.path.join(TOP, "testsuite"))
import check  # noqa: E402  testsuite/check.py: find_delivered
from send import Sender, to_crlf  # noqa: E402,F401  Sender: re-exported for the suites

DOMAIN = "mx.mailcorral.test"


# ------------------------------------------------------------ results
class Results:
    """One suite's PASS/FAIL/SKIP counter."""

    def __init__(self):
        self.npass = self.nfail = self.nskip = 0

    def check(self, ok, name, why=""):
        if ok:
            self.npass += 1
            print("PASS %s" % name, flush=True)
        else:
            self.nfail += 1
            print("FAIL %s%s" % (name, ": " + why if why else ""), flush=True)
        return ok

    def record(self, ok, line):
        """Counts a result whose line the caller made (check.py's
        "PASS nnn ..." / "FAIL nnn ..."), and prints it."""
        if ok:
            self.npass += 1
        else:
            self.nfail += 1
        print(line, flush=True)
        return ok

    def skip(self, name, why=""):
        self.nskip += 1
        print("SKIP %s%s" % (name, ": " + why if why else ""), flush=True)

    def line(self):
        return "%d passed, %d failed" % (self.npass, self.nfail)

    def save(self, path):
        with open(path, "w") as f:
            f.write("%d %d %d\n" % (self.npass, self.nfail, self.nskip))

    def rc(self):
        return 1 if self.nfail else 0


def run_tests(results, tests, finish=None):
    """Runs each of tests (functions without arguments) in turn; a crash
    of the driver is a failure ("driver"); then finish() when given; prints
    the run time and results' closing line.  Returns the exit status."""
    t0 = time.time()
    try:
        for t in tests:
            t()
    except Exception as e:
        import traceback
        traceback.print_exc()
        results.check(False, "driver", repr(e))
    finally:
        if finish is not None:
            finish()
    print("# run time %.1f s" % (time.time() - t0), flush=True)
    print(results.line(), flush=True)
    return results.rc()


# ------------------------------------------------------------ decision line
# verdict.c verdict_log(): "QID: action=A changes=removed:N,renamed:N,
# defanged:N[ summary] spam=S[ via=V] virus=V clamd=N mime=W views=N
# [ spamd-server=S][ clamd-server=S,...][ bypass=|corral=][ perl=]
# [ archive=] from=<S> nrcpt=N size=N", written
# through log.c as "Mon dd hh:mm:ss mailcorral[PID]: QID: ...".
DECISION_HEAD = re.compile(r"\]: (\S+): action=(\S+) ")
DECISION = re.compile(
    r"\]: (?P<qid>\S+): action=(?P<action>\S+) changes=(?P<changes>.*?) "
    r"spam=(?P<spam>\S+)(?: via=(?P<via>\S+))?.*? virus=(?P<virus>.*?) "
    r"clamd=(?P<clamd>\d+) mime=(?P<mime>\S+) views=(?P<views>\d+)(?P<rest>.*?) from=")


def parse_decision(line):
    """The fields of a decision line (strings; clamd and views as int;
    "rest" is what stands between views and from=, e.g. " archive=...";
    "line" the whole line), or None when line is none."""
    m = DECISION.search(line)
    if not m:
        return None
    d = m.groupdict()
    d["clamd"], d["views"], d["line"] = int(d["clamd"]), int(d["views"]), line
    return d


def qid_lines(text, qid):
    """Every line of text about queue id qid (log.c: "...: QID: ...")."""
    return [line for line in text.split("\n") if (" %s: " % qid) in line]


def decision_lines(text, qid=None):
    """The decision lines in text (of queue id qid when given)."""
    out = []
    for line in text.splitlines():
        m = DECISION_HEAD.search(line)
        if m and (qid is None or m.group(1) == qid):
            out.append(line)
    return out


# ------------------------------------------------------------ messages
def crlf(s):
    """s (str or bytes) as bytes with CRLF line ends."""
    return to_crlf(s.encode() if isinstance(s, str) else s)


EXE_B64 = b"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA"


def test_msg(domain, subject=b"test", body=b"hello\r\n", extra=b"", msgid=None, date=None,
             frm=b"a@example.org"):
    """A message (bytes, CRLF) from frm to u@domain; extra: more header
    lines; msgid and date: bytes, or fresh ones."""
    n = "%d.%d" % (time.time_ns(), os.getpid())
    h = b"From: " + frm + b"\r\nTo: u@" + domain.encode() + b"\r\nSubject: " + subject + b"\r\n"
    h += b"Message-ID: " + (msgid or ("<%s@test>" % n).encode()) + b"\r\n"
    h += b"Date: " + (date or time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()).encode()) + b"\r\n"
    return h + extra + b"\r\n" + body


def exe_msg(domain, nonce, **kw):
    """test_msg with a text part holding nonce and a Windows executable
    attachment (evil.exe, base64)."""
    body = (b"--BB\r\nContent-Type: text/plain\r\n\r\n" + nonce + b"\r\n"
            b"--BB\r\nContent-Type: application/octet-stream; name=\"evil.exe\"\r\n"
            b"Content-Disposition: attachment; filename=\"evil.exe\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + EXE_B64 + b"\r\n--BB--\r\n")
    extra = kw.pop("extra", b"") + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n"
    return test_msg(domain, body=body, extra=extra, **kw)


def parse_mail(path):
    """The message in file path (email.policy.default)."""
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def plain_text(msg):
    """The text/plain body of msg, or msg's own content when it has none."""
    part = msg.get_body(preferencelist=("plain",)) or msg
    return part.get_content()


# ------------------------------------------------------------ log files
def fsize(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path, off=0, encoding="utf-8"):
    """The text of path from byte off on ("" when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(off)
            return f.read().decode(encoding, "replace")
    except OSError:
        return ""


def log_for(path, qid):
    """Every line of the log file at path about queue id qid."""
    return qid_lines(read_from(path), qid)


def wait_for(pred, timeout, step=0.2):
    """Calls pred until it returns something true or timeout seconds went
    by; returns its last value."""
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(step)


# ------------------------------------------------------------ processes
def proc_status(pid):
    """/proc/PID/status as a dict of strings ({} when gone)."""
    d = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def proc_field(pid, key):
    """A number of /proc/PID/status (VmRSS, VmHWM in KiB, Threads); -1
    when unknown."""
    try:
        return int(proc_status(pid).get(key, "-1").split()[0])
    except (ValueError, IndexError):
        return -1


def proc_cpu(pid):
    """User + system CPU seconds of pid (0.0 when gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def proc_fds(pid):
    """Open descriptors of pid; -1 when gone."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def children(pid):
    """[(child pid, state letter, command line)] of pid, from /proc."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_status(int(name))
        if st.get("PPid") == str(pid):
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmd = ""
            out.append((int(name), st.get("State", "?")[:1], cmd))
    return out


# ------------------------------------------------------------ a daemon alone
class MilterDaemon:
    """One mailcorral -f on a unix socket in a directory of its own (mc.conf,
    mc.sock, mc.log), without sendmail: the milter-level suites drive it with
    milterdrv or milter.py.  The suite writes the config; proc is the Popen."""

    def __init__(self, directory):
        self.dir = directory
        self.sock = os.path.join(directory, "mc.sock")
        self.log = os.path.join(directory, "mc.log")
        self.conf = os.path.join(directory, "mc.conf")
        self.proc = None

    def spawn(self, mc, extra_args=(), wait=60.0, **popen):
        """Starts mc -f -c conf -p unix:sock [extra_args], its output
        appended to the log.  True once the socket is there, False when
        wait seconds went by first; RuntimeError when it exited."""
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen([mc, "-f", "-c", self.conf, "-p", "unix:" + self.sock]
                                         + list(extra_args), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, **popen)
        finally:
            logf.close()
        end = time.monotonic() + wait
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start (rc %s): %s"
                                   % (mc, self.proc.returncode, self.logtext()[-500:]))
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def terminate(self, timeout):
        """SIGTERM, then SIGKILL after timeout seconds; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self, key):
        return proc_field(self.pid, key)

    def fds(self):
        return proc_fds(self.pid)

    def threads(self):
        return proc_field(self.pid, "Threads")

    def rss(self):
        """VmRSS in KiB, -1 when unknown."""
        return proc_field(self.pid, "VmRSS")

    def cpu(self):
        return proc_cpu(self.pid)

    def logtext(self, off=0):
        return read_from(self.log, off)

    def logsize(self):
        return fsize(self.log)


# ------------------------------------------------------------ the stack
def write_conf(path, comment, lines):
    """A mailcorral.conf for stack.sh: "# comment", then one line each."""
    with open(path, "w") as f:
        f.write("# %s\n" % comment)
        f.write("\n".join(lines) + "\n")


def stack(cmd, *args, env=None, timeout=None):
    """testsuite/stack/stack.sh CMD ARGS...; returns (exit status, output)."""
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/stack.sh"), cmd] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def smtp_text(port, sender, rcpts, text):
    """Sends text (str; its line ends become CRLF) to sender's stack on
    127.0.0.1:port in a session of its own; smtplib's errors go up."""
    data = re.sub(r"\r?\n", "\r\n", text).encode("utf-8")
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=120)
    try:
        s.sendmail(sender, rcpts, data)
    finally:
        s.quit()


def restart_filter(conf, sender=None):
    """Restarts the stack's filter with config file conf; closes sender
    (a send.Sender) first: sendmail opens the milter connection per SMTP
    session, and a session open before the restart would get 451 4.3.2
    from then on.  Returns (exit status, output) of stack.sh."""
    if sender is not None:
        sender.close()
    return stack("restart-filter", conf)


class Sent:
    """One message sent: SMTP reply, seconds taken, the log written since,
    its decision (parse_decision of the last decision line in it), the
    delivered copies."""

    def __init__(self, user, raw, reply, secs, log, copies):
        self.user, self.raw, self.reply, self.secs = user, raw, reply, secs
        self.log, self.copies = log, copies
        self.code = int(reply[:3]) if reply[:3].isdigit() else 0
        self.decision = None
        for line in log.splitlines():
            d = parse_decision(line)
            if d:
                self.decision = d

    def got(self):
        """The one delivered copy's bytes; None unless exactly one."""
        if len(self.copies) != 1:
            return None
        with open(self.copies[0], "rb") as f:
            return f.read()

    def msg(self):
        raw = self.got()
        return email.message_from_bytes(raw, policy=email.policy.compat32) if raw else None

    def where(self):
        d = self.decision["line"] if self.decision else "no decision line"
        return "SMTP %r in %.1fs; %d copies; %s" % (self.reply[:80], self.secs, len(self.copies), d[-400:])


def send_logged(sender, user, raw, mail_dir, log, done=None, settle=3.0):
    """Sends raw to user@DOMAIN on sender's session and waits (at most
    settle seconds) until done(log text since the send) holds -- by
    default: a decision line is there -- and, after a 250, a copy was
    delivered.  The decision line is written before sendmail answers;
    the wait allows for buffering and for the local delivery."""
    done = done or (lambda text: DECISION.search(text))
    off = fsize(log)
    t0 = time.time()
    reply = sender.send(user + "@" + DOMAIN, raw)
    secs = time.time() - t0
    deadline = time.time() + settle
    while True:
        text = read_from(log, off)
        copies = check.find_delivered(mail_dir, user)
        if done(text) and (reply[:3] != "250" or copies):
            break
        if time.time() > deadline:
            break
        time.sleep(0.02)
    return Sent(user, raw, reply, secs, text, copies)

#!/usr/bin/env python3
"""The scanner pools end to end (run by testsuite/pools/pools.sh, make pools).

  pools_e2e.py                      run the checks (stack and scanners up)
  pools_e2e.py --write-conf FILE    write the filter's config

Environment: TOP, STACK_DIR, SMTP_PORT, SPAMD_PORT, SPAMD2_PORT,
CLAMD_PORT, CLAMD2_PORT (set by pools.sh).  Two real spamd and two real
clamd serve one filter with scanner_balance = spread and tempfail on
every scanner failure, so a failure shows as a 451:
  1. both up: every message is checked by spamd and scanned by clamd,
     and each of the four servers gets a share (the decision line's
     spamd-server= and clamd-server=);
  2. the second spamd and the second clamd killed: no message tempfailed,
     the breakers log "<what>-server-paused", and after them every
     message goes to the first servers only;
  3. the second clamd started again: after clamd_backoff one scan tries
     it alone, it is back ("clamd-server-back") and gets a share again.
Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import base64
import os
import re
import signal
import subprocess
import sys
import time

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
STACK_DIR = os.environ.get("STACK_DIR", "/tmp/st-pools-e2e")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "3650"))
SPAMD = ["127.0.0.1:%s" % os.environ.get("SPAMD_PORT", "3651"),
         "127.0.0.1:%s" % os.environ.get("SPAMD2_PORT", "3652")]
CLAMD = ["127.0.0.1:%s" % os.environ.get("CLAMD_PORT", "3653"),
         "127.0.0.1:%s" % os.environ.get("CLAMD2_PORT", "3654")]
BACKOFF = 3            # clamd_backoff and spamd_backoff (seconds)

sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest                    # noqa: E402
from mctest import Sender, fsize, read_from  # noqa: E402

MAIL_DIR = os.path.join(STACK_DIR, "mail")
MC_LOG = os.path.join(STACK_DIR, "mailcorral.log")
R = mctest.Results()
check = R.check


def write_conf(path):
    mctest.write_conf(path, "testsuite/pools/pools.sh", [
        "spool_dir = @STACK_DIR@/spool",
        "bypass_key_file = @STACK_DIR@/spamkey",
        "corral_dir = @STACK_DIR@/corral",
        "spam_arbitron = spamd",
        "spamd_servers = %s, %s" % tuple(SPAMD),
        "on_spamd_failure = tempfail",
        "spamd_max_failures = 2",
        "spamd_backoff = %ds" % BACKOFF,
        "virus_arbitron = clamd",
        "clamd_servers = %s %s" % tuple(CLAMD),
        "on_clamd_failure = tempfail",
        "clamd_max_failures = 2",
        "clamd_backoff = %ds" % BACKOFF,
        "clamd_timeout = 10s",
        "scanner_balance = spread",
    ])


sender = None
counter = [0]


def send_one(tag):
    """One message with a small attachment (clamd scans it); its Sent."""
    global sender
    if sender is None:
        sender = Sender(SMTP_PORT)
    counter[0] += 1
    n = counter[0]
    att = base64.encodebytes(b"%%PDF-1.4\n%% report %d\n" % n + bytes(range(256)) * 4).decode()
    raw = ("From: Sender <sender@example.org>\n"
           "To: rcpt@mx.mailcorral.test\n"
           "Subject: pools %s %d\n"
           "Date: Tue, 08 Dec 2026 03:00:00 +0000\n"
           "Message-ID: <pools.%d.%d@example.org>\n"
           "MIME-Version: 1.0\n"
           "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
           "--b\nContent-Type: text/plain\n\nHello, the data of run %d.\n"
           "--b\nContent-Type: application/pdf; name=\"report%d.pdf\"\n"
           "Content-Transfer-Encoding: base64\n\n%s--b--\n"
           % (tag, n, os.getpid(), n, n, n, att))
    return mctest.send_logged(sender, "pool%d" % n, mctest.crlf(raw), MAIL_DIR, MC_LOG,
                              settle=15.0)


def run(tag, count):
    """Sends count messages; (replies, spamd servers, clamd servers)."""
    codes, sp, cl = [], [], []
    for _ in range(count):
        s = send_one(tag)
        codes.append(s.code)
        line = s.decision["line"] if s.decision else ""
        m = re.search(r" spamd-server=(\S+)", line)
        sp.append(m.group(1) if m else None)
        m = re.search(r" clamd-server=(\S+)", line)
        cl.append(m.group(1) if m else None)
        if s.code != 250:
            print("# %s: %s" % (tag, s.where()), flush=True)
    return codes, sp, cl


def shares(names, servers):
    return dict((srv, sum(1 for x in names if x == srv)) for srv in servers)


def kill_pidfile(path, sig):
    with open(path) as f:
        pid = int(f.read().split()[0])
    os.kill(pid, sig)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def t_both_up():
    codes, sp, cl = run("both", 12)
    check(codes == [250] * 12, "both up: 12 messages accepted", repr(codes))
    check(None not in sp and None not in cl,
          "both up: every decision line names its spamd and clamd server", "%r %r" % (sp, cl))
    s, c = shares(sp, SPAMD), shares(cl, CLAMD)
    check(min(s.values()) >= 4, "both up: each spamd answered a share (>= 4 of 12)", repr(s))
    check(min(c.values()) >= 4, "both up: each clamd scanned a share (>= 4 of 12)", repr(c))


def t_one_killed():
    off = fsize(MC_LOG)
    # spamd.sh stop: SIGTERM to the parent ends its children too
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/spamd.sh"), "stop"],
                       env=dict(os.environ, SPAMD_DIR=os.path.join(STACK_DIR, "spamd2"),
                                SPAMD_PORT=SPAMD[1].split(":")[1]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = kill_pidfile(os.path.join(STACK_DIR, "clamd2", "clamd.pid"), signal.SIGKILL)
    check(r.returncode == 0 and ok, "the second spamd and the second clamd stopped")
    t0 = time.time()
    codes, sp, cl = run("killed", 10)
    secs = time.time() - t0
    text = read_from(MC_LOG, off)
    check(codes == [250] * 10, "one of each killed: 10 messages accepted, none tempfailed", repr(codes))
    check(sp == [SPAMD[0]] * 10, "one of each killed: spamd %s answered every one" % SPAMD[0], repr(sp))
    check(cl == [CLAMD[0]] * 10, "one of each killed: clamd %s scanned every one" % CLAMD[0], repr(cl))
    check(("spamd-server-paused server=%s failures=2" % SPAMD[1]) in text,
          "spamd-server-paused logged for the killed spamd")
    check(("clamd-server-paused server=%s failures=2" % CLAMD[1]) in text,
          "clamd-server-paused logged for the killed clamd")
    check(not re.search(r"(spamd|clamd)-server-paused server=127\.0\.0\.1:(%s|%s)"
                        % (SPAMD[0].split(":")[1], CLAMD[0].split(":")[1]), text),
          "the servers still up were never paused")
    check(secs < 60, "the 10 messages took %.1f s (no connect timeouts)" % secs)


def t_back():
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/clamd.sh"), "start"],
                       env=dict(os.environ, CLAMD_DIR=os.path.join(STACK_DIR, "clamd2"),
                                CLAMD_PORT=CLAMD[1].split(":")[1], CLAMD_MAX_THREADS="4"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not check(r.returncode == 0, "the second clamd started again", r.stdout.decode()[-200:]):
        return
    off = fsize(MC_LOG)
    time.sleep(BACKOFF + 1)
    codes, sp, cl = run("back", 8)
    text = read_from(MC_LOG, off)
    check(codes == [250] * 8, "clamd back: 8 messages accepted", repr(codes))
    check(("clamd-server-back server=%s" % CLAMD[1]) in text,
          "clamd-server-back logged after its back-off")
    c = shares(cl, CLAMD)
    check(c[CLAMD[1]] >= 2, "clamd back: the second clamd scans a share again", repr(c))
    check(sp == [SPAMD[0]] * 8, "spamd 2 still down: spamd 1 answered every one", repr(sp))


def main(argv):
    if len(argv) >= 3 and argv[1] == "--write-conf":
        write_conf(argv[2])
        return 0
    t0 = time.time()
    try:
        t_both_up()
        t_one_killed()
        t_back()
    except Exception as e:          # a crash of the driver is a failure
        import traceback
        traceback.print_exc()
        check(False, "driver", repr(e))
    finally:
        if sender is not None:
            sender.close()
    print("# run time %.1f s" % (time.time() - t0), flush=True)
    print(R.line(), flush=True)
    return R.rc()


if __name__ == "__main__":
    sys.exit(main(sys.argv))

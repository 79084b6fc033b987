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
     it alone, it is back ("clamd-server-back") and gets a share again;
  4. the archive index with archive_db_host naming two independent
     MariaDB servers (DB_PORT, DB2_PORT; the filter restarted as nobody,
     scanners off): rows go to the first; the first killed, the indexer
     moves to the second; both down, the journal keeps the rows; the
     first started again, they are replayed into it.  At the end the two
     tables together hold every message's row exactly once and the
     journal is empty.
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
DB_PORTS = [int(os.environ.get("DB_PORT", "3655")), int(os.environ.get("DB2_PORT", "3656"))]
DB_DIRS = [os.path.join(STACK_DIR, "db1"), os.path.join(STACK_DIR, "db2")]
JOURNAL = os.path.join(STACK_DIR, "own", "index.journal")

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


def write_archive_conf(path):
    mctest.write_conf(path, "testsuite/pools/pools.sh: the index over two nodes", [
        "user = nobody",
        "spool_dir = @STACK_DIR@/own/spool",
        "bypass_key_file = @STACK_DIR@/own/spamkey",
        "corral_dir = @STACK_DIR@/own/corral",
        "spam_arbitron = builtin",
        "archive_dir = @STACK_DIR@/own/archive",
        "archive_journal = @STACK_DIR@/own/index.journal",
        "archive_db_host = 127.0.0.1:%d, 127.0.0.1:%d" % tuple(DB_PORTS),
        "archive_db_name = mailcorral",
        "archive_db_user = mailcorral",
        "archive_db_password_file = %s/password" % DB_DIRS[0],
        "archive_db_timeout = 2s",
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


def db(n, cmd, *args):
    return subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/mariadb.sh"), cmd] + list(args),
                          env=dict(os.environ, DB_DIR=DB_DIRS[n], DB_PORT=str(DB_PORTS[n])),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def db_keys(n):
    """The msg_key of every row in node n's table (a list), or None."""
    r = db(n, "sql", "SELECT msg_key FROM mailcorral.mailcorral_archive")
    if r.returncode != 0:
        return None
    return r.stdout.decode().split()


def wait_log(off, pattern, secs):
    return mctest.wait_for(lambda: re.search(pattern, read_from(MC_LOG, off)), secs)


def journal_empty():
    try:
        return os.path.getsize(JOURNAL) == 0
    except OSError:
        return False


def send_plain(n):
    codes = []
    for _ in range(n):
        codes.append(send_one("archive").code)
    return codes


def t_archive():
    global sender
    path = os.path.join(STACK_DIR, "archive.conf")
    write_archive_conf(path)
    off = fsize(MC_LOG)
    rc, out = mctest.restart_filter(path, sender)
    sender = None
    if not check(rc == 0, "filter restarted with the index over two nodes", out[-300:]):
        return
    n1, n2 = "127.0.0.1:%d" % DB_PORTS[0], "127.0.0.1:%d" % DB_PORTS[1]
    codes = send_plain(5)
    ok = wait_log(off, r"index-connected db=mailcorral table=\S+ node=%s" % re.escape(n1), 20)
    check(codes == [250] * 5 and ok, "index: connected to the first node", repr(codes))
    mctest.wait_for(lambda: len(db_keys(0) or []) == 5 and journal_empty(), 20)
    check(len(db_keys(0) or []) == 5, "index: the first node has the 5 rows")
    # the first node killed: the next rows go to the second
    off = fsize(MC_LOG)
    check(db(0, "kill").returncode == 0, "index: the first node killed")
    codes = send_plain(5)
    ok = wait_log(off, r"index-connected db=mailcorral table=\S+ node=%s" % re.escape(n2), 30)
    check(codes == [250] * 5 and ok, "index: the indexer moved to the second node", repr(codes))
    mctest.wait_for(lambda: len(db_keys(1) or []) == 5 and journal_empty(), 30)
    check(len(db_keys(1) or []) == 5 and journal_empty(),
          "index: the second node has the 5 rows sent after, the journal is empty")
    # both down: the journal keeps the rows
    check(db(1, "kill").returncode == 0, "index: the second node killed too")
    codes = send_plain(4)
    time.sleep(2)
    try:
        with open(JOURNAL, "rb") as f:
            jl = f.read().count(b"\n")
    except OSError:
        jl = -1
    check(codes == [250] * 4 and jl == 4, "index: both nodes down: mail accepted, 4 rows kept in the "
          "journal", "codes %r, journal lines %d" % (codes, jl))
    # the first node back: the rows are replayed into it
    off = fsize(MC_LOG)
    check(db(0, "start").returncode == 0, "index: the first node started again")
    ok = wait_log(off, r"index-connected db=mailcorral table=\S+ node=%s" % re.escape(n1), 45)
    mctest.wait_for(lambda: len(db_keys(0) or []) == 9 and journal_empty(), 30)
    check(ok and journal_empty(), "index: reconnected to the first node, the journal emptied")
    check(db(1, "start").returncode == 0, "index: the second node started again")
    k1, k2 = db_keys(0) or [], db_keys(1) or []
    every = k1 + k2
    check(len(every) == 14 and len(set(every)) == 14,
          "index: the two nodes hold the 14 rows, each exactly once",
          "%d + %d rows, %d distinct" % (len(k1), len(k2), len(set(every))))
    names = set()
    for root, _dirs, files in os.walk(os.path.join(STACK_DIR, "own", "archive")):
        for f in files:
            names.add(os.path.relpath(os.path.join(root, f), os.path.join(STACK_DIR, "own", "archive")))
    check(set(every) == names, "index: the rows are the 14 archive files",
          "%d files, %d keys" % (len(names), len(set(every))))


def main(argv):
    if len(argv) >= 3 and argv[1] == "--write-conf":
        write_conf(argv[2])
        return 0
    return mctest.run_tests(R, [t_both_up, t_one_killed, t_back, t_archive],
                            lambda: sender is not None and sender.close())


if __name__ == "__main__":
    sys.exit(main(sys.argv))

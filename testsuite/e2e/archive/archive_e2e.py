#!/usr/bin/env python3
"""MailCorral's mail archive, end to end (run by testsuite/e2e/archive.sh).

  archive_e2e.py                 run the tests (stack and MariaDB running)
  archive_e2e.py --write-conf FILE VARIANT   (base, required, create)
  archive_e2e.py --gate DIR      only the SC-A1 grep gate over DIR's sources

Environment (set by archive.sh): TOP, STACK_DIR, SMTP_PORT, DB_DIR,
DB_PORT.  The filter runs as "nobody" with everything it writes under
$STACK_DIR/own; the index is a private MariaDB (testsuite/stack/mariadb.sh).
Shortened for the suite's time budget (documented in doc/reliability.md):
archive_db_timeout = 2s, the FS-08 stall is 15 s instead of 60 s, FS-07
sends 1500 messages instead of 10 000.
Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import functools
import glob
import os
import re
import stat
import subprocess
import sys
import threading
import time

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
STACK_DIR = os.environ.get("STACK_DIR", "/tmp/mc-e2e-archive")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "2605"))
DB_DIR = os.environ.get("DB_DIR", STACK_DIR + "/db")
DB_PORT = int(os.environ.get("DB_PORT", "2609"))
RUN_AS = "nobody"
DOMAIN = "mx.mailcorral.test"
ARCHIVER = "archive@" + DOMAIN
OWN = os.path.join(STACK_DIR, "own")
ARCH = os.path.join(OWN, "archive")
JOURNAL = os.path.join(OWN, "index.journal")
MAIL_DIR = os.path.join(STACK_DIR, "mail")
MC_LOG = os.path.join(STACK_DIR, "mailcorral.log")
TABLE = "mailcorral.mailcorral_archive"
FS07_MESSAGES = int(os.environ.get("FS07_MESSAGES", "1500"))
FS08_STALL = 15

sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest                    # noqa: E402
from mctest import Sender, wait_for  # noqa: E402

BASE = [
    "user = %s" % RUN_AS,
    "spool_dir = @STACK_DIR@/own/spool",
    "bypass_key_file = @STACK_DIR@/own/spamkey",
    "corral_dir = @STACK_DIR@/own/corral",    # the archiver copy's used markers
    "attachment_action = delete",
    "archive_dir = @STACK_DIR@/own/archive",
    "archive_journal = @STACK_DIR@/own/index.journal",
    "archive_address = %s" % ARCHIVER,
    "archive_db_host = 127.0.0.1",
    "archive_db_port = %d" % DB_PORT,
    "archive_db_name = mailcorral",
    "archive_db_user = mailcorral",
    "archive_db_password_file = %s/password" % DB_DIR,
    "archive_db_timeout = 2s",
]
VARIANTS = {
    "base": [],
    # the journal's directory does not exist: every row fails to journal
    "required": ["archive_required = yes", "archive_journal = @STACK_DIR@/own/nodir/index.journal"],
    "create": ["archive_create_dir = yes"],
}


def write_conf(path, variant):
    mctest.write_conf(path, "testsuite/e2e/archive.sh: variant %s" % variant, BASE + VARIANTS[variant])


# ------------------------------------------------------------ results
R = mctest.Results()
result = R.check


# ------------------------------------------------------------ SC-A1 gate
SQL_WORDS = re.compile(r'"[^"]*\b(INSERT INTO|CREATE TABLE|SELECT |UPDATE |DELETE FROM|REPLACE INTO)')
RAW_QUERY = re.compile(r"\bmysql_(real_)?query\s*\(|\bmysql_send_query\s*\(")


def gate(paths):
    """SC-A1: no mysql_query/mysql_real_query/mysql_send_query anywhere, and
    SQL text in C strings formats nothing but the checked table name
    (`%s`).  Returns a list of offending "file:line: text"."""
    bad = []
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        in_sql = 0
        for n, line in enumerate(lines, 1):
            if RAW_QUERY.search(line):
                bad.append("%s:%d: %s" % (p, n, line.strip()))
            if SQL_WORDS.search(line):
                in_sql = 20          # the statement's following lines too
            if in_sql > 0:
                in_sql -= 1
                for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', line):
                    if "%" in lit.replace("`%s`", ""):
                        bad.append("%s:%d: %s" % (p, n, line.strip()))
                if ";" in line and not line.rstrip().endswith(","):
                    in_sql = 0
    return bad


def sources(top):
    return sorted(glob.glob(os.path.join(top, "*.c")) + glob.glob(os.path.join(top, "spamcorral", "*.c")))


def test_gate():
    bad = gate(sources(TOP))
    result(not bad, "SC-A1 grep gate: no mysql_query/mysql_real_query, SQL text formats only the table name",
           "; ".join(bad[:5]))
    uses = open(os.path.join(TOP, "archive.c")).read()
    result("mysql_stmt_prepare" in uses and "mysql_stmt_bind_param" in uses,
           "SC-A1 archive.c inserts through mysql_stmt_prepare/mysql_stmt_bind_param")
    # the gate itself must be able to fail
    probe = os.path.join(STACK_DIR, "gate-probe.c")
    with open(probe, "w") as f:
        f.write('int f(MYSQL *my, char *s) {\n\tchar q[99];\n'
                '\tsnprintf(q, sizeof(q), "SELECT * FROM t WHERE s = \'%s\'", s);\n'
                '\treturn mysql_query(my, q);\n}\n')
    caught = gate([probe])
    result(len(caught) == 2, "SC-A1 gate self-test: a formatted SELECT and mysql_query() are caught",
           repr(caught))


# ------------------------------------------------------------ helpers
def db(sql):
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/mariadb.sh"), "sql", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("sql failed: %s" % r.stderr.decode(errors="replace")[-300:])
    out = r.stdout.decode("utf-8", errors="surrogateescape")
    return [line.split("\t") for line in out.split("\n") if line != ""]


def db_count(where="1"):
    return int(db("SELECT COUNT(*) FROM %s WHERE %s" % (TABLE, where))[0][0])


def mariadb(cmd):
    return subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/mariadb.sh"), cmd],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def archive_files():
    out = set()
    for d, _, files in os.walk(ARCH):
        for f in files:
            if not f.startswith(".tmp-"):
                out.add(os.path.relpath(os.path.join(d, f), ARCH))
    return out


def log_text():
    return mctest.read_from(MC_LOG)


log_for = functools.partial(mctest.log_for, MC_LOG)
msg = functools.partial(mctest.test_msg, DOMAIN)
exe_msg = functools.partial(mctest.exe_msg, DOMAIN)


sender = None


def send(rcpt, data):
    """Returns (reply, qid or None)."""
    global sender
    if sender is None:
        sender = Sender(SMTP_PORT)
    reply = sender.send(rcpt, data)
    m = re.match(r"250 2\.0\.0 (\S+) ", reply)
    return reply, (m.group(1) if m else None)


def decision(qid, timeout=10):
    def find():
        lines = mctest.decision_lines(log_text(), qid)
        return lines[0] if lines else None
    return wait_for(find, timeout)


def archived_rel(line):
    m = re.search(r" archive=(\S+)", line or "")
    return m.group(1) if m else None


def delivered(user, needle, timeout=10):
    def find():
        out = []
        for p in glob.glob(os.path.join(MAIL_DIR, user + ".*")):
            with open(p, "rb") as f:
                d = f.read()
            if needle in d:
                out.append(d)
        return out
    return wait_for(find, timeout)


def restart_filter(variant):
    global sender
    path = os.path.join(STACK_DIR, "archive-%s.conf" % variant)
    write_conf(path, variant)
    rc, out = mctest.restart_filter(path, sender)
    sender = None
    return result(rc == 0, "restart filter with the %s config" % variant, out[-300:])


def row(key, cols):
    rows = db("SELECT %s FROM %s WHERE msg_key = '%s'" % (cols, TABLE, key))
    return rows[0] if rows else None


def wait_row(key, cols, timeout=15):
    return wait_for(lambda: row(key, cols), timeout)


# ------------------------------------------------------------ tests
def test_basic():
    nonce = b"basic-%d" % time.time_ns()
    reply, qid = send("u1@" + DOMAIN, msg(subject=nonce, body=b"body " + nonce + b"\r\n"))
    line = decision(qid) if qid else None
    rel = archived_rel(line)
    if not result(rel is not None, "archive file named in the decision line", "%s / %s" % (reply, line)):
        return
    path = os.path.join(ARCH, rel)
    ok = re.fullmatch(r"\d{4}/\d\d/\d\d/%s-[0-9a-f]{16}" % qid, rel) is not None
    result(ok and os.path.isfile(path), "archive path is YYYY/MM/DD/<qid>-<16 hex>", rel)
    with open(path, "rb") as f:
        data = f.read()
    result(b"X-MailCorral-Envelope-From: <sender@example.org>\r\n" in data and
           (b"X-MailCorral-Envelope-To: <u1@%s>\r\n" % DOMAIN.encode()) in data and
           b"Subject: " + nonce + b"\r\n" in data and data.endswith(b"\r\n\r\nbody " + nonce + b"\r\n"),
           "archive file holds the envelope and the message as received", repr(data[:300]))
    st = os.stat(path)
    modes = [stat.S_IMODE(st.st_mode)]
    d = os.path.dirname(path)
    for _ in range(3):
        modes.append(stat.S_IMODE(os.stat(d).st_mode))
        d = os.path.dirname(d)
    result(modes == [0o640, 0o750, 0o750, 0o750], "SC-A3 file 0640, date directories 0750",
           " ".join(oct(m) for m in modes))
    r = wait_row(rel, "queue_id, env_from, env_to, path, action, hdr_from")
    result(r is not None and r[0] == qid and r[1] == "sender@example.org" and
           r[2] == "u1@" + DOMAIN and r[3] == path and r[4] == "accept" and r[5] == "a@example.org",
           "index row with the archive file's path", repr(r))
    copies = delivered("archive", nonce)
    result(len(copies) == 1 and b"\nX-MailCorral-Archive: v=1; k=" in copies[0],
           "SC-B9 the archiver gets a copy with the X-MailCorral-Archive header",
           "%d copies" % len(copies))


def test_schema():
    """The documented schema (doc/archive-schema.sql) is the one the daemon
    creates: same columns, types, character sets and keys."""
    with open(os.path.join(TOP, "doc", "archive-schema.sql")) as f:
        ddl = f.read()
    db("DROP DATABASE IF EXISTS schema_check; CREATE DATABASE schema_check; USE schema_check; " + ddl)
    q = ("SELECT column_name, column_type, IFNULL(character_set_name, '-'), is_nullable, column_key "
         "FROM information_schema.columns WHERE table_schema = '%s' AND table_name = 'mailcorral_archive' "
         "ORDER BY ordinal_position")
    doc, live = db(q % "schema_check"), db(q % "mailcorral")
    db("DROP DATABASE schema_check")
    result(doc == live and len(live) == 16, "doc/archive-schema.sql matches the table the daemon creates",
           "doc=%r live=%r" % (doc, live))


def expect_display(raw):
    out, i = [], 0
    b = raw
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                ch = b[i:i + n].decode("utf-8")
                if len(ch) == 1:
                    out.append(ch)
                    i += n
                    break
            except UnicodeDecodeError:
                pass
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def test_bi17():
    raw = b"caf\xe9 \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80 ok"
    reply, qid = send("u1@" + DOMAIN, msg(subject=raw))
    rel = archived_rel(decision(qid) if qid else None)
    r = wait_row(rel, "HEX(subject_raw), HEX(subject)") if rel else None
    want = expect_display(raw).encode("utf-8")
    result(r is not None and r[0] == raw.hex().upper() and r[1] == want.hex().upper() and
           want.count("\ufffd".encode()) == 6,
           "BI-17 raw Latin-1, overlong C0 AF, surrogate ED A0 80: raw bytes kept, display with U+FFFD, emoji kept",
           "%s %r" % (reply, r))


def test_bi34():
    before = db_count()
    cases = [
        (b"x'); DROP TABLE archive;--", b"a@example.org"),
        (b"quotes", b"\"Bob \\\\ O'Brien \\\"q\\\"\" <bob@example.org>"),
        (b"emoji \xf0\x9f\x92\xa3 \xf0\x9f\x98\x80", b"a@example.org"),
        (b"x" * 10240, b"a@example.org"),
    ]
    rels = []
    for subj, frm in cases:
        reply, qid = send("u1@" + DOMAIN, msg(subject=subj, frm=frm))
        rels.append((archived_rel(decision(qid) if qid else None), qid))
    for (subj, frm), (rel, qid) in zip(cases, rels):
        r = wait_row(rel, "HEX(subject_raw), HEX(hdr_from)") if rel else None
        if len(subj) > 998:
            trunc = [x for x in log_for(qid) if "index-truncated field=subject_raw" in x and "reason=truncated" in x]
            result(r is not None and r[0] == (subj[:998]).hex().upper() and len(trunc) == 1,
                   "BI-34 10 KB Subject cut to its 998-byte column, logged reason=truncated",
                   "%r %r" % (r and len(r[0]) // 2, trunc))
        else:
            result(r is not None and r[0] == subj.hex().upper() and r[1] == frm.hex().upper(),
                   "BI-34 stored exactly: Subject %r From %r" % (subj[:30], frm[:40]), repr(r))
    tables = db("SHOW TABLES FROM mailcorral")
    result(["mailcorral_archive"] in tables and db_count() == before + 4,
           "BI-34 table intact, row count +4", "%r, %d -> %d" % (tables, before, db_count()))


def test_sc_a2():
    # Other programs make files in /tmp meanwhile (a compiler's cc*.o made
    # this fail once), so /tmp is searched for the hostile names only;
    # OWN, the archive's own parent, must gain nothing.
    def made():
        return set(os.listdir(OWN)) | {n for n in os.listdir("/tmp") if n.startswith("mc-arch-evil")}
    before = made()
    hostile = b"<../../../../../../tmp/mc-arch-evil/x@test>"
    reply, qid = send("u1@" + DOMAIN, msg(subject=b"../../../../tmp/mc-arch-evil2", msgid=hostile))
    rel = archived_rel(decision(qid) if qid else None)
    real = os.path.realpath(os.path.join(ARCH, rel)) if rel else ""
    after = made()
    result(rel is not None and re.fullmatch(r"\d{4}/\d\d/\d\d/[A-Za-z0-9]+-[0-9a-f]{16}", rel) is not None and
           real.startswith(ARCH + "/") and os.path.isfile(real) and after - before == set(),
           "SC-A2 hostile Message-ID and Subject: the file stays under the archive, named by date/qid/random",
           "%s %s new=%r" % (reply, rel, after - before))


def today_dir():
    """Today's (UTC) day directory, made as the filter would make it when
    the date changed since the last message."""
    t = time.gmtime()
    d = ARCH
    for part in ("%04d" % t.tm_year, "%02d" % t.tm_mon, "%02d" % t.tm_mday):
        d = os.path.join(d, part)
        if not os.path.isdir(d):
            os.mkdir(d, 0o750)
            os.chown(d, 65534, 65534)
    return d


def test_symlink():
    day = today_dir()
    victim = os.path.join(OWN, "victim")
    os.makedirs(victim, exist_ok=True)
    os.chown(victim, 65534, 65534)
    os.rename(day, day + ".real")
    os.symlink(victim, day)
    try:
        nonce = b"symlink-%d" % time.time_ns()
        reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
        line = decision(qid) if qid else ""
        warn = [x for x in log_for(qid) if "archive-write errno=ENOTDIR" in x or "archive-write errno=ELOOP" in x]
        result(reply.startswith("250") and "archive=failed" in (line or "") and warn and
               os.listdir(victim) == [] and delivered("u1", nonce),
               "SC-A3 a symlink planted in the archive tree is refused, not followed; mail delivered",
               "%s %r %r victim=%r" % (reply, line, warn, os.listdir(victim)))
        # mailcorral-archive does not follow it either
        if CLI:
            planted = "ZZPLANTED1-0123456789abcdef"
            with open(os.path.join(victim, planted), "wb") as f:
                f.write(CLI["data"].replace(b"X-MailCorral-Queue-ID: ", b"X-MailCorral-Queue-ID: ZZPLANTED1\r\nX-Was: "))
            rel = os.path.relpath(day, ARCH) + "/" + planted
            rc, _, out, err = cli("--show", rel)
            rc2, ids, _, err2 = cli_ids("--files", "--queue-id", "ZZPLANTED1")
            os.unlink(os.path.join(victim, planted))
            result(rc == 2 and out == b"" and "Not a directory" in err and
                   rc2 == 2 and ids == [] and "Not a directory: skipped" in err2,
                   "SC-A3 mailcorral-archive refuses the planted symlink too (--show, the scan)",
                   "rc=%d %s / rc=%d %r %s" % (rc, err[-150:], rc2, ids, err2[-150:]))
    finally:
        os.unlink(day)
        os.rename(day + ".real", day)


def test_sc_b9():
    nonce = b"b9-%d" % time.time_ns()
    reply, qid = send("u2@" + DOMAIN, exe_msg(nonce))
    copies = delivered("archive", nonce)
    if not result(len(copies) == 1 and decision(qid) is not None, "SC-B9 first pass: archiver copy delivered",
                  "%s %d copies" % (reply, len(copies))):
        return
    copy = copies[0]
    # resubmit the archiver's copy (as a relay to the archiver would)
    resub = re.sub(rb"^Return-Path:[^\n]*\n", b"", copy).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    reply2, qid2 = send(ARCHIVER, resub)
    line = decision(qid2) if qid2 else None
    later = [c for c in delivered("archive", nonce) if c != copy]
    result(line is not None and " action=archive-copy " in line and len(later) == 1 and
           later[0].count(b"X-MailCorral-Archive:") == 1 and later[0].count(b"X-MailCorral-Filtered:") == 1,
           "SC-B9 the archiver's copy on a later pass verifies and passes with minimal handling",
           "%s %r" % (reply2, line))
    # external mail to the archive address: full filtering
    n2 = b"b9ext-%d" % time.time_ns()
    reply3, qid3 = send(ARCHIVER, exe_msg(n2))
    line3 = decision(qid3) if qid3 else ""
    got = delivered("archive", n2)
    result(" action=accept " in (line3 or "") and "removed:1" in (line3 or "") and len(got) == 1 and
           b"TVqQAAMAAAAEAAAA" not in got[0] and b"X-MailCorral-Filtered:" in got[0],
           "SC-B9 external mail to the archive address is fully filtered (.exe removed)", repr(line3))
    # a valid-looking header with the Date changed
    hdr = re.search(rb"X-MailCorral-Archive: ([^\r\n]*)", copy).group(1)
    date = re.search(rb"\nDate: ([^\r\n]*)", copy).group(1)
    mid = re.search(rb"\nMessage-ID: ([^\r\n]*)", copy).group(1)
    n3 = b"b9date-%d" % time.time_ns()
    forged = exe_msg(n3, msgid=mid, date=date.replace(b":00 ", b":01 ").replace(b" +0000", b" -0000"),
                     extra=b"X-MailCorral-Archive: " + hdr + b"\r\n")
    reply4, qid4 = send(ARCHIVER, forged)
    line4 = decision(qid4) if qid4 else ""
    rej = [x for x in log_for(qid4) if "archive-copy-rejected reason=bad-mac" in x]
    result(rej and " action=accept " in (line4 or "") and "removed:1" in (line4 or ""),
           "SC-B9 the archive header with an altered Date fails: full filtering", "%r %r" % (line4, rej))
    # the same header with the right Date and Message-ID but a second copy
    # header is refused as well
    n4 = b"b9two-%d" % time.time_ns()
    two = exe_msg(n4, msgid=mid, date=date,
                  extra=b"X-MailCorral-Archive: " + hdr + b"\r\nX-MailCorral-Archive: " + hdr + b"\r\n")
    reply5, qid5 = send(ARCHIVER, two)
    rej5 = [x for x in log_for(qid5) if "archive-copy-rejected reason=header-count=2" in x]
    result(bool(rej5), "SC-B9 two archive headers: refused", repr(log_for(qid5)[-1:]))


def rows_match_files():
    files = archive_files()
    keys = set(r[0] for r in db("SELECT msg_key FROM %s" % TABLE))
    return keys == files and os.path.getsize(JOURNAL) == 0


def test_fs07():
    t0 = time.time()
    results, lock = [], threading.Lock()
    count = [0]

    def worker(n):
        s = Sender(SMTP_PORT)
        for i in range(n):
            r = s.send("u%d@%s" % (i % 5, DOMAIN), msg(subject=b"fs07 %d" % i, body=b"x\r\n" * 20))
            with lock:
                results.append(r)
                count[0] += 1
        s.close()

    threads = [threading.Thread(target=worker, args=(FS07_MESSAGES // 6,)) for _ in range(6)]
    for t in threads:
        t.start()
    wait_for(lambda: count[0] >= FS07_MESSAGES // 5, 60, 0.05)
    killed_at = count[0]
    mariadb("kill")
    time.sleep(3)
    down_sent = count[0] - killed_at
    st = mariadb("start")
    for t in threads:
        t.join()
    sent = time.time() - t0
    ok = [r for r in results if r.startswith("250")]
    result(len(ok) == len(results) and down_sent > 0,
           "FS-07 mail flow never stops: %d/%d accepted in %.0f s, %d while MariaDB was dead" %
           (len(ok), len(results), sent, down_sent), "start: %s" % st.stdout.decode(errors="replace")[-200:])
    done = wait_for(rows_match_files, 45, 0.5)
    files = len(archive_files())
    dup = db("SELECT COUNT(*) - COUNT(DISTINCT msg_key), COUNT(*) - COUNT(DISTINCT path) FROM %s" % TABLE)[0]
    text = log_text()
    result(done and dup == ["0", "0"],
           "FS-07 after kill -9 and restart: journal replayed, row count == archived file count (%d), "
           "no duplicates" % files, "rows=%d files=%d dup=%r journal=%d" %
           (db_count(), files, dup, os.path.getsize(JOURNAL)))
    connects = re.findall(r"index-failed reason=connect: .* retry=(\d+)s", text)
    # the kill lands in an INSERT or in the COMMIT (or between batches)
    result(re.search(r"index-failed reason=(insert|commit|connect)", text) and
           "index-replayed rows=" in text and
           0 < len(connects) <= 8 and max(int(x) for x in connects) <= 30,
           "FS-07 log: index-failed while down (%d reconnects, back-off %s s), index-replayed after" %
           (len(connects), ",".join(connects)))


def test_fs08():
    global sender
    pid = mariadb("pid").stdout.decode().strip()
    if not result(pid.isdigit(), "FS-08 MariaDB pid known", pid):
        return
    lat, replies = [], []
    os.kill(int(pid), 19)            # SIGSTOP
    try:
        end = time.time() + FS08_STALL
        s = Sender(SMTP_PORT)
        i = 0
        while time.time() < end:
            t = time.time()
            replies.append(s.send("u1@" + DOMAIN, msg(subject=b"fs08 %d" % i)))
            lat.append(time.time() - t)
            i += 1
        s.close()
        grew = os.path.getsize(JOURNAL)
    finally:
        os.kill(int(pid), 18)        # SIGCONT
    ok = [r for r in replies if r.startswith("250")]
    result(len(ok) == len(replies) and lat and max(lat) <= 6.0 and grew > 0,
           "FS-08 MariaDB stopped %d s: %d messages accepted, max latency %.2f s (<= 6), journal grew to %d bytes"
           % (FS08_STALL, len(ok), max(lat) if lat else -1, grew))
    done = wait_for(rows_match_files, 45, 0.5)
    result(done, "FS-08 rows complete after SIGCONT (row count == archived file count)",
           "rows=%d files=%d" % (db_count(), len(archive_files())))


# ------------------------------------------------------------ mailcorral-archive(8)
CLI = {}          # what test_cli archived, for the check with MariaDB down


def cli(*args, conf=None, reader=True):
    """Runs ./mailcorral-archive; returns (rc, JSON objects, stdout, stderr)."""
    if conf is None:      # the daemon's settings, @STACK_DIR@ filled in as stack.sh does
        conf = os.path.join(STACK_DIR, "cli-base.conf")
        with open(os.path.join(STACK_DIR, "archive-base.conf")) as f:
            text = f.read().replace("@STACK_DIR@", STACK_DIR)
        with open(conf, "w") as f:
            f.write(text)
    cmd = [os.path.join(TOP, "mailcorral-archive"), "-c", conf]
    if reader:
        cmd += ["--defaults-file", os.path.join(STACK_DIR, "reader.cnf")]
    r = subprocess.run(cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    objs = []
    if "--json" in args:
        import json
        objs = [json.loads(x) for x in r.stdout.decode("utf-8", "surrogateescape").splitlines() if x]
    return r.returncode, objs, r.stdout, r.stderr.decode(errors="replace")


def cli_ids(*args, **kw):
    rc, objs, _, err = cli("--json", "--limit", "100000", *args, **kw)
    return rc, [o["id"] for o in objs], set(o["source"] for o in objs), err


def reader_account():
    """An account with SELECT on the table only, in an option file."""
    pw = "rd%d" % time.time_ns()
    db("DROP USER IF EXISTS 'mcreader'@'127.0.0.1'; "
       "CREATE USER 'mcreader'@'127.0.0.1' IDENTIFIED BY '%s'; "
       "GRANT SELECT ON %s TO 'mcreader'@'127.0.0.1'" % (pw, TABLE))
    cnf = os.path.join(STACK_DIR, "reader.cnf")
    with open(cnf, "w") as f:
        f.write("[mailcorral-archive]\nuser = mcreader\npassword = %s\n" % pw)
    os.chmod(cnf, 0o600)
    return db("SHOW GRANTS FOR 'mcreader'@'127.0.0.1'")


def test_cli():
    """mailcorral-archive finds a message the daemon archived by each key
    through the real MariaDB (a SELECT-only account), and the same through
    the files with --files; --show gives its bytes; --export, --stats."""
    t0 = time.time()
    try:
        cli_checks()
    finally:
        print("archive CLI checks took %.1f s" % (time.time() - t0))


def cli_checks():
    grants = reader_account()
    result(len(grants) == 2 and "GRANT SELECT ON `mailcorral`.`mailcorral_archive`" in grants[1][0],
           "archive CLI: the reader account has SELECT on the table only", repr(grants))
    nonce = b"cli%d" % time.time_ns()
    mid = b"<%s@cli.test>" % nonce
    body = b"body " + nonce + b"\r\n"
    reply, qid = send("u1@" + DOMAIN, msg(subject=b"Quarterly REPORT " + nonce, msgid=mid, body=body))
    rel = archived_rel(decision(qid) if qid else None)
    r = rel and wait_row(rel, "size, spam, virus")
    if not result(r is not None, "archive CLI: message archived and indexed", "%s %r" % (reply, r)):
        return
    with open(os.path.join(ARCH, rel), "rb") as f:
        data = f.read()
    CLI.update(rel=rel, nonce=nonce.decode(), data=data)
    size = r[0]
    spam = "yes" if r[1].startswith("yes:") else "unchecked" if r[1].startswith("unchecked:") else "no"
    virus = "no" if r[2] in ("none", "clean") else "unchecked" if r[2].startswith("unchecked") else "yes"
    other = {"yes": "no", "no": "yes", "unchecked": "yes"}
    day = time.strftime("%Y-%m-%d", time.gmtime())
    keys = [  # (name, matching args, missing args, the files can answer)
        ("sender", ["--from", "SENDER@example"], ["--from", "nobody@nowhere"], True),
        ("recipient", ["--to", "u1@" + DOMAIN.upper()], ["--to", "u9@" + DOMAIN], True),
        ("subject words", ["--subject", "report %s quarterly" % nonce.decode()],
         ["--subject", "annual %s" % nonce.decode()], True),
        ("date range", ["--since", day, "--until", day], ["--until", "2000-01-01"], True),
        ("Message-ID", ["--message-id", mid.decode().strip("<>")], ["--message-id", "x" + mid.decode()], True),
        ("queue id", ["--queue-id", qid], ["--queue-id", qid + "X"], True),
        ("size", ["--min-size", size, "--max-size", size], ["--min-size", str(int(size) + 1)], True),
        ("spam verdict", ["--spam", spam], ["--spam", other[spam]], False),
        ("virus verdict", ["--virus", virus], ["--virus", other[virus]], False),
    ]
    for name, yes, no, files in keys:
        rc, ids, src, err = cli_ids(*yes)
        rc2, ids2, _, _ = cli_ids(*no)
        result(rc == 0 and rel in ids and src == {"index"} and "warning" not in err and rel not in ids2,
               "archive CLI: found through the index by %s (%s), not by %s" % (name, " ".join(yes), " ".join(no)),
               "rc=%d ids=%d src=%r err=%s / rc=%d" % (rc, len(ids), src, err[-200:], rc2))
        if files:
            rc, fids, src, err = cli_ids("--files", *yes)
            idx = set(cli_ids(*yes)[1])
            result(rc == 0 and rel in fids and src == {"files"} and set(fids) == idx,
                   "archive CLI: --files finds the same by %s as the index" % name,
                   "rc=%d in=%r files=%d index=%d %s" % (rc, rel in fids, len(fids), len(idx), err[-200:]))
    # --show: the bytes as archived, also from a gzipped copy (a site may
    # compress old days), in a copy of the tree the daemon does not use
    rc, _, out, err = cli("--show", rel)
    result(rc == 0 and out == data, "archive CLI: --show gives the archived bytes unchanged",
           "rc=%d %d/%d bytes %s" % (rc, len(out), len(data), err[-200:]))
    zarch = os.path.join(STACK_DIR, "cli-gz")
    subprocess.run(["rm", "-rf", zarch])
    os.makedirs(os.path.join(zarch, os.path.dirname(rel)))
    subprocess.run(["sh", "-c", "gzip -c < '%s' > '%s.gz'" % (os.path.join(ARCH, rel), os.path.join(zarch, rel))])
    zconf = os.path.join(STACK_DIR, "cli-gz.conf")
    with open(zconf, "w") as f:
        f.write("archive_dir = %s\n" % zarch)
    rc, _, out, err = cli("--show", rel, conf=zconf, reader=False)
    rc2, ids, src, err2 = cli_ids("--message-id", mid.decode(), conf=zconf, reader=False)
    result(rc == 0 and out == data and rc2 == 0 and ids == [rel] and src == {"files"} and "warning" in err2,
           "archive CLI: a gzipped archive file is shown decompressed, byte for byte, and found by scanning",
           "rc=%d %d/%d bytes %s / rc=%d %r" % (rc, len(out), len(data), err[-200:], rc2, ids))
    # --export
    exp = os.path.join(STACK_DIR, "cli-export")
    subprocess.run(["rm", "-rf", exp])
    os.mkdir(exp)
    rc, _, out, err = cli("--export", exp, "--queue-id", qid)
    name = rel.replace("/", "-") + ".eml"
    got = open(os.path.join(exp, name), "rb").read() if os.path.exists(os.path.join(exp, name)) else None
    result(rc == 0 and os.listdir(exp) == [name] and got == data,
           "archive CLI: --export writes the match as %s, its bytes unchanged" % name,
           "rc=%d %r %s" % (rc, os.listdir(exp), err[-200:]))
    rc, objs, _, err = cli("--stats", "--json")
    today = [o for o in objs if o["day"] == day]
    total = db_count("DATE(archived_at) = '%s'" % day)
    result(rc == 0 and len(today) == 1 and today[0]["messages"] == total and today[0]["spam"] is not None,
           "archive CLI: --stats counts today's messages as the index has them (%d)" % total,
           "rc=%d %r %s" % (rc, today, err[-200:]))
    # a password on the command line is refused before anything is read
    for pw in (["--password=secret"], ["-psecret"], ["-p", "--to", "x"]):
        rc, _, out, err = cli(*pw)
        result(rc == 2 and out == b"" and "refused" in err and "secret" not in err,
               "archive CLI: %s refused" % " ".join(pw), "rc=%d %s" % (rc, err[-200:]))


def test_cli_agree():
    """The index and the files answer alike: for rows sampled from all the
    suite archived so far (hostile headers included, but no row a column cut
    short, BI-34, where the index cannot know the rest), a key made from the
    row's own values finds the same set of messages both ways."""
    import random
    rnd = random.Random(20261208)
    cols = "msg_key, HEX(env_from), HEX(env_to), HEX(subject_raw), HEX(message_id), queue_id, size"
    rows = db("SELECT %s FROM %s" % (cols, TABLE))
    maxes = (512, 4096, 998, 998)
    rows = [r for r in rows if all(len(r[i + 1]) // 2 < m for i, m in enumerate(maxes))]
    if not result(len(rows) > 100, "archive CLI agreement: rows to sample (%d)" % len(rows)):
        return
    t0 = time.time()
    bad, asked = [], 0
    for n, r in enumerate(rnd.sample(rows, 14)):
        env_from, env_to, subj, mid = (bytes.fromhex(x) for x in r[1:5])
        kind = n % 7
        words = re.findall(rb"[A-Za-z0-9]{3,}", subj)
        if kind == 0 and env_from:
            i = rnd.randrange(len(env_from))
            args = ["--from", env_from[i:i + 6].decode("ascii", "replace").swapcase()]
        elif kind == 1 and env_to:
            args = ["--to", env_to.split(b", ")[0][-9:].decode("ascii", "replace").upper()]
        elif kind == 2 and words:
            args = ["--subject", rnd.choice(words).decode().swapcase()]
        elif kind == 3 and mid.strip() and re.fullmatch(rb"<?[\x21-\x7e]+>?", mid.strip()):
            args = ["--message-id", mid.strip().decode()]
        elif kind == 4:
            args = ["--queue-id", r[5]]
        else:
            args = ["--min-size", r[6], "--max-size", r[6]]
        if "\ufffd" in " ".join(args):
            continue
        asked += 1
        rc, idx, src, err = cli_ids(*args)
        rc2, fil, src2, err2 = cli_ids("--files", *args)
        if not (r[0] in idx and set(idx) == set(fil) and src <= {"index"} and src2 == {"files"}):
            bad.append("%s: index %d, files %d, row in %r/%r %s" % (
                args, len(idx), len(fil), r[0] in idx, r[0] in fil, (err + err2)[-150:]))
    result(not bad and asked >= 10,
           "archive CLI agreement: %d keys from sampled rows, the index and the files found the same "
           "(%.1f s)" % (asked, time.time() - t0), "; ".join(bad[:3]))


def cli_down_check():
    """With MariaDB stopped, a search answers from the files, saying so;
    the verdict keys say they need the index."""
    if not CLI:
        return
    rc, ids, src, err = cli_ids("--subject", CLI["nonce"])
    result(rc == 0 and ids == [CLI["rel"]] and src == {"files"} and
           "warning: the index is not available" in err and "answering from the files" in err,
           "archive CLI: MariaDB down: the search answers from the files with a warning",
           "rc=%d %r %s" % (rc, ids, err[-300:]))
    rc, _, out, err = cli("--show", CLI["rel"])
    result(rc == 0 and out == CLI["data"], "archive CLI: MariaDB down: --show still gives the bytes", "rc=%d" % rc)
    rc, _, out, err = cli("--spam", "yes")
    result(rc == 3 and out == b"" and "need the index" in err,
           "archive CLI: MariaDB down: --spam says it needs the index (exit 3)", "rc=%d %s" % (rc, err[-200:]))


def test_crash_replay():
    """P-ARCH-FAIL: rows journaled while MariaDB is down survive a crash
    (kill -9) of the filter and are replayed by the next one."""
    global sender
    mariadb("stop")
    cli_down_check()
    keys = []
    for i in range(3):
        reply, qid = send("u1@" + DOMAIN, msg(subject=b"crash %d" % i))
        keys.append(archived_rel(decision(qid) if qid else None))
    pending = os.path.getsize(JOURNAL)
    if sender is not None:
        sender.close()
        sender = None
    with open(os.path.join(STACK_DIR, "mailcorral.bgpid")) as f:
        os.kill(int(f.read().strip()), 9)
    time.sleep(0.3)
    st = mariadb("start")
    if not restart_filter("base"):
        return
    start = len(log_text().rsplit("=== ", 1)[0])
    done = wait_for(rows_match_files, 20, 0.3)
    after = log_text()[start:]
    result(None not in keys and pending > 0 and done and "index-replayed rows=3" in after,
           "P-ARCH-FAIL rows journaled while MariaDB was down survive kill -9 of the filter and are replayed",
           "keys=%r journal=%d done=%r start=%s" % (keys, pending, done, st.stdout.decode(errors="replace")[-100:]))


def test_fs10():
    global sender
    day = today_dir()
    # 1. unwritable (daemon is not root)
    os.chmod(day, 0o500)
    try:
        nonce = b"fs10a-%d" % time.time_ns()
        reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
        warn = [x for x in log_for(qid) if re.search(r"archive-write errno=EACCES path=\S+", x)]
        result(reply.startswith("250") and warn and delivered("u1", nonce),
               "FS-10 archive directory 0500: mail delivered, archive-write errno=EACCES logged", reply)
    finally:
        os.chmod(day, 0o750)
    # 1b. read-only bind mount
    m = subprocess.run(["mount", "--bind", ARCH, ARCH], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if m.returncode == 0:
        try:
            m = subprocess.run(["mount", "-o", "remount,ro,bind", ARCH], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if m.returncode == 0:
                nonce = b"fs10ro-%d" % time.time_ns()
                reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
                warn = [x for x in log_for(qid) if re.search(r"archive-write errno=EROFS path=\S+", x)]
                result(reply.startswith("250") and warn and delivered("u1", nonce),
                       "FS-10 archive on a read-only bind mount: mail delivered, archive-write errno=EROFS",
                       reply)
        finally:
            subprocess.run(["umount", ARCH])
    if m.returncode != 0:
        print("SKIP FS-10 read-only bind mount: %s" % m.stdout.decode(errors="replace").strip()[-120:])
    # 2. removed at run time
    saved = ARCH + ".saved"
    os.rename(ARCH, saved)
    try:
        nonce = b"fs10b-%d" % time.time_ns()
        reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
        warn = [x for x in log_for(qid) if "archive-write errno=ENOENT path=%s" % ARCH in x]
        result(reply.startswith("250") and warn and delivered("u1", nonce) and not os.path.exists(ARCH),
               "FS-10 archive directory removed: mail delivered, archive-write errno=ENOENT, not recreated",
               reply)
        # 3. full file system
        os.mkdir(ARCH)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0750,uid=65534,gid=65534",
                            "mc-arch-full", ARCH], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if m.returncode != 0:
            print("SKIP FS-10 tmpfs full: cannot mount tmpfs here (%s)" %
                  m.stdout.decode(errors="replace").strip()[-120:])
        else:
            try:
                subprocess.run(["dd", "if=/dev/zero", "of=" + ARCH + "/fill", "bs=4k"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                nonce = b"fs10c-%d" % time.time_ns()
                reply, qid = send("u1@" + DOMAIN, msg(subject=nonce, body=b"y" * 60 + b"\r\n" * 2000))
                warn = [x for x in log_for(qid) if "archive-write errno=ENOSPC" in x]
                result(reply.startswith("250") and warn and delivered("u1", nonce),
                       "FS-10 archive file system full: mail delivered, archive-write errno=ENOSPC", reply)
            finally:
                subprocess.run(["umount", ARCH])
        os.rmdir(ARCH)
        # 4. archive_required = yes: tempfail, and a start-up warning
        if restart_filter("required"):
            start = log_text().rsplit("=== ", 1)[-1]
            result("archive_dir %s: No such file or directory (archive-write will fail)" % ARCH in start,
                   "FS-10 start-up check warns about the missing archive directory")
            nonce = b"fs10d-%d" % time.time_ns()
            reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
            result(reply.startswith("451 4.3.0") and not delivered("u1", nonce, 2),
                   "FS-10 archive_required=yes: 451 4.3.0, nothing delivered", reply)
            # P-ARCH-FAIL: the file is written but its row cannot be journaled
            os.mkdir(ARCH, 0o750)
            os.chown(ARCH, 65534, 65534)
            nonce = b"fs10j-%d" % time.time_ns()
            off = len(log_text())
            reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
            new = wait_for(lambda: "action=tempfail" in log_text()[off:] and log_text()[off:], 5)
            warn = re.findall(r"index-failed reason=journal errno=ENOENT path=%s/nodir/index.journal" % OWN,
                              new or "")
            result(reply.startswith("451 4.3.0") and warn and archive_files() == set() and
                   not delivered("u1", nonce, 2),
                   "P-ARCH-FAIL archive_required=yes and the row cannot be journaled: 451, the file removed",
                   "%s %r files=%r" % (reply, warn, archive_files()))
            subprocess.run(["rm", "-rf", ARCH])
        # 5. archive_create_dir = yes: recreated
        if restart_filter("create"):
            nonce = b"fs10e-%d" % time.time_ns()
            reply, qid = send("u1@" + DOMAIN, msg(subject=nonce))
            rel = archived_rel(decision(qid) if qid else None)
            result(reply.startswith("250") and rel and os.path.isfile(os.path.join(ARCH, rel)) and
                   stat.S_IMODE(os.stat(ARCH).st_mode) == 0o750,
                   "FS-10 archive_create_dir=yes: directory recreated (0750), message archived", reply)
    finally:
        if sender is not None:
            sender.close()
            sender = None
        if os.path.ismount(ARCH):
            subprocess.run(["umount", ARCH])
        if os.path.isdir(ARCH):
            subprocess.run(["rm", "-rf", ARCH])
        os.rename(saved, ARCH)


def main(argv):
    if len(argv) >= 3 and argv[0] == "--write-conf":
        write_conf(argv[1], argv[2])
        return 0
    if len(argv) >= 2 and argv[0] == "--gate":
        bad = gate(sources(argv[1]))
        print("\n".join(bad) if bad else "gate: clean")
        return 1 if bad else 0
    t0 = time.time()
    for t in (test_gate, test_basic, test_schema, test_cli, test_bi17, test_bi34, test_sc_a2, test_symlink, test_sc_b9,
              test_fs07, test_fs08, test_cli_agree, test_crash_replay, test_fs10):
        try:
            t()
        except Exception as e:  # a broken test is a failure, not a crash
            result(False, "%s raised %s: %s" % (t.__name__, type(e).__name__, e))
    if sender is not None:
        sender.close()
    print("archive suite took %.0f s" % (time.time() - t0))
    print(R.line())
    return R.rc()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

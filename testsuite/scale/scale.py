#!/usr/bin/env python3
"""make scale, the checks (issue 21).  Run by testsuite/scale/scale.sh, which
starts everything: hosts A and B (sendmail + MailCorral, corral_host_id 1
and 2) on one corral directory and one bypass key, two spamd, two clamd, a
three-node Galera cluster as the archive index of both.

  1. Warm-up: one clean message through each host.
  2. The run: 48 messages (24 spam, 24 clean, each with a text attachment
     for clamd), 4 SMTP sessions at a time, alternately through A and B.
     The first third goes out with every server up (the scanners' shares
     are counted there, before any failure); then Galera node 1 (the first
     archive_db_host) is killed with SIGKILL and spamd 1 stopped, and the
     rest goes out.  A 4xx answer is sent again (as an MTA would, after a
     pause), and counted.
  3. No mail lost: every clean message delivered once, on the host it was
     sent to; every spam corralled once (one corral for both), its id
     carrying the host that corralled it (01 or 02), no tmp.* left.
  4. Index: with node 1 still down, the rows of the messages sent after
     the kill reach the cluster (node 2) -- "the indexer moved to the next
     node" (archive_db_host lists the three nodes).  Then node 1 comes back, both
     journals drain, and the cluster holds exactly one row per archived
     file of both hosts: no row lost, none twice.
  5. One digest per user lists the entries of both hosts: the notifier run
     on A and on B at the same moment (their lock file) sends exactly one.
  6. A reply to B's robot releases an entry host A corralled, through B's
     MTA with the shared key (delivered on B, entry gone), and the other
     way round.

Environment: SCALE_DIR, SCALE_PORT, RUN_AS.  Writes SCALE_DIR/summary for
scale.sh (mctest Results); figures on lines starting with "#".
"""
import concurrent.futures
import glob
import os
import re
import smtplib
import subprocess
import sys
import time

TOP = sys.argv[1]
S = os.environ["SCALE_DIR"]
P = int(os.environ["SCALE_PORT"])
RUN_AS = os.environ.get("RUN_AS", "mail")
sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest                    # noqa: E402

DOM = "mx.mailcorral.test"
HOSTS = {"a": P + 10, "b": P + 20}
HOST_ID = {"a": "01", "b": "02"}
CORRAL = os.path.join(S, "shared", "corral")
NOTIFY = os.path.join(TOP, "spamcorral", "spamcorral-notify")
GALERA = ["env", "GALERA_DIR=%s/galera" % S, "GALERA_PORT=%d" % (P + 50),
          "sh", os.path.join(TOP, "testsuite", "scale", "galera.sh")]
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
IDENT = re.compile(r"\[MC-([0-9A-F]{16})-[0-9a-f]{32}\]")
TABLE = "mailcorral.mailcorral_archive"
N_MSGS = int(os.environ.get("SCALE_MESSAGES", "48"))

R = mctest.Results()
check = R.check
tempfails = []


def galera(*args):
    r = subprocess.run(GALERA + list(args), capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def rows(node, what="COUNT(*)"):
    rc, out, _ = galera("sql", str(node), "SELECT %s FROM %s" % (what, TABLE))
    return out if rc == 0 else None


def message(kind, n, rcpt):
    tag = "scale-%s-%d-%d" % (kind, n, os.getpid())
    body = "Buy now!\n%s\n" % GTUBE if kind == "spam" else "Minutes of meeting %d attached.\n" % n
    return tag, ("From: Sender <sender%d@example.org>\nTo: %s\nSubject: %s\n"
                 "Message-ID: <%s@example.org>\nDate: %s\nMIME-Version: 1.0\n"
                 "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
                 "--b1\nContent-Type: text/plain\n\n%s\n"
                 "--b1\nContent-Type: text/plain; name=\"notes.txt\"\n"
                 "Content-Disposition: attachment; filename=\"notes.txt\"\n\n"
                 "notes %s\n--b1--\n" %
                 (n, rcpt, tag, tag, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
                  body, tag))


def send(host, sender, rcpts, text, tries=6):
    """SMTP to host; a 4xx is sent again after a pause (as an MTA does)."""
    data = re.sub(r"\r?\n", "\r\n", text).encode("utf-8")
    for i in range(tries):
        try:
            s = smtplib.SMTP("127.0.0.1", HOSTS[host], local_hostname="client.example", timeout=120)
            try:
                s.sendmail(sender, rcpts, data)
                return True
            finally:
                try:
                    s.quit()
                except smtplib.SMTPException:
                    pass
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as e:
            code = getattr(e, "smtp_code", 0) or 450
            tempfails.append((host, code))
            if code >= 500:
                return False
        except (OSError, smtplib.SMTPException):
            tempfails.append((host, 0))
        time.sleep(1 + i)
    return False


def mails(host, user=None):
    d = os.path.join(S, host, "mail")
    out = []
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if os.path.isfile(p) and (user is None or n.split(".")[0] == user):
            out.append(p)
    return out


def read(p):
    with open(p, "rb") as f:
        return f.read().decode("utf-8", "replace")


def corral_entries():
    """{name: text} of every spam_to_<rcpt>_<id> that is a file or a link."""
    out = {}
    for n in os.listdir(CORRAL):
        if n.startswith("spam_to_") and "_" in n[8:]:
            p = os.path.join(CORRAL, n)
            if os.path.exists(p):
                out[n] = read(p)
    return out


def entry_id(name):
    return name.rsplit("_", 1)[1]


def wait_for(fn, timeout, step=0.3):
    return mctest.wait_for(fn, timeout, step)


def log_count(path, pattern):
    try:
        return len(re.findall(pattern, read(path)))
    except OSError:
        return 0


def scanner_counts():
    sp = [log_count(os.path.join(S, "spamd%d" % i, "spamd.log"), r"spamd: result: ") for i in (1, 2)]
    cl = [log_count(os.path.join(S, "clamd%d" % i, "clamd.log"), r": OK\b") for i in (1, 2)]
    return sp, cl


def archive_files():
    out = []
    for h in HOSTS:
        base = os.path.join(S, h, "archive")
        for p in glob.glob(os.path.join(base, "*", "*", "*", "*")):
            if os.path.isfile(p) and not os.path.basename(p).startswith("."):
                out.append(p)            # the row's path column: the full path
    return sorted(out)


def journal_sizes():
    return [os.path.getsize(p) if os.path.exists(p) else 0
            for p in (os.path.join(S, h, "journal", "index.journal") for h in HOSTS)]


def the_run():
    """Step 2: returns (sent {tag: (kind, host, rcpt)}, shares before the
    failures, archive files and cluster rows at the kill)."""
    sent = {}
    jobs = []
    for n in range(N_MSGS):
        host = "a" if n % 2 == 0 else "b"
        kind = "spam" if n % 4 < 2 else "ham"
        rcpt = ("user1@%s" if n % 8 < 4 else "user2@%s") % DOM if kind == "spam" else "user3@" + DOM
        tag, text = message(kind, n, rcpt)
        sent[tag] = (kind, host, rcpt)
        jobs.append((host, "sender%d@example.org" % n, [rcpt], text))
    third = len(jobs) // 3
    ok = []
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        ok += list(ex.map(lambda j: send(*j), jobs[:third]))
    shares = scanner_counts()
    print("# first third: %d messages in %.1f s; spamd results %s, clamd scans %s" %
          (third, time.time() - t0, shares[0], shares[1]), flush=True)
    # the failures
    n_arch = len(archive_files())
    rows_kill = rows(2)
    rc, _, err = galera("kill", "1")
    check(rc == 0, "Galera node 1 killed (SIGKILL) during the run", err)
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite", "stack", "spamd.sh"), "stop"],
                       env=dict(os.environ, SPAMD_PORT=str(P + 31), SPAMD_DIR=os.path.join(S, "spamd1")),
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "spamd 1 stopped during the run", r.stderr[-200:])
    t1 = time.time()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        ok += list(ex.map(lambda j: send(*j), jobs[third:]))
    print("# rest: %d messages in %.1f s after the failures; %d 4xx/connection retries" %
          (len(jobs) - third, time.time() - t1, len(tempfails)), flush=True)
    check(all(ok), "all %d messages accepted (4xx sent again: %d)" % (len(jobs), len(tempfails)),
          "%d not accepted" % ok.count(False))
    sp, _ = scanner_counts()
    failed = sum(log_count(os.path.join(S, h, "mailcorral.log"), r"spamd=failed|unchecked\(")
                 for h in HOSTS)
    check(sp[1] > shares[0][1] and failed == 0,
          "spamd 1 down: spamd 2 answered for the rest (%d results), no message unscanned" %
          (sp[1] - shares[0][1]), "%d decision lines with spamd=failed or virus unchecked" % failed)
    return sent, shares, n_arch, rows_kill


def check_mail(sent):
    """Step 3."""
    ham = {t: v for t, v in sent.items() if v[0] == "ham"}
    spam = {t: v for t, v in sent.items() if v[0] == "spam"}

    def delivered():
        got = {}
        for h in HOSTS:
            for p in mails(h, "user3"):
                m = re.search(r"^Subject: (scale-ham-\S+)", read(p), re.M)
                if m:
                    got.setdefault(m.group(1), []).append(h)
        return got

    wait_for(lambda: len(delivered()) >= len(ham), 60)
    got = delivered()
    wrong = [t for t, (_, h, _) in ham.items() if got.get(t) != [h]]
    check(not wrong, "no mail lost: each of %d clean messages delivered once, by the host it was sent to"
          % len(ham), "%d wrong, e.g. %s -> %s" % (len(wrong), wrong[:1], [got.get(t) for t in wrong[:1]]))

    def corralled():
        by = {}
        for name, text in corral_entries().items():
            m = re.search(r"^Subject: (scale-spam-\S+)", text, re.M)
            if m:
                by.setdefault(m.group(1), []).append(name)
        return by

    wait_for(lambda: len(corralled()) >= len(spam), 60)
    by = corralled()
    wrong = [t for t in spam if len(by.get(t, [])) != 1]
    check(not wrong, "no spam lost: each of %d spams corralled once, in the one shared corral" % len(spam),
          "%d wrong, e.g. %s" % (len(wrong), [(t, by.get(t)) for t in wrong[:2]]))
    badhost = [(t, by[t][0]) for t in spam if len(by.get(t, [])) == 1 and
               entry_id(by[t][0])[8:10] != HOST_ID[spam[t][1]]]
    check(not badhost, "every entry id carries the host that corralled it (digits 9-10: 01 on A, 02 on B)",
          str(badhost[:3]))
    ids = [entry_id(n) for n in corral_entries()]
    check(len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9A-F]{16}", i) for i in ids),
          "%d entries, all ids distinct and in the old form (16 hex digits)" % len(ids))
    left = [n for n in os.listdir(CORRAL) if n.startswith("tmp.")]
    claims = sorted(n for n in os.listdir(CORRAL) if n.startswith("host."))
    check(not left and claims == ["host.01", "host.02"],
          "no tmp.* left; each host claimed its id (%s)" % claims, str(left[:3]))
    return {t: (spam[t][1], spam[t][2], by[t][0]) for t in spam if len(by.get(t, [])) == 1}


def check_shares(shares):
    sp, cl = shares
    check(sp[0] > 0 and sp[1] > 0, "both spamd got a share of the load before any failure "
          "(results: spamd1 %d, spamd2 %d)" % tuple(sp),
          "scanner_balance = spread: the first server took all")
    check(cl[0] > 0 and cl[1] > 0, "both clamd got a share of the load before any failure "
          "(scans: clamd1 %d, clamd2 %d)" % tuple(cl),
          "scanner_balance = spread: the first server took all")


def check_index(n_arch_kill, rows_kill):
    """Step 4."""
    n_now = len(archive_files())
    moved = wait_for(lambda: (rows(2) or "0").isdigit() and int(rows(2) or 0) >= n_now, 20)
    r2 = rows(2)
    print("# index: %d archived files at the kill, %s rows on node 2 then; %d files now, %s rows on "
          "node 2 with node 1 down; journals %s bytes" % (n_arch_kill, rows_kill, n_now, r2, journal_sizes()),
          flush=True)
    check(moved, "Galera node 1 down: the indexer moved to the next node (rows of the mail sent "
          "since reach node 2: %s of %d)" % (r2, n_now),
          "the rows still wait in the journals (%s bytes)" % journal_sizes())
    t = time.time()
    rc, _, err = galera("start", "1")
    check(rc == 0, "Galera node 1 rejoins the cluster (%.0f s)" % (time.time() - t), err[-300:])
    # the journals drain on the indexer's next attempt: a message per host
    for h in HOSTS:
        send(h, "late@example.org", ["user3@" + DOM], message("late", 0, "user3@" + DOM)[1])
    files = archive_files()
    done = wait_for(lambda: sum(journal_sizes()) == 0 and
                    (rows(3) or "").isdigit() and int(rows(3)) >= len(files), 90)
    files = archive_files()
    rc, out, err = galera("sql", "3", "SELECT path FROM %s" % TABLE)
    paths = sorted(out.splitlines()) if rc == 0 else []
    check(done and paths == files,
          "no index row lost: the cluster (node 3) holds one row per archived file of both hosts "
          "(%d files, %d rows), journals empty" % (len(files), len(paths)),
          "missing %d, extra %d, journals %s" % (len(set(files) - set(paths)), len(paths) - len(files),
                                                  journal_sizes()))
    rc, out, _ = galera("sql", "1", "SELECT COUNT(*), COUNT(DISTINCT msg_key) FROM %s" % TABLE)
    check(rc == 0 and out.split() == [str(len(files))] * 2,
          "node 1, back, holds the same rows, no msg_key twice (%s)" % out)


def notify(host, *args):
    cmd = ["setpriv", "--reuid=" + RUN_AS, "--regid=" + RUN_AS, "--init-groups", NOTIFY,
           "-c", os.path.join(S, host, "mailcorral.conf")] + list(args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def digests(user):
    out = []
    for h in HOSTS:
        for p in mails(h, user):
            if re.search(r"^Subject: .*Spam held for you", read(p), re.M):
                out.append((h, p))
    return out


def check_digests(entries):
    """Step 5: one digest per user, listing both hosts' entries."""
    out = {}
    for user in ("user1", "user2"):
        addr = "%s@%s" % (user, DOM)
        pa, pb = notify("a", "--user", addr), notify("b", "--user", addr)
        ra, rb = pa.wait(timeout=700), pb.wait(timeout=700)
        wait_for(lambda: len(digests(user)) >= 1, 30)
        time.sleep(1.0)
        ds = digests(user)
        want = {entry_id(n) for (_, rc, n) in entries.values() if rc == addr}
        got = set(IDENT.findall(digest_text(ds[0][1]))) if ds else set()
        check(ra == 0 and rb == 0 and len(ds) == 1,
              "%s: the notifier run on A and on B at once (lock file) sends one digest" % user,
              "exits %s/%s, %d digests; %s" % (ra, rb, len(ds), pa.stderr.read()[-200:]))
        hosts = sorted({i[8:10] for i in got})
        check(got == want and hosts == ["01", "02"],
              "%s's digest lists all %d of its entries, from both hosts (%s)" % (user, len(want), hosts),
              "got %d, want %d" % (len(got), len(want)))
        if ds:
            out[user] = ds[0][1]
    return out


def digest_text(path):
    """The digest's text part (it may have an HTML alternative)."""
    return mctest.plain_text(mctest.parse_mail(path))


def reply(user, digest, cid):
    """The reply a mail client makes to the digest at path digest,
    keeping one identifier line."""
    keep = [l for l in digest_text(digest).splitlines() if ("[MC-%s-" % cid) in l]
    subj = str(mctest.parse_mail(digest)["Subject"])
    return ("From: %s@%s\nTo: spamcorral@%s\nSubject: Re: %s\n\nplease release\n\n> %s\n" %
            (user, DOM, DOM, subj, "\n> ".join(keep)))


def check_release(entries, dig):
    """Step 6: a reply to one host releases what the other corralled."""
    for (via, owner) in (("b", "a"), ("a", "b")):
        cand = [(t, rc, n) for t, (h, rc, n) in entries.items()
                if h == owner and rc == "user1@" + DOM]
        if not cand or "user1" not in dig:
            check(False, "reply to %s releases an entry of %s" % (via.upper(), owner.upper()), "no entry/digest")
            continue
        tag, rc, name = cand[0]
        cid = entry_id(name)
        before = len(mails(via, "user1"))
        ok = send(via, rc, ["spamcorral@" + DOM], reply("user1", dig["user1"], cid))
        got = wait_for(lambda: any(re.search(r"^Subject: .*%s" % re.escape(tag), read(p), re.M)
                                   for p in mails(via, "user1")[before:]), 60)
        gone = wait_for(lambda: not os.path.lexists(os.path.join(CORRAL, name)), 10)
        rl = read(os.path.join(S, via, "sc", "robot.log"))
        check(ok and got and gone,
              "a reply to host %s releases entry %s corralled by host %s: delivered by %s's MTA "
              "with the shared key, entry gone" % (via.upper(), cid, owner.upper(), via.upper()),
              "sent=%s delivered=%s gone=%s robot: %s" % (ok, got, gone, rl[-300:]))


def main():
    t0 = time.time()
    for h in HOSTS:
        tag, text = message("warm", 0, "user3@" + DOM)
        send(h, "warm@example.org", ["user3@" + DOM], text)
    check(wait_for(lambda: all(mails(h, "user3") for h in HOSTS), 60),
          "warm-up: one clean message delivered through each host")
    sent, shares, n_arch, rows_kill = the_run()
    entries = check_mail(sent)
    check_shares(shares)
    check_index(n_arch, rows_kill)
    dig = check_digests(entries)
    check_release(entries, dig)
    print("# scale.py: %.0f s" % (time.time() - t0), flush=True)
    R.save(os.path.join(S, "summary"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

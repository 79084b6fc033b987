#!/usr/bin/env python3
"""Trust-boundary checks (MailCorral issue 16) against the private stack
started by testsuite/e2e/trust.sh.  python3 stdlib only.

  trust_e2e.py --write-conf PATH VARIANT   write a filter config
  trust_e2e.py run                         run the checks

Environment: STACK_DIR, SMTP_PORT (set by trust.sh).  Prints one
"PASS name" / "FAIL name: why" line per check (trust.sh counts them) and
"DONE" when every check ran."""
import email
import email.policy
import email.utils
import functools
import glob
import os
import secrets
import re
import smtplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
STACK_DIR = os.environ.get("STACK_DIR", "/tmp/mc-tr-e2e")
SMTP_PORT = int(os.environ.get("SMTP_PORT", "3100"))
DOM = "mx.mailcorral.test"
ARCHIVER = "archive@" + DOM
MAIL_DIR = os.path.join(STACK_DIR, "mail")
MC_LOG = os.path.join(STACK_DIR, "mailcorral.log")

sys.path.insert(0, os.path.join(TOP, "testsuite", "stack"))
sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
from send import Sender          # noqa: E402
import mctest                     # noqa: E402
from mctest import EXE_B64, wait_for  # noqa: E402

BASE = [
    "user = mail",
    "attachment_action = delete",
    "spool_dir = @STACK_DIR@/spool",
    "corral_dir = @STACK_DIR@/corral",
    "bypass_key_file = @STACK_DIR@/spamkey",
    "archive_address = %s" % ARCHIVER,
    "spam_arbitron = builtin",
    "spam_disposition = corral",
    "spamcorral_address = spamcorral@%s" % DOM,
    "sendmail_path = @STACK_DIR@/sc/sendmail",
]
CLAMD_PORT = int(os.environ.get("CLAMD_PORT", "3102"))
CLAMD_DEAD_PORT = int(os.environ.get("CLAMD_DEAD_PORT", "3149"))
VARIANTS = {
    "base": [],
    # clamd failing (nothing listens) and on_clamd_failure = accept
    "clamd-down": ["virus_arbitron = clamd", "clamd_servers = 127.0.0.1:%d" % CLAMD_DEAD_PORT,
                   "on_clamd_failure = accept"],
    "clamd-up": ["virus_arbitron = clamd", "clamd_servers = 127.0.0.1:%d" % CLAMD_PORT,
                 "on_clamd_failure = accept"],
    "quota": ["corral_max_rcpt_size = 4k"],
    # the Perl filter adds X-Filter: two to every message
    "perl": ["perl_shim = %s/perlshim.pl" % TOP,
             "perl_filter = %s/testsuite/e2e/perl/filter2.pl" % TOP, "perl_workers = 1"],
    # releases only through sendmail's listener Name=MC-release
    "daemon": ["bypass_daemon_name = MC-release", "sendmail_path = @STACK_DIR@/sc/sendmail-release"],
}


def write_conf(path, variant):
    with open(path, "w") as f:
        f.write("# testsuite/e2e/trust.sh: variant %s\n" % variant)
        f.write("\n".join(BASE + VARIANTS[variant]) + "\n")


def result(ok, name, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    sys.stdout.flush()
    return ok


# ------------------------------------------------------------ helpers
log_for = functools.partial(mctest.log_for, MC_LOG)
msg = functools.partial(mctest.test_msg, DOM)
exe_msg = functools.partial(mctest.exe_msg, DOM)


senders = {}


def send(rcpt, data, sender="sender@example.org"):
    """Returns (reply, qid or None)."""
    if sender not in senders:
        senders[sender] = Sender(SMTP_PORT, sender=sender)
    reply = senders[sender].send(rcpt, data)
    m = re.match(r"250 2\.0\.0 (\S+) ", reply)
    return reply, (m.group(1) if m else None)


def decision(qid, timeout=10):
    def find():
        for line in log_for(qid) if qid else []:
            if " action=" in line:
                return line
        return None
    return wait_for(find, timeout) or ""


def delivered(user, needle, timeout=10, want=1):
    def find():
        out = []
        for p in sorted(glob.glob(os.path.join(MAIL_DIR, user + ".*"))):
            with open(p, "rb") as f:
                d = f.read()
            if needle in d:
                out.append(d)
        return out if len(out) >= want else None
    return wait_for(find, timeout) or []


def resubmittable(copy):
    """A delivered copy as a relay would send it on (CRLF, no Return-Path)."""
    return re.sub(rb"^Return-Path:[^\n]*\n", b"", copy).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def field(data, name):
    m = re.search(rb"(?m)^" + name + rb": ([^\r\n]*)", data)
    return m.group(1) if m else None


# ------------------------------------------------------------ item 1
def test_archive_copy_proof():
    """Issue 16 item 1 (SC-B13): the archiver's header proves this copy."""
    nonce = b"tr1-%d" % time.time_ns()
    reply, qid = send("u1@" + DOM, exe_msg(nonce))
    copies = delivered("archive", nonce)
    if not result(len(copies) == 1 and b"X-MailCorral-Archive: v=1; k=" in copies[0] and
                  EXE_B64 not in copies[0],
                  "SC-B13 first pass: the archiver's copy carries the header, .exe removed",
                  "%s %d copies" % (reply, len(copies))):
        return
    copy = copies[0]
    hdr, date, mid = field(copy, b"X-MailCorral-Archive"), field(copy, b"Date"), field(copy, b"Message-ID")
    result(re.fullmatch(rb"v=1; k=[0-9a-f]{8}; i=[0-9A-F]{16}; t=\d+; x=\d+; h=[A-Za-z0-9_-]{43}", hdr or b"")
           is not None, "SC-B13 the archiver's header has the bypass header's format", repr(hdr))
    # the attack: the header reused on another body, to the archiver alone
    n2 = b"tr1-forged-%d" % time.time_ns()
    reply2, qid2 = send(ARCHIVER, exe_msg(n2, msgid=mid, date=date,
                                          extra=b"X-MailCorral-Archive: " + hdr + b"\r\n"))
    line2 = decision(qid2)
    got = delivered("archive", n2)
    rej = [x for x in log_for(qid2) if "archive-copy-rejected reason=bad-mac" in x] if qid2 else []
    result(" action=accept " in line2 and "removed:1" in line2 and rej and len(got) == 1 and
           EXE_B64 not in got[0] and got[0].count(b"X-MailCorral-Archive:") == 1,
           "SC-B13 a reused X-MailCorral-Archive header on another body is filtered (.exe removed)",
           "%s %r %r" % (reply2, line2, rej))
    # the genuine copy on a later pass: once
    reply3, qid3 = send(ARCHIVER, resubmittable(copy))
    line3 = decision(qid3)
    result(" action=archive-copy " in line3, "SC-B13 the genuine copy on a later pass: archive-copy",
           "%s %r" % (reply3, line3))
    reply4, qid4 = send(ARCHIVER, resubmittable(copy))
    line4 = decision(qid4)
    rej4 = [x for x in log_for(qid4) if "archive-copy-rejected reason=used" in x] if qid4 else []
    result(" action=archive-copy " not in line4 and rej4,
           "SC-B13 the same copy a second time is filtered (single use)", "%s %r" % (reply4, line4))
    # a release (bypass) header never passes as the archiver's
    n5 = b"tr1-purpose-%d" % time.time_ns()
    fake = hdr.replace(b"X-MailCorral-Archive", b"")
    reply5, qid5 = send(ARCHIVER, exe_msg(n5, msgid=mid, date=date,
                                          extra=b"X-MailCorral-Bypass: " + fake + b"\r\n"))
    line5 = decision(qid5)
    result(" action=bypass " not in line5 and " action=archive-copy " not in line5 and "removed:1" in line5,
           "SC-B13 the archiver's header does not pass as a release header", repr(line5))


# ------------------------------------------------------------ item 7
SC_BIN = os.environ.get("SC_BIN", os.path.join(TOP, "spamcorral"))   # another build's
NOTIFY = os.path.join(SC_BIN, "spamcorral-notify")
ROBOT_BIN = os.path.join(SC_BIN, "spamcorral-robot")
AS_MAIL = ["setpriv", "--reuid=mail", "--regid=mail", "--init-groups"]
# (name, file content, accepted by bypass_key_load: 64 hex digits then
# only white space, or 32 raw bytes; see bypass.h)
HEX = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
KEY_FILES = [
    ("hex-newline", (HEX + "\n").encode(), True),
    ("hex-only", HEX.encode(), True),
    ("hex-crlf", (HEX + "\r\n").encode(), True),
    ("hex-blank-newline", (HEX + " \n").encode(), True),
    ("hex-tab", (HEX + "\t").encode(), True),
    ("hex-two-newlines", (HEX + "\n\n").encode(), True),
    ("raw-32", bytes(range(1, 33)), True),
    ("hex-63", (HEX[:63] + "\n").encode(), False),
    ("hex-then-text", (HEX + " x\n").encode(), False),
    ("hex-65", (HEX + "0\n").encode(), False),
    ("short", b"abc\n", False),
]


def key_case(name, content):
    """The notifier's and the robot's exit codes with this key file."""
    import pwd
    pw = pwd.getpwnam("mail")
    d = os.path.join(STACK_DIR, "keys", name)
    corral = os.path.join(d, "corral")
    os.makedirs(corral, exist_ok=True)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chown(corral, pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o755)
    os.chmod(corral, 0o700)
    key = os.path.join(d, "key")
    with open(key, "wb") as f:
        f.write(content)
    os.chown(key, pw.pw_uid, pw.pw_gid)
    os.chmod(key, 0o600)
    conf = os.path.join(d, "mc.conf")
    with open(conf, "w") as f:
        f.write("corral_dir = %s\nbypass_key_file = %s\nspam_disposition = corral\n"
                "spamcorral_address = spamcorral@%s\nsendmail_path = /bin/true\n" % (corral, key, DOM))
    n = subprocess.run(AS_MAIL + [NOTIFY, "-c", conf, "--dry-run"], capture_output=True, timeout=60)
    reply = ("From user1@%s  Sat Nov 22 07:00:00 2026\nFrom: <user1@%s>\nTo: <spamcorral@%s>\n"
             "Subject: Re: Spam held for you\n\nyes please\n\n> [MC-0123456789ABCDEF-%s]\n" %
             (DOM, DOM, DOM, "0" * 32)).encode()
    r = subprocess.run(AS_MAIL + [ROBOT_BIN, "-c", conf, "-L", os.path.join(d, "robot.log")],
                       input=reply, capture_output=True, timeout=60)
    return n.returncode, r.returncode, (n.stdout + n.stderr).decode(errors="replace")[-200:]


def test_key_parser():
    """Issue 16 item 7 (SC-B16): the daemon's key parser everywhere."""
    for name, content, ok in KEY_FILES:
        n, r, out = key_case(name, content)
        if ok:
            result(n == 0 and r == 0, "SC-B16 key file %s: the notifier and the robot accept it" % name,
                   "notify exit %d, robot exit %d: %s" % (n, r, out))
        else:
            result(n == 78 and r == 75 and "bypass_key_file" in out,
                   "SC-B16 key file %s: refused by both, the notifier says so on stderr" % name,
                   "notify exit %d, robot exit %d: %s" % (n, r, out))


# ------------------------------------------------------------ item 2
CORRAL = os.path.join(STACK_DIR, "corral")
ROBOT = "spamcorral@" + DOM
ROBOT_LOG = os.path.join(STACK_DIR, "sc", "robot.log")
CONF = os.path.join(STACK_DIR, "mailcorral.conf")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
IDENT = re.compile(r"\[MC-[0-9A-F]{16}-[0-9a-f]{32}\]")
LOOSE = re.compile(r"(?i)(?<![0-9a-z])mc-[0-9a-f]{16}-[0-9a-f]{32}(?![0-9a-z])")


def smtp(sender, rcpts, text):
    mctest.smtp_text(SMTP_PORT, sender, rcpts, text)


def mails(user):
    return sorted(glob.glob(os.path.join(MAIL_DIR, user + ".*")))


parse = mctest.parse_mail
text_of = mctest.plain_text


def entries(user):
    return sorted(n for n in os.listdir(CORRAL) if n.startswith("spam_to_" + user + "@"))


def first_entry(user, timeout=20):
    """user's first corral entry once there is one; b"" when none came."""
    if not wait_for(lambda: entries(user), timeout):
        return b""
    with open(os.path.join(CORRAL, entries(user)[0]), "rb") as f:
        return f.read()


def spam(subject, rcpts, sender="someone@example.org"):
    smtp(sender, list(rcpts), "From: Spammer <%s>\nTo: %s\nSubject: %s\n"
         "Message-ID: <%s.%d@example.org>\nDate: %s\n\nBuy now!\n%s\n" %
         (sender, ", ".join(rcpts), subject, secrets.token_hex(6), time.time_ns(),
          email.utils.formatdate(localtime=True), GTUBE))


def robot_lines(pattern):
    if not os.path.exists(ROBOT_LOG):
        return []
    with open(ROBOT_LOG, errors="replace") as f:
        return [line for line in f.read().splitlines() if re.search(pattern, line)]


def digests(user):
    return [p for p in mails(user) if "Spam held for you" in str(parse(p)["Subject"])]


def digest(user, n_entries):
    """Runs the notifier for user alone; the newest digest (parsed)."""
    addr = user + "@" + DOM
    wait_for(lambda: len(entries(user)) >= n_entries, 20)
    nd = len(digests(user))
    subprocess.run(AS_MAIL + [NOTIFY, "-c", CONF, "--user", addr], capture_output=True, timeout=60)
    if not wait_for(lambda: len(digests(user)) > nd, 20):
        return None
    return parse(sorted(digests(user), key=os.path.getmtime)[-1])


def reply(user, body_lines, subject="Re: Spam held for you", sender=None):
    addr = user + "@" + DOM
    n = len(robot_lines(r"reply sender=%s@" % user))
    smtp(sender or addr, [ROBOT], "From: User <%s>\nTo: SpamCorral <%s>\nSubject: %s\n\n"
         "please send me these\n\n%s\n" % (addr, ROBOT, subject, "\n".join(body_lines)))
    wait_for(lambda: len(robot_lines(r"reply sender=%s@" % user)) > n, 30)
    time.sleep(1.5)        # the robot's remails pass the filter


def tagged(user, subject):
    return [p for p in mails(user) if str(parse(p)["Subject"]) == "[SPAM] " + subject]


def idents_of(msg, subject):
    """The identifier of the digest entry whose block names subject."""
    for block in text_of(msg).split("-----"):
        if subject in block and IDENT.search(block):
            return IDENT.search(block).group(0)
    return None


def released(user, subject, sc):
    """The user's digest, a reply keeping subject's identifier: the tagged
    copies delivered (None: no digest or identifier, already reported)."""
    m = digest(user, 1)
    ident = idents_of(m, subject) if m else None
    if not result(ident is not None, "%s digest for %s" % (sc, user), "no digest"):
        return None
    reply(user, ["> " + ident])
    return wait_for(lambda: tagged(user, subject), 20)


def test_robot_limit():
    """Issue 16 item 2 (SC-R14): nobody can lock a user out of releases."""
    # a forged sender: an outside client names userA and sends random ids
    spam("Lock A", ["usera@" + DOM])
    forged = ["> [MC-%s-%s]" % (secrets.token_hex(8).upper(), secrets.token_hex(16)) for _ in range(20)]
    reply("usera", forged)
    m = digest("usera", 1)
    ida = idents_of(m, "Lock A") if m else None
    if not result(ida is not None, "SC-R14 digest for usera", "no digest"):
        return
    reply("usera", ["> " + ida])
    ok = wait_for(lambda: tagged("usera", "Lock A"), 15)
    result(ok and not robot_lines(r"sender=usera@\S+ reason=rate-limited"),
           "SC-R14 20 random identifiers under a forged sender do not block the user: the release goes through",
           "; ".join(robot_lines(r"usera@")[-3:]))

    # MC- look-alikes in spam Subjects are shown broken in the digest
    subs = ["Prize MC-%s-%s now %d" % (secrets.token_hex(8).upper(), secrets.token_hex(16), k) for k in range(10)]
    spam("Plain B", ["userb@" + DOM])
    for sub in subs:
        spam(sub, ["userb@" + DOM])
    m = digest("userb", 11)
    if not result(m is not None, "SC-R14 digest for userb", "no digest"):
        return
    t = text_of(m)
    result(len(LOOSE.findall(t)) == 11 and t.count("MC_") >= 10,
           "SC-R14 the digest shows spam Subjects' MC- look-alikes broken (MC_), only its own identifiers whole",
           "%d identifiers, %d MC_" % (len(LOOSE.findall(t)), t.count("MC_")))
    # the user quotes the whole digest back: everything is released
    reply("userb", ["> " + line for line in t.splitlines()])
    ok = wait_for(lambda: len(tagged("userb", "Plain B")) == 1 and
                  sum(len(tagged("userb", s2.replace("MC-", "MC_"))) + len(tagged("userb", s2)) for s2 in subs) == 10,
                  20)
    result(ok and not robot_lines(r"sender=userb@\S+ (id=\S+ )?reason=(bad-token|rate-limited)"),
           "SC-R14 a reply quoting the whole digest releases all 11 entries, no bad token counted",
           "; ".join(robot_lines(r"userb@")[-3:]))

    # bad tokens for a real entry never stop the reply's valid releases
    spam("Real C1", ["userc@" + DOM])
    spam("Real C2", ["userc@" + DOM])
    m = digest("userc", 2)
    c1, c2 = (idents_of(m, "Real C1"), idents_of(m, "Real C2")) if m else (None, None)
    if not result(c1 and c2, "SC-R14 digest for userc", "no identifiers"):
        return
    bad = ["> [MC-%s-%s]" % (c1[4:20], secrets.token_hex(16)) for _ in range(12)]
    reply("userc", bad + ["> " + c2])
    ok = wait_for(lambda: tagged("userc", "Real C2"), 15)
    result(ok and len(robot_lines(r"release-denied sender=userc@\S+ reason=rate-limited")) == 1,
           "SC-R14 12 bad tokens before a valid identifier: the user is blocked and the valid one still released",
           "; ".join(robot_lines(r"userc@")[-3:]))
    reply("userc", ["> " + c1])
    ok = wait_for(lambda: tagged("userc", "Real C1"), 15)
    result(ok, "SC-R14 a blocked user's valid identifier is still released",
           "; ".join(robot_lines(r"userc@")[-3:]))


# ------------------------------------------------------------ item 4
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def restart_filter(variant):
    for s in senders.values():
        s.close()
    senders.clear()
    path = os.path.join(STACK_DIR, "sc", "%s.conf" % variant)
    write_conf(path, variant)
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite/stack/stack.sh"), "restart-filter", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return result(r.returncode == 0, "restart the filter with the %s config" % variant,
                  r.stdout.decode(errors="replace")[-300:])


def test_release_unchecked():
    """Issue 16 item 4 (SC-B14): a release does not skip a check that never ran."""
    import base64
    if not restart_filter("clamd-down"):
        return
    user = "userd"
    b64 = base64.b64encode(EICAR).decode()
    smtp("someone@example.org", [user + "@" + DOM],
         "From: Spammer <someone@example.org>\nTo: %s@%s\nSubject: Unscanned D\n"
         "Message-ID: <%s@example.org>\nDate: %s\nMIME-Version: 1.0\n"
         "Content-Type: multipart/mixed; boundary=\"BB\"\n\n--BB\nContent-Type: text/plain\n\n%s\n"
         "--BB\nContent-Type: application/octet-stream; name=\"report.txt\"\n"
         "Content-Disposition: attachment; filename=\"report.txt\"\nContent-Transfer-Encoding: base64\n\n"
         "%s\n--BB--\n" % (user, DOM, secrets.token_hex(6), email.utils.formatdate(localtime=True),
                            GTUBE, b64))
    data = first_entry(user)
    head = data.split(b"\r\n\r\n", 1)[0]
    result(b"X-MailCorral-Virus: unchecked" in head and b64.encode() in data,
           "SC-B14 spam corralled while clamd failed (on_clamd_failure = accept): the entry says unchecked",
           repr(head[-300:]))
    if not restart_filter("clamd-up"):
        return
    got = released(user, "Unscanned D", "SC-B14")
    if got is None:
        return
    body = open(got[0], "rb").read() if got else b""
    lines = [x for x in open(MC_LOG, errors="replace").read().splitlines()
             if " action=bypass " in x and "Lab.EICAR" in x]
    result(got and b64.encode() not in body and b"EICAR-STANDARD" not in body and lines and
           b"X-MailCorral-Virus: unchecked" not in body,
           "SC-B14 its release is scanned by clamd: the EICAR part removed, delivered tagged [SPAM]",
           "%d copies; %r" % (len(got), lines[-1:] or body[-300:]))
    restart_filter("base")


# ------------------------------------------------------------ item 3
def smtp_reply(sender, rcpts, text):
    """The final SMTP reply code of one transaction."""
    try:
        smtp(sender, rcpts, text)
        return 250
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    except smtplib.SMTPRecipientsRefused as e:
        return list(e.recipients.values())[0][0]


def spam_text(subject, rcpts, pad=400):
    return ("From: Spammer <someone@example.org>\nTo: %s\nSubject: %s\nMessage-ID: <%s@example.org>\n"
            "Date: %s\n\nBuy now! %s\n%s\n" % (", ".join(rcpts), subject, secrets.token_hex(6),
                                              email.utils.formatdate(localtime=True), "x" * pad, GTUBE))


def test_quota_partial():
    """Issue 16 item 3 (SC-C9): one full corral does not tempfail the others."""
    if not restart_filter("quota"):
        return
    full = "fullq@" + DOM
    codes = []
    for k in range(12):
        codes.append(smtp_reply("someone@example.org", [full], spam_text("Storm %d" % k, [full], pad=0)))
        if codes[-1] != 250:
            break
    if not result(codes[-1] == 451 and codes.count(250) >= 1,
                  "SC-C9 fullq's corral fills up: its own spam gets 451 (as before)", repr(codes)):
        return
    others = ["usere1@" + DOM, "usere2@" + DOM]
    n1, n2 = len(entries("usere1")), len(entries("usere2"))
    code = smtp_reply("someone@example.org", [others[0], full, others[1]],
                      spam_text("Shared spam", [others[0], full, others[1]], pad=0))
    got = wait_for(lambda: tagged("fullq", "Shared spam"), 15)
    log = open(MC_LOG, errors="replace").read()
    time.sleep(1)
    result(code == 250 and len(entries("usere1")) == n1 + 1 and len(entries("usere2")) == n2 + 1 and
           len(got) == 1 and not mails("usere1") and not mails("usere2") and
           re.search(r"corral-over-quota rcpt=fullq@\S+ delivered=tagged corral=[0-9A-F]{16}", log) is not None,
           "SC-C9 spam to two users and the full one: 250, the two corralled, fullq's copy delivered "
           "tagged [SPAM], logged corral-over-quota",
           "code %s, entries %d/%d, %d tagged, log %s" % (code, len(entries("usere1")) - n1,
                                                         len(entries("usere2")) - n2, len(got),
                                                         bool(re.search(r"corral-over-quota", log))))
    restart_filter("base")


# ------------------------------------------------------------ item 6
def test_daemon_name():
    """Issue 16 item 6 (SC-B15): bypass_daemon_name proves where a release came from."""
    if not restart_filter("daemon"):
        return
    user = "userf"
    spam("Listener F", [user + "@" + DOM])
    stored = first_entry(user)
    if not result(stored != b"", "SC-B15 spam for userf corralled", "no entry"):
        return
    # the stored copy with its valid header, remailed by a "local" sender
    # ({mail_mailer} local, no @) but on the ordinary listener
    s = Sender(SMTP_PORT, sender=user)
    reply_, qid = s.send(user + "@" + DOM, stored), None
    s.close()
    m = re.match(r"250 2\.0\.0 (\S+) ", reply_)
    qid = m.group(1) if m else None
    line = decision(qid)
    rej = [x for x in log_for(qid) if "bypass-rejected reason=not-release-listener" in x] if qid else []
    result(" action=bypass " not in line and rej and " action=corral " in line,
           "SC-B15 a valid release header on the ordinary listener is refused (not-release-listener), "
           "corralled again", "%s %r" % (reply_, line))
    # the robot submits to the release listener: released
    got = released(user, "Listener F", "SC-B15")
    if got is None:
        return
    result(got, "SC-B15 the robot's release through the MC-release listener is delivered tagged [SPAM]",
           "; ".join(robot_lines(r"userf@")[-3:]))
    restart_filter("base")


# ------------------------------------------------------------ item 5
def test_perl_corral():
    """Issue 16 item 5 (SC-P3): the corralled copy carries the Perl filter's
    header edits, as the delivered copy would."""
    if not restart_filter("perl"):
        return
    user = "userg"
    spam("Perl G", [user + "@" + DOM])
    data = first_entry(user)
    head = data.split(b"\r\n\r\n", 1)[0]
    result(b"\r\nX-Filter: two\r\n" in head + b"\r\n" and b"X-MailCorral-Bypass: v=1;" in head,
           "SC-P3 a spam corralled through real sendmail carries the Perl filter's added header",
           repr(head[-300:]))
    restart_filter("base")


def main(argv):
    if len(argv) == 4 and argv[1] == "--write-conf":
        write_conf(argv[2], argv[3])
        return 0
    if len(argv) != 2 or argv[1] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    for t in (test_archive_copy_proof, test_key_parser, test_robot_limit, test_release_unchecked,
              test_quota_partial, test_daemon_name, test_perl_corral):
        try:
            t()
        except Exception as e:          # a crashed check is a failed one
            result(False, t.__name__, "%s: %s" % (type(e).__name__, e))
    for s in senders.values():
        s.close()
    print("DONE")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

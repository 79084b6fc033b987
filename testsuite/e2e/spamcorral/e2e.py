#!/usr/bin/env python3
"""SpamCorral end-to-end checks against a running private stack (started by
testsuite/e2e/spamcorral.sh).  python3 stdlib only.

  e2e.py TOP STACK_DIR SMTP_PORT RUN_AS

Checks for RELIABILITY SC ids print the id first.  SC-R12 and SC-C8 use
corrals of their own (class Private) with the notifier and the robot run
directly and the MSP stand-in in record mode (sendmail.py --record).

Prints "PASS ..." / "FAIL ..." per check and a last line
"N passed, N failed"; exit status 1 when something failed."""
import base64
import concurrent.futures
import email
import email.policy
import fcntl
import hashlib
import hmac
import json
import os
import random
import pwd
import quopri
import re
import secrets
import socket
import stat
import subprocess
import sys
import threading
import time

TOP, D, PORT, RUN_AS = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest  # noqa: E402
DOM = "mx.mailcorral.test"
U1, U2 = "user1@" + DOM, "user2@" + DOM
U3, U4 = "user3@" + DOM, "user4@" + DOM
VICTIM = "victim@example.org"           # outside the local domains
STATE = os.path.join(D, "corral", ".spamcorral-robot.state")
ROBOT = "spamcorral@" + DOM
CORRAL = os.path.join(D, "corral")
MAIL = os.path.join(D, "mail")
CONF = os.path.join(D, "mailcorral.conf")
NOTIFY = os.path.join(TOP, "spamcorral", "spamcorral-notify")
ROBOT_BIN = os.path.join(TOP, "spamcorral", "spamcorral-robot")
STANDIN = os.path.join(TOP, "testsuite", "e2e", "spamcorral", "sendmail.py")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
IDENT = re.compile(r"\[MC-[0-9A-F]{16}-[0-9a-f]{32}\]")

R = mctest.Results()
check = R.check


def smtp(sender, rcpts, text):
    mctest.smtp_text(PORT, sender, rcpts, text)


def mails(user=None):
    out = []
    for n in sorted(os.listdir(MAIL)):
        p = os.path.join(MAIL, n)
        if not os.path.isfile(p):
            continue
        if user is None or n.split(".")[0] == user:
            out.append(p)
    return out


parse = mctest.parse_mail
text_of = mctest.plain_text


def entries():
    return sorted(n for n in os.listdir(CORRAL) if n.startswith("spam_to_"))


def wait_until(fn, timeout=20):
    return mctest.wait_for(fn, timeout, 0.1)


def settle(seconds=1.5):
    """No new delivered copies for a while (the robot's nested sends)."""
    last, stable = None, 0.0
    end = time.time() + 20
    while time.time() < end:
        now = (len(os.listdir(MAIL)), len(entries()))
        if now == last:
            stable += 0.1
            if stable >= seconds:
                return
        else:
            stable, last = 0.0, now
        time.sleep(0.1)


def log_text():
    return mctest.read_from(os.path.join(D, "mailcorral.log"))


def robot_log():
    p = os.path.join(D, "sc", "robot.log")
    return open(p, errors="replace").read() if os.path.exists(p) else ""


def notify(*args):
    cmd = ["setpriv", "--reuid=" + RUN_AS, "--regid=" + RUN_AS, "--init-groups",
           NOTIFY, "-c", CONF] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def spam(subject, sender="someone@example.org", rcpts=(U1,)):
    smtp(sender, list(rcpts), "From: Spammer <%s>\nTo: %s\nSubject: %s\n"
         "Message-ID: <%s.%d@example.org>\nDate: %s\n\nBuy now!\n%s\n" %
         (sender, ", ".join(rcpts), subject, re.sub(r"\W", "", subject),
          int(time.time() * 1000), email.utils.formatdate(localtime=True), GTUBE))


def reply_text(sender_hdr, digest_msg, keep_ids, extra_headers="", top="please send me this"):
    """A mail-client reply: top-posted text, the digest quoted with "> ",
    identifier lines of entries not wanted deleted (with their block)."""
    body = text_of(digest_msg)
    out, skip = [], False
    for line in body.splitlines():
        m = IDENT.search(line)
        if m:
            skip = m.group(0) not in keep_ids
        elif line.startswith("-----"):
            skip = False
        if not skip:
            out.append("> " + line)
    return ("From: User <%s>\nTo: SpamCorral <%s>\nSubject: Re: %s\n"
            "In-Reply-To: %s\n%s\n%s\n\nOn some day SpamCorral wrote:\n%s\n" %
            (sender_hdr, ROBOT, digest_msg["Subject"], digest_msg["Message-ID"],
             extra_headers, top, "\n".join(out)))


def digest_of(user):
    ds = [p for p in mails(user) if "Spam held for you" in str(parse(p)["Subject"])]
    return ds


def notify_user(user, addr):
    """Runs the notifier for addr alone; returns user's digests once a new one arrived."""
    nd = len(digest_of(user))
    notify("--user", addr)
    wait_until(lambda: len(digest_of(user)) > nd)
    settle()
    return digest_of(user)


def confirmations(user):
    return [p for p in mails(user) if "released" in str(parse(p)["Subject"]) and
            "SpamCorral" in str(parse(p)["Subject"])]


def robot_lines(pattern):
    return [l for l in robot_log().splitlines() if re.search(pattern, l)]


def random_ident():
    return "[MC-%s-%s]" % (secrets.token_hex(8).upper(), secrets.token_hex(16))


def spam_tagged(user, subject):
    return [p for p in mails(user) if str(parse(p)["Subject"]) == "[SPAM] " + subject]


def main():
    t0 = time.time()
    mail_uid = pwd.getpwnam(RUN_AS).pw_uid

    # ---- permissions ----
    st = os.stat(CORRAL)
    check(st.st_uid == mail_uid and stat.S_IMODE(st.st_mode) == 0o700,
          "corral dir owned by %s, mode 0700" % RUN_AS, oct(st.st_mode))
    st = os.stat(os.path.join(D, "spamkey"))
    check(st.st_uid == mail_uid and stat.S_IMODE(st.st_mode) == 0o600,
          "bypass key owned by %s, mode 0600" % RUN_AS)
    st = os.stat(os.path.join(D, "sc", "robot.alias"))
    check(st.st_uid == mail_uid and not st.st_mode & 0o022,
          ":include: file owned by %s, not group/world writable" % RUN_AS)

    # ---- corralling ----
    spam("Cheap pills A")
    spam("Lottery win B =?UTF-8?B?4oCu?=evil")   # with a bidi override
    spam("Hello C", rcpts=(U2,))
    wait_until(lambda: len(entries()) >= 3)
    es = entries()
    check(len(es) == 3, "three spams corralled", str(es))
    check(not mails("user1") and not mails("user2"), "nothing delivered to user1/user2")
    check(all(os.lstat(os.path.join(CORRAL, n)).st_uid == mail_uid and
              stat.S_IMODE(os.lstat(os.path.join(CORRAL, n)).st_mode) == 0o600 for n in es),
          "corral files are 0600 and owned by %s" % RUN_AS)
    check(log_text().count("action=corral") == 3, "filter logged action=corral 3 times")

    # ---- digests ----
    r = notify("--dry-run")
    check(r.returncode == 0 and r.stdout.count("==== digest for") == 2 and not mails(),
          "--dry-run prints two digests and sends nothing", r.stderr[-300:])
    r = notify()
    check(r.returncode == 0, "spamcorral-notify exits 0", r.stderr[-300:])
    wait_until(lambda: digest_of("user1") and digest_of("user2"))
    d1, d2 = digest_of("user1"), digest_of("user2")
    check(len(d1) == 1 and len(d2) == 1, "one digest each for user1 and user2")
    if not (d1 and d2):
        return t0
    m1, m2 = parse(d1[0]), parse(d2[0])
    t1, t2 = text_of(m1), text_of(m2)
    ids1, ids2 = IDENT.findall(t1), IDENT.findall(t2)
    check(len(ids1) == 2 and len(ids2) == 1, "user1's digest lists 2 entries, user2's 1",
          "%d/%d" % (len(ids1), len(ids2)))
    check("Spam held for you: 2 messages" in str(m1["Subject"]), "digest subject names the count",
          str(m1["Subject"]))
    check(m1["Auto-Submitted"] == "auto-generated" and m1["Precedence"] == "bulk" and
          m1["X-Auto-Response-Suppress"] == "All" and ROBOT in str(m1["Reply-To"]),
          "digest headers: Auto-Submitted, Precedence, X-Auto-Response-Suppress, Reply-To")
    check("Cheap pills A" in t1 and "Lottery win B" in t1 and "\u202e" not in t1 and
          "Hello C" in t2 and "reply to this message" in t1.lower().replace("\n", " "),
          "digest: instructions, decoded subjects, bidi override removed")
    check(re.search(r"Score: \d+%", t1) is not None, "digest shows the score in percent")
    check(len(entries()) == 3, "the digests themselves were not corralled")
    r = notify()
    time.sleep(1)
    check(len(digest_of("user1")) == 1 and len(digest_of("user2")) == 1,
          "a second run sends nothing new")
    # the identifier of "Cheap pills A" and of "Lottery win B"
    blocks = t1.split("-----")
    idA = [IDENT.search(b).group(0) for b in blocks if "Cheap pills A" in b and IDENT.search(b)]
    idB = [IDENT.search(b).group(0) for b in blocks if "Lottery win B" in b and IDENT.search(b)]
    check(len(idA) == 1 and len(idB) == 1, "identifiers found per entry")
    if not (idA and idB):
        return t0
    idA, idB = idA[0], idB[0]
    nameA = [n for n in entries() if n.endswith("_" + idA[4:20])]
    nameB = [n for n in entries() if n.endswith("_" + idB[4:20])]

    # ---- user1 releases A ----
    rep = reply_text(U1, m1, {idA})
    check(idB not in rep and idA in rep, "the reply keeps only A's identifier")
    smtp(U1, [ROBOT], rep)
    ok = wait_until(lambda: spam_tagged("user1", "Cheap pills A"))
    settle()
    rel = spam_tagged("user1", "Cheap pills A")
    check(ok and len(rel) == 1, "A arrives in user1's mailbox tagged [SPAM]", robot_log()[-500:])
    if rel:
        body = open(rel[0], errors="replace").read()
        check(GTUBE in body, "the released copy is the corralled message")
    check(re.search(r"action=bypass[^\n]*\n?", log_text()) is not None and
          log_text().count("action=corral") == 3, "filter: action=bypass, no new corral")
    check(not any(os.path.lexists(os.path.join(CORRAL, n)) for n in nameA), "A's corral entry is deleted")
    check(all(os.path.lexists(os.path.join(CORRAL, n)) for n in nameB), "B's corral entry stays")
    check(not spam_tagged("user1", "Lottery win B"), "B was not released")
    # the robot answers after the release: under load it can come after
    # settle(), and the counts below must not see it arrive
    wait_until(lambda: [p for p in mails("user1") if "released" in str(parse(p)["Subject"])])
    conf = [p for p in mails("user1") if "released" in str(parse(p)["Subject"])]
    check(len(conf) == 1 and parse(conf[0])["Auto-Submitted"] == "auto-replied",
          "user1 gets one confirmation (Auto-Submitted: auto-replied)")

    def count_all():
        return len(mails())

    # Each refused reply below: wait for the robot's own line first (it runs
    # when sendmail delivers, later on a loaded machine), so "releases
    # nothing" is checked after the robot ran, not before.
    def robot_ran(pattern, before):
        wait_until(lambda: len(robot_lines(pattern)) > before)
        settle()

    # ---- forged by user2 with user1's identifier ----
    n0 = count_all()
    pat = r"reply sender=user2@\S+ identifiers=1 released=0 gone=0 bad=1 unknown=1 "
    nl = len(robot_lines(pat))
    smtp(U2, [ROBOT], reply_text(U2, m1, {idB}))
    robot_ran(pat, nl)
    check(count_all() == n0 and all(os.path.lexists(os.path.join(CORRAL, n)) for n in nameB),
          "user2 with user1's identifier releases nothing")
    # user1's identifier names no entry of user2: refused, not counted
    check(robot_lines(r"reply sender=user2@\S+ identifiers=1 released=0 gone=0 bad=1 unknown=1 "),
          "robot counts it bad and unknown (no entry of user2: not towards user2's limit)",
          robot_log()[-300:])
    # envelope user2, From: user1
    n0 = count_all()
    nl = len(robot_lines(r"reason=from-mismatch"))
    smtp(U2, [ROBOT], reply_text(U1, m1, {idB}))
    robot_ran(r"reason=from-mismatch", nl)
    check(count_all() == n0 and all(os.path.lexists(os.path.join(CORRAL, n)) for n in nameB),
          "envelope user2 + From: user1 releases nothing")
    check(len(robot_lines(r"reason=from-mismatch")) > nl, "robot logs reason=from-mismatch")
    # remote sender
    n0 = count_all()
    smtp("someone@example.org", [ROBOT], reply_text("someone@example.org", m1, {idB}))
    settle()
    check(count_all() == n0 and all(os.path.lexists(os.path.join(CORRAL, n)) for n in nameB),
          "a remote sender releases nothing")

    # ---- replay ----
    smtp(U1, [ROBOT], rep)
    settle()
    check(len(spam_tagged("user1", "Cheap pills A")) == 1, "replaying user1's reply releases nothing twice")

    # ---- auto-reply ----
    n0 = count_all()
    nl = len(robot_lines(r"reason=auto-submitted"))
    smtp(U1, [ROBOT], reply_text(U1, m1, {idA, idB}, "Auto-Submitted: auto-replied",
                                 top="I am on vacation"))
    robot_ran(r"reason=auto-submitted", nl)
    check(count_all() == n0 and all(os.path.lexists(os.path.join(CORRAL, n)) for n in nameB),
          "an auto-reply produces no mail at all and releases nothing")
    check(len(robot_lines(r"reason=auto-submitted")) > nl, "robot logs reason=auto-submitted")

    # ---- HTML-only, base64 inside multipart/alternative (user2 releases C) ----
    idC = ids2[0]
    html = ("<html><body><p>yes please</p><blockquote>[<b>MC-%s</b>-%s]"
            "</blockquote></body></html>" % (idC[4:20], idC[21:-1]))
    plain = "please\n\n> %s\n" % idC[:30]    # a truncated identifier: ignored
    b64 = base64.encodebytes(html.encode()).decode()
    qp = quopri.encodestring(plain.encode()).decode()
    mime = ("From: %s\nTo: %s\nSubject: Re: digest\nMIME-Version: 1.0\n"
            "Content-Type: multipart/alternative; boundary=\"bb\"\n\n"
            "--bb\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n%s\n"
            "--bb\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n%s\n"
            "--bb--\n" % (U2, ROBOT, qp, b64))
    smtp(U2, [ROBOT], mime)
    ok = wait_until(lambda: spam_tagged("user2", "Hello C"))
    settle()
    check(ok and len(spam_tagged("user2", "Hello C")) == 1,
          "an HTML-only identifier in base64 multipart/alternative releases C")

    # ---- multi-recipient ----
    before = set(entries())
    spam("Multi D", rcpts=(U1, U2))
    wait_until(lambda: len(set(entries()) - before) >= 3)
    new = sorted(set(entries()) - before)
    base = [n for n in new if n.startswith("spam_to__")]
    links = [n for n in new if not n.startswith("spam_to__")]
    check(len(base) == 1 and len(links) == 2 and
          all(os.path.islink(os.path.join(CORRAL, n)) for n in links),
          "multi-recipient spam: base file + 2 links", str(new))
    nd1, nd2 = len(digest_of("user1")), len(digest_of("user2"))
    r = notify()
    wait_until(lambda: len(digest_of("user1")) > nd1 and len(digest_of("user2")) > nd2)
    settle()
    dd1 = sorted(digest_of("user1"), key=os.path.getmtime)[-1]
    dd2 = sorted(digest_of("user2"), key=os.path.getmtime)[-1]
    md1, md2 = parse(dd1), parse(dd2)
    ti1, ti2 = text_of(md1), text_of(md2)
    check("Multi D" in ti1 and "Multi D" in ti2 and "Lottery win B" not in ti1,
          "new digests list only the new entry (B was reported before)")
    idD1 = [i for i in IDENT.findall(ti1)]
    idD2 = [i for i in IDENT.findall(ti2)]
    check(len(idD1) == 1 and len(idD2) == 1 and idD1[0][:20] == idD2[0][:20] and idD1 != idD2,
          "same corral id, different token per recipient")
    if not (idD1 and idD2 and base):
        return t0
    smtp(U1, [ROBOT], reply_text(U1, md1, set(idD1)))
    wait_until(lambda: spam_tagged("user1", "Multi D"))
    settle()
    link1 = [n for n in links if "user1" in n][0]
    link2 = [n for n in links if "user2" in n][0]
    check(len(spam_tagged("user1", "Multi D")) == 1, "user1 receives D")
    check(not os.path.lexists(os.path.join(CORRAL, link1)) and
          os.path.lexists(os.path.join(CORRAL, link2)) and
          os.path.exists(os.path.join(CORRAL, base[0])),
          "user1's link gone; user2's link and the base file stay")
    smtp(U2, [ROBOT], reply_text(U2, md2, set(idD2)))
    wait_until(lambda: spam_tagged("user2", "Multi D"))
    settle()
    check(len(spam_tagged("user2", "Multi D")) == 1 and not spam_tagged("user1", "[SPAM] Multi D"),
          "user2 receives D too (bypass header renewed), not re-corralled",
          robot_log()[-400:])
    check(not os.path.lexists(os.path.join(CORRAL, link2)) and
          not os.path.exists(os.path.join(CORRAL, base[0])),
          "after both releases the base file is gone")
    check(log_text().count("action=corral") == 4, "no released message was corralled again",
          str(log_text().count("action=corral")))

    # ---- SC-R6: at most one answer per sender and hour ----
    check(len(confirmations("user1")) == 1 and len(confirmations("user2")) == 1,
          "SC-R6: two releases by one user within the hour: one answer each",
          "%d/%d" % (len(confirmations("user1")), len(confirmations("user2"))))
    check(len(robot_lines(r"answer-suppressed sender=user1@\S+ reason=reply-interval")) >= 1,
          "SC-R6: robot logs answer-suppressed reason=reply-interval")

    sc_security(mail_uid)
    sc_r1()
    sc_r8(mail_uid)
    sc_r13()
    sc_r12(mail_uid)
    sc_c8(mail_uid)
    per_user()
    digest_ui(mail_uid)
    learn_ham(mail_uid)

    # ---- expiry (seed 5.3 rule) ----
    # a learned.<id> marker whose base file is gone (the robot's, below)
    stale = os.path.join(CORRAL, "learned.%s" % secrets.token_hex(8).upper())
    with open(stale, "w") as f:
        f.write("ham planted\n")
    os.chown(stale, mail_uid, -1)
    old = time.time() - 30 * 86400
    for n in entries():
        os.utime(os.path.join(CORRAL, n), (old, old), follow_symlinks=False)
    r = notify()
    check(r.returncode == 0 and entries() == [], "entries past corral_expire_days are deleted",
          str(entries()) + r.stderr[-300:])
    check(not [n for n in os.listdir(CORRAL) if n.startswith("notified.")],
          "stale notified.* markers are removed")
    check(not os.path.lexists(stale), "a learned.* marker without its base file is removed")
    return t0



# ---- issue 22: the digest as users meet it ----

TIDY, CHROMIUM = "tidy", "chromium"
FR_TEMPLATE = """# SpamCorral, digest en français (test)
subject = Courrier indésirable retenu : {count} messages
subject_one = Courrier indésirable retenu : {count} message
intro = SpamCorral retient {count} messages pour vous ({rcpt}).
tap = Touchez « Libérer » sous un message et envoyez le courriel qui s'ouvre.
release = Libérer
release_all = Tout libérer ({count})
label_from = De
"""


def html_of(msg):
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def mailto_links(html):
    """[(text, href)] of every link in html, href unescaped."""
    import html as htmlmod
    return [(htmlmod.unescape(t), htmlmod.unescape(h)) for h, t in
            re.findall(r'<a [^>]*href="([^"]*)"[^>]*>([^<]*)</a>', html)]


def mailto_mail(sender, href):
    """The mail a client composes from a mailto: link (RFC 6068), as sent."""
    import urllib.parse
    u = urllib.parse.urlsplit(href)
    q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
    to = urllib.parse.unquote(u.path)
    body = q.get("body", [""])[0].replace("\r\n", "\n")
    return to, ("From: User <%s>\nTo: %s\nSubject: %s\nMIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=utf-8\n\n%s\n" %
                (sender, to, q.get("subject", [""])[0], body))


def chromium_width(html, extra=""):
    """document scrollWidth/clientWidth of html laid out 360 px wide (an
    iframe of that width in headless chromium, which keeps windows at
    least 500 px wide), or None."""
    probe = ('<!DOCTYPE html><html><body style="margin:0"><iframe id="f" '
             'style="width:360px;height:800px;border:0"></iframe><script>'
             'var f=document.getElementById("f");f.onload=function(){'
             'var d=f.contentDocument.documentElement;document.body.setAttribute('
             '"data-sw",d.scrollWidth+"/"+d.clientWidth);};f.srcdoc=%s;</script>'
             '</body></html>' % json.dumps(html.replace("</table>", "</table>" + extra)))
    path = os.path.join(D, "sc", "probe-%d.html" % os.getpid())
    with open(path, "w") as f:
        f.write(probe)
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--virtual-time-budget=5000", "--dump-dom", "file://" + path],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r'data-sw="(\d+)/(\d+)"', r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


def robot_reply_done(addr, send):
    """send(); then waits for the robot's reply line for addr."""
    pat = r"reply sender=%s " % re.escape(addr)
    n = len(robot_lines(pat))
    send()
    wait_until(lambda: len(robot_lines(pat)) > n, timeout=60)
    settle()
    return robot_lines(pat)[n:]


def digest_ui(mail_uid):
    """Issue 22 through the real sendmail: three entries each for user20 and
    user21; the digest arrives untagged (its own keyed field) with a text
    and an HTML part; one entry's mailto: link releases exactly it, "release
    all" releases all three; the HTML part passes tidy, holds no script or
    remote resource, and does not scroll sideways at 360 px in chromium; a
    forged digest from outside is filtered; a translated template renders;
    an unknown placeholder is refused with its line number."""
    users = {"user20": "user20@" + DOM, "user21": "user21@" + DOM}
    before = set(entries())
    subj = {u: ["I22 %s one <script>alert(1)</script>" % u, "I22 %s two" % u,
                "I22 %s three" % u] for u in users}
    for u, a in users.items():
        for x in subj[u]:
            spam(x, rcpts=(a,))
    wait_until(lambda: len(set(entries()) - before) >= 6)
    if not check(len(set(entries()) - before) == 6, "I22: three entries each for user20, user21"):
        return
    U20 = users["user20"]

    # ---- the template: translated, and one refused ----
    fr = os.path.join(D, "sc", "fr.tmpl")
    bad = os.path.join(D, "sc", "bad.tmpl")
    with open(fr, "w") as f:
        f.write(FR_TEMPLATE)
    with open(bad, "w") as f:
        f.write("# a typo on line 3\nrelease = Release\nintro = Held: {cout} for {rcpt}\n")
    for p in (fr, bad):
        os.chmod(p, 0o644)
    for name, tmpl in (("fr", fr), ("bad", bad)):
        with open(CONF) as f, open(os.path.join(D, "sc", name + ".conf"), "w") as g:
            g.write(f.read() + "digest_template = %s\n" % tmpl)
        os.chmod(os.path.join(D, "sc", name + ".conf"), 0o644)
    r = subprocess.run(as_run_as() + [NOTIFY, "-c", os.path.join(D, "sc", "fr.conf"),
                                      "--dry-run", "--user", U20], capture_output=True,
                       timeout=60)
    mf = email.message_from_bytes(r.stdout.partition(b"\n")[2], policy=email.policy.default)
    tf, hf = (text_of(mf) if mf.is_multipart() else ""), html_of(mf)
    check(r.returncode == 0 and str(mf["Subject"]) ==
          "Courrier indésirable retenu : 3 messages" and
          "SpamCorral retient 3 messages pour vous (%s)." % U20 in tf and
          "  De:      " in tf and "Libérer" in tf and "Tout libérer (3)" in hf and
          "Touchez « Libérer »" in hf and "deleted after" in tf,
          "I22: a translated template renders (Subject RFC 2047, text and HTML; keys not "
          "given stay English)", repr((r.stderr.decode()[-300:], str(mf["Subject"]), tf[:300])))
    r = subprocess.run(as_run_as() + [NOTIFY, "-c", os.path.join(D, "sc", "bad.conf"),
                                      "--dry-run", "--user", U20], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 78 and "bad.tmpl:3: unknown placeholder {cout} in intro" in r.stderr
          and "==== digest" not in r.stdout,
          "I22: a template with an unknown placeholder is refused with its line number "
          "(EX_CONFIG, nothing sent)", r.stderr[-300:])

    # ---- the digest as delivered ----
    ds = {u: notify_user(u, a) for u, a in users.items()}
    if not check(all(len(x) == 1 for x in ds.values()), "I22: one digest each delivered"):
        return
    m20, m21 = parse(ds["user20"][0]), parse(ds["user21"][0])
    types = [p.get_content_type() for p in m20.walk()]
    check(str(m20["Subject"]) == "Spam held for you: 3 messages" and
          types == ["multipart/alternative", "text/plain", "text/html"] and
          re.search(r"action=digest .* digest=[0-9A-F]{16} from=<spamcorral@[^>]*> nrcpt=1",
                    log_text()) is not None and
          m20.get_all("X-MailCorral-Digest") is not None,
          "I22: the digest arrives untagged (action=digest), multipart/alternative: text, HTML",
          repr((str(m20["Subject"]), types)))
    h = html_of(m20)
    t = text_of(m20)
    check(len(IDENT.findall(t)) == 3 and all(x.replace("<", "") in t.replace("<", "")
                                             for x in subj["user20"]),
          "I22: the text part lists the three entries")
    hp = os.path.join(D, "sc", "digest.html")
    with open(hp, "w") as f:
        f.write(h)
    r = subprocess.run([TIDY, "-e", "-q", hp], capture_output=True, text=True)
    check(r.returncode == 0, "I22: tidy -e -q exits 0 on the HTML part", r.stderr[-400:])
    tags = " ".join(re.findall(r"<[^>]*>", h.lower()))
    check("<script" not in tags and "&lt;script&gt;alert(1)&lt;/script&gt;" in h and
          not re.search(r"\b(src|background|srcset|poster|action|data)\s*=|url\(|@import|"
                        r"<link|<img|<style|<iframe|<object|<embed|<form|\bon\w+\s*=", tags) and
          all(href.startswith("mailto:") for _, href in mailto_links(h)),
          "I22: the HTML holds no script, no remote resource, only mailto: links; "
          "a Subject with <script> shows as text")
    w = chromium_width(h)
    wb = chromium_width(h, '<div style="width:600px">wide</div>')
    check(w is not None and w[1] > 300 and w[0] <= w[1] and wb is not None and wb[0] > wb[1],
          "I22: chromium at 360 px: the page does not scroll sideways (a 600 px block "
          "would)", repr((w, wb)))

    # ---- one tap: one entry's link releases exactly it ----
    links = mailto_links(h)
    one = [href for text, href in links if text == "Release"]
    alls = [href for text, href in links if text.startswith("Release all")]
    check(len(one) == 3 and len(alls) == 1 and all(len(x) <= 2000 for x in one + alls),
          "I22: a Release link per entry and one 'release all', none over 2000 bytes")
    if not one or not alls:
        return
    ids20 = IDENT.findall(t)
    to, mail = mailto_mail(U20, one[0])
    n_before = len(entries())
    robot_reply_done(U20, lambda: smtp(U20, [to], mail))
    got = [str(parse(p)["Subject"]) for p in mails("user20")]
    rel = [x for x in got if x.startswith("[SPAM] I22 ")]
    check(to == ROBOT and len(rel) == 1 and ids20[0][1:-1] in mail and
          len(entries()) == n_before - 1,
          "I22: a mail made from one entry's mailto: link (no quoting) releases exactly "
          "that message", repr((rel, robot_log()[-300:])))

    # ---- release all ----
    m21h = html_of(m21)
    alls21 = [href for text, href in mailto_links(m21h) if text.startswith("Release all")]
    U21 = users["user21"]
    if check(len(alls21) == 1, "I22: user21's digest has one 'release all' link"):
        to, mail = mailto_mail(U21, alls21[0])
        robot_reply_done(U21, lambda: smtp(U21, [to], mail))
        got = sorted(str(parse(p)["Subject"])[len("[SPAM] "):] for p in mails("user21")
                     if str(parse(p)["Subject"]).startswith("[SPAM] I22 "))
        check(got == sorted(subj["user21"]) and
              not [n for n in entries() if "user21" in n],
              "I22: 'release all' releases all three", repr((got, robot_log()[-300:])))

    # ---- a forged digest from outside ----
    with open(ds["user20"][0], "rb") as f:
        raw = f.read().decode("utf-8", "replace")
    head = raw.split("\n\n", 1)[0]
    keep = "\n".join(l for l in re.split(r"\n(?![ \t])", head)
                     if l.split(":", 1)[0].lower() in ("x-spamcorral", "x-mailcorral-digest",
                                                        "auto-submitted", "precedence"))
    n_dig = log_text().count("action=digest")
    n_rej = len(re.findall(r"digest-rejected reason=\S+", log_text()))
    # from outside, and with the robot's own address as the sender (which
    # sendmail's {mail_mailer} calls local): its copied field does not verify
    for k, sender in enumerate(("spamcorral@evil.example", ROBOT)):
        before = set(entries())
        smtp(sender, [U20],
             "From: SpamCorral <%s>\nTo: %s\nSubject: Spam held for you: 1 message\n"
             "Message-ID: <forged.%d.%d@evil.example>\nDate: %s\n%s\n\nRelease here!\n%s\n" %
             (ROBOT, U20, k, time.time_ns(), email.utils.formatdate(localtime=True), keep,
              GTUBE))
        wait_until(lambda: len(set(entries()) - before) >= 1)
        check(len(set(entries()) - before) == 1,
              "I22: a forged digest (its keyed field copied) from %s is corralled as any spam"
              % sender, str(set(entries()) - before))
    # the genuine digest sent again as it is: its field was used
    body = raw.split("\n\n", 1)[1]
    hdr = "\n".join(l for l in re.split(r"\n(?![ \t])", head)
                    if not l.lower().startswith(("return-path:", "received:", "x-mailcorral-",
                                                 "x-spam-")) or
                    l.lower().startswith("x-mailcorral-digest:"))
    smtp(ROBOT, [U20], hdr + "\n\n" + body)
    wait_until(lambda: len(re.findall(r"digest-rejected reason=\S+", log_text())) >= n_rej + 3)
    rej = re.findall(r"digest-rejected reason=(\S+)", log_text())[n_rej:]
    check(log_text().count("action=digest") == n_dig and
          sorted(rej) == ["bad-mac", "not-local", "used"],
          "I22: forged and replayed digests are refused (digest-rejected not-local, bad-mac, "
          "used) and filtered as any mail; none delivered as a digest", str(rej))

def per_user():
    """Issue 18 item 3: one spam to three users whose spam_user_prefs
    (spamcorral.sh) say tag, corral and deliver: decided once, tagged for
    the first (its own copy through sendmail_path, passed untouched when it
    comes back), corralled for the second (the digest lists it, a reply
    releases it), untagged for the third; nobody gets two copies."""
    u = ["user%d" % i for i in (11, 12, 13)]
    addrs = [x + "@" + DOM for x in u]
    subj = "Three ways P"
    before = set(entries())
    nl = len(log_text())
    spam(subj, rcpts=addrs)
    ok = wait_until(lambda: [p for p in mails(u[0]) if subj in str(parse(p)["Subject"])] and
                    [p for p in mails(u[2]) if subj in str(parse(p)["Subject"])])
    settle()
    got = {x: [parse(p) for p in mails(x) if subj in str(parse(p)["Subject"])] for x in u}
    lg = log_text()[nl:]
    dec = [l for l in lg.splitlines() if "rcpts=user11@" in l]
    check(ok and len(got[u[0]]) == 1 and str(got[u[0]][0]["Subject"]) == "[SPAM] " + subj and
          str(got[u[0]][0]["X-Spam-Status"]).startswith("Yes"),
          "per-user: user11 (tag) gets one copy, tagged", repr({k: len(v) for k, v in got.items()}))
    check(len(got[u[2]]) == 1 and str(got[u[2]][0]["Subject"]) == subj and
          got[u[2]][0]["X-Spam-Status"] is None and GTUBE in text_of(got[u[2]][0]),
          "per-user: user13 (deliver) gets one copy, untagged")
    check(not got[u[1]], "per-user: user12 (corral) gets nothing delivered")
    new = sorted(set(entries()) - before)
    check(len(new) == 1 and new[0].startswith("spam_to_user12@"),
          "per-user: one corral entry, for user12 only", str(new))
    check(len(dec) == 1 and re.search(r"action=accept .*corral=[0-9A-F]{16}.* rcpts=user11@\S+:tag/copy,"
                                      r"user12@\S+:corral,user13@\S+:deliver$", dec[0]),
          "per-user: one decision line listing each outcome (the tie keeps the untagged copy)",
          dec[0][-200:] if dec else lg[-400:])
    check(re.search(r"action=variant .*variant=[0-9A-F]{16}", lg) and "variant-sent rcpts=1 tagged=yes" in lg
          and "variant-rejected" not in lg,
          "per-user: the tagged copy came back once and passed untouched (action=variant)")
    if not new:
        return
    ds = notify_user(u[1], addrs[1])
    md = parse(sorted(ds, key=os.path.getmtime)[-1]) if ds else None
    ids = IDENT.findall(text_of(md)) if md else []
    check(len(ids) == 1 and subj in text_of(md), "per-user: user12's digest lists the corralled copy")
    if not ids:
        return
    smtp(addrs[1], [ROBOT], reply_text(addrs[1], md, set(ids)))
    ok = wait_until(lambda: spam_tagged(u[1], subj))
    settle()
    check(ok and len(spam_tagged(u[1], subj)) == 1 and not os.path.lexists(os.path.join(CORRAL, new[0])),
          "per-user: user12's reply releases it, once", robot_log()[-300:])
    total = {x: len([p for p in mails(x) if subj in str(parse(p)["Subject"])]) for x in u}
    check(total == {u[0]: 1, u[1]: 1, u[2]: 1}, "per-user: nobody got two copies", repr(total))


def sc_security(mail_uid):
    """SC-R9 (no digest outside the local domains), SC-R4 (token guessing),
    SC-C6 (content swapped after the digest), SC-R6 (loop headers)."""
    before = set(entries())
    spam("Swap E", rcpts=(U3,))
    spam("Other E2", rcpts=(U3,))
    spam("Guess F", rcpts=(U4,))
    spam("Relayed G", rcpts=(VICTIM,))
    wait_until(lambda: len(set(entries()) - before) >= 4)
    new = set(entries()) - before
    vict = [n for n in new if "victim" in n]
    check(len(new) == 4 and len(vict) == 1, "SC-R9: spam to a non-local recipient is corralled too",
          str(sorted(new)))

    # ---- SC-R9: digests only to local recipients ----
    r = notify("-v")
    check(r.returncode == 0, "spamcorral-notify exits 0", r.stderr[-300:])
    check(re.search(r"digest-skipped rcpt=victim@example\.org entries=1 reason=not-local",
                    r.stderr) is not None,
          "SC-R9: notifier logs digest-skipped ... reason=not-local", r.stderr[-400:])
    check("digest sent to " + VICTIM not in r.stderr and
          not [n for n in os.listdir(CORRAL) if n.startswith("notified.") and "victim" in n],
          "SC-R9: no digest for the non-local recipient")
    wait_until(lambda: digest_of("user3") and digest_of("user4"))
    d3, d4 = digest_of("user3"), digest_of("user4")
    check(len(d3) == 1 and len(d4) == 1, "digests for user3 and user4")
    if not (d3 and d4):
        return
    m3, m4 = parse(d3[0]), parse(d4[0])
    t3, t4 = text_of(m3), text_of(m4)
    idE = [IDENT.search(b).group(0) for b in t3.split("-----")
           if "Swap E" in b and IDENT.search(b)]
    idE2 = [IDENT.search(b).group(0) for b in t3.split("-----")
            if "Other E2" in b and IDENT.search(b)]
    idF = IDENT.findall(t4)
    check(len(idE) == 1 and len(idE2) == 1 and len(idF) == 1, "identifiers of E, E2 and F")
    if not (idE and idE2 and idF):
        return
    idE, idE2, idF = idE[0], idE2[0], idF[0]
    nameE = [n for n in entries() if n.endswith("_" + idE[4:20])][0]
    nameE2 = [n for n in entries() if n.endswith("_" + idE2[4:20])][0]
    nameF = [n for n in entries() if n.endswith("_" + idF[4:20])][0]

    # ---- SC-R4: token guessing ----
    n0 = len(mails())
    guesses = "\n".join("> " + random_ident() for _ in range(1000))
    smtp(U4, [ROBOT], "From: %s\nTo: %s\nSubject: Re: digest\n\nall of them\n\n%s\n" %
         (U4, ROBOT, guesses))
    wait_until(lambda: robot_lines(r"reply sender=user4@"))
    settle()
    check(len(mails()) == n0 and os.path.lexists(os.path.join(CORRAL, nameF)),
          "SC-R4: 1000 random identifiers: nothing released, no answer")
    # identifiers naming no entry of user4 do not count (issue 16: a
    # forged sender or copied look-alikes cannot lock the user out)
    check(not robot_lines(r"release-denied sender=user4@\S+ (id=\S+ reason=bad-token|reason=rate-limited)") and
          robot_lines(r"reply sender=user4@\S+ identifiers=500 .* bad=500 unknown=500 "),
          "SC-R4: random identifiers naming no entry of user4 are not counted", robot_log()[-300:])
    # guessing the token of user4's real entry F: counted, blocked at 10
    fid = idF[4:20]
    guesses = "\n".join("> [MC-%s-%s]" % (fid, secrets.token_hex(16)) for _ in range(12))
    nr = len(robot_lines(r"reply sender=user4@"))
    smtp(U4, [ROBOT], "From: %s\nTo: %s\nSubject: Re: digest\n\nF please\n\n%s\n" % (U4, ROBOT, guesses))
    wait_until(lambda: len(robot_lines(r"reply sender=user4@")) > nr)
    settle()
    bad = robot_lines(r"release-denied sender=user4@\S+ id=\S+ reason=bad-token")
    rl = robot_lines(r"release-denied sender=user4@\S+ reason=rate-limited")
    check(len(bad) == 10 and len(rl) == 1 and os.path.lexists(os.path.join(CORRAL, nameF)),
          "SC-R4: bad tokens for user4's entry: blocked at 10, release-denied reason=rate-limited logged once",
          "bad=%d rate-limited=%d" % (len(bad), len(rl)))
    st = os.stat(STATE)
    check(st.st_uid == mail_uid and stat.S_IMODE(st.st_mode) == 0o600 and
          "user4@mx.mailcorral.test" in open(STATE).read(),
          "SC-R4: state file in the corral, 0600, owned by %s" % RUN_AS)
    # more guesses within the hour: looked at no more, nothing released
    nr = len(robot_lines(r"reply sender=user4@"))
    smtp(U4, [ROBOT], "From: %s\nTo: %s\nSubject: Re: digest\n\nF please\n\n%s\n" % (U4, ROBOT, guesses))
    wait_until(lambda: len(robot_lines(r"reply sender=user4@")) > nr)
    settle()
    check(not spam_tagged("user4", "Guess F") and os.path.lexists(os.path.join(CORRAL, nameF)) and
          len(robot_lines(r"release-denied sender=user4@\S+ id=\S+ reason=bad-token")) == 10 and
          robot_lines(r"rate-limited: sender=user4@\S+ until="),
          "SC-R4: bad identifiers from the blocked sender within the hour are ignored")

    # ---- SC-C6: content swapped after the digest (user3 is not blocked) ----
    pE = os.path.join(CORRAL, nameE)
    with open(pE, "rb") as f:
        orig = f.read()
    swapped = orig.replace(b"Swap E", b"Swap X").replace(b"Buy now!", b"Swapped body")
    with open(pE, "r+b") as f:             # same inode, owner and mode
        f.write(swapped)
        f.truncate()
    smtp(U3, [ROBOT], reply_text(U3, m3, {idE}))
    wait_until(lambda: robot_lines(r"reply sender=user3@"))
    settle()
    check(not spam_tagged("user3", "Swap E") and not spam_tagged("user3", "Swap X") and
          os.path.lexists(pE),
          "SC-C6: swapped content is not released, the entry stays")
    check(len(robot_lines(r"release-denied sender=user3@\S+ entry=\S+ reason=content-changed")) == 1,
          "SC-C6: robot logs reason=content-changed")
    with open(pE, "r+b") as f:
        f.write(orig)
        f.truncate()
    # a different user is not affected by user4's block; the listed bytes go out
    smtp(U3, [ROBOT], reply_text(U3, m3, {idE2, idE}))
    ok = wait_until(lambda: spam_tagged("user3", "Swap E") and spam_tagged("user3", "Other E2"))
    settle()
    check(ok and len(spam_tagged("user3", "Swap E")) == 1 and not os.path.lexists(pE),
          "SC-C6/SC-R4: with the listed content back, user3 (not blocked) gets E and E2")
    check(len(confirmations("user3")) == 1,
          "SC-R6: user3 got one answer for two replies within the hour",
          str(len(confirmations("user3"))))

    # ---- SC-R4: the block ends after robot_failure_window (state aged 2 h) ----
    lines = []
    for line in open(STATE).read().splitlines():
        f = line.split()
        if not line.startswith("#") and len(f) == 5:
            # key window-start failures blocked-until last-answer
            for i in (1, 3, 4):
                f[i] = str(max(0, int(f[i]) - 7200)) if int(f[i]) else "0"
            line = " ".join(f)
        lines.append(line)
    st = os.stat(STATE)
    with open(STATE, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chown(STATE, st.st_uid, st.st_gid)
    smtp(U4, [ROBOT], reply_text(U4, m4, {idF}))
    ok = wait_until(lambda: spam_tagged("user4", "Guess F"))
    settle()
    check(ok and not os.path.lexists(os.path.join(CORRAL, nameF)),
          "SC-R4: after the window the same sender can release again", robot_log()[-300:])

    # ---- SC-R6: loop headers and senders get nothing at all ----
    spam("Loop H", rcpts=(U2,))
    wait_until(lambda: [n for n in entries() if n.startswith("spam_to_user2")])
    nd = len(digest_of("user2"))
    notify()
    wait_until(lambda: len(digest_of("user2")) > nd)
    dH = parse(sorted(digest_of("user2"), key=os.path.getmtime)[-1])
    idH = IDENT.findall(text_of(dH))
    if not check(len(idH) == 1, "a digest for user2 with H"):
        return
    nameH = [n for n in entries() if n.endswith("_" + idH[0][4:20])][0]
    n0, nig = len(mails()), len(robot_lines(r"ignored: "))
    smtp(U2, [ROBOT], reply_text(U2, dH, set(idH), "List-Id: <users.lists.example>"))
    smtp(U2, [ROBOT], reply_text(U2, dH, set(idH), "Precedence: bulk"))
    smtp("MAILER-DAEMON@" + DOM, [ROBOT], reply_text("MAILER-DAEMON@" + DOM, dH, set(idH)))
    smtp("", [ROBOT], reply_text(U2, dH, set(idH)))
    smtp(U2, [ROBOT], reply_text(U2, dH, set(idH), "Auto-Submitted: auto-replied (vacation)"))
    wait_until(lambda: len(robot_lines(r"ignored: ")) >= nig + 5)
    settle()
    lg = robot_log()
    check(len(mails()) == n0 and os.path.lexists(os.path.join(CORRAL, nameH)),
          "SC-R6: List-Id, Precedence: bulk, MAILER-DAEMON, <> and Auto-Submitted replies: "
          "no mail, no release")
    check(all(("reason=" + w) in lg for w in
              ("list-id", "precedence", "null-or-daemon-sender", "auto-submitted")),
          "SC-R6: each is logged with its reason")


# ---- issue 18 item 4: a release teaches spamd ham ----

SPAMD_PORT = int(os.environ.get("SPAMD_PORT", "0"))
SPAMD_DIR = os.environ.get("SPAMD_DIR", "")
SPAMD_SH = os.path.join(TOP, "testsuite", "stack", "spamd.sh")
LEARNERS = ["learn%d@%s" % (i, DOM) for i in range(1, 5)]


def spamd_sh(*args):
    return subprocess.run(["sh", SPAMD_SH] + list(args), capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, SPAMD_PORT=str(SPAMD_PORT),
                                               SPAMD_DIR=SPAMD_DIR))


def nham():
    """spamd's Bayes ham count (sa-learn --dump magic); 0 before the
    first learn (no store yet), None when it cannot be read."""
    r = spamd_sh("magic")
    m = re.search(r"^\S+\s+\S+\s+(\d+)\s+\S+\s+non-token data: nham$", r.stdout, re.M)
    if m:
        return int(m.group(1))
    if not os.path.exists(os.path.join(SPAMD_DIR, "bayes", "bayes_toks")):
        return 0
    return None


def tells():
    """TELL requests spamd handled, from its log."""
    return mctest.read_from(os.path.join(SPAMD_DIR, "spamd.log")).count("spamd: Tell:")


def robot_conf(extra, port=None):
    """The robot reads mailcorral.conf at every run (the filter keeps what
    it loaded): its learning lines become extra, its spamd port."""
    with open(CONF) as f:
        lines = [l for l in f if not l.startswith(("robot_learn_ham", "spamd_servers"))]
    with open(CONF, "w") as f:
        f.write("".join(lines) + extra + "spamd_servers = 127.0.0.1:%d\n" % (port or SPAMD_PORT))


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def release(addr, digest, ident):
    """addr replies keeping ident; once the robot has logged the reply:
    its lines about the entry, and the seconds it took."""
    t, eid = time.time(), ident[4:20]
    pat = r"reply sender=%s " % re.escape(addr)
    n = len(robot_lines(pat))
    smtp(addr, [ROBOT], reply_text(addr, digest, {ident}))
    wait_until(lambda: len(robot_lines(pat)) > n, timeout=60)
    return [l for l in robot_lines(r"entry=\S+_%s" % eid) if addr in l], time.time() - t


def learn_ham(mail_uid):
    """Issue 18 item 4 through the real sendmail, the real spamd
    (testsuite/stack/spamd.sh: --allow-tell, a Bayes store of its own) and
    the robot as sendmail runs it.  One spam to four users, one entry with
    four links, released by each in turn: spamd down (released, failure
    logged, nothing marked); robot_learn_ham = no (no TELL); then a release
    makes spamd's nham grow by one; the fourth does not teach again."""
    t0 = time.time()
    if not SPAMD_PORT:
        check(False, "learn: SPAMD_PORT not set (spamcorral.sh starts a spamd)")
        return
    up = wait_until(lambda: spamd_sh("status").returncode == 0, timeout=60)
    check(up, "learn: the private spamd (--allow-tell) answers on %d" % SPAMD_PORT)
    if not up:
        return
    conf = os.path.join(D, "sc", "learn.conf")
    with open(os.path.join(D, "sc", "mailcorral.conf")) as f:
        base = f.read().replace("spam_arbitron      = builtin", "spam_arbitron = spamd")
    with open(conf, "w") as f:
        # the replies and the robot's answers skip spamd (the learners and
        # the robot are listed): of the mail here only the spam costs a CHECK.
        # spamd alone judges (spam_combine = arbitron): under the default
        # either the built-in checker calls the GTUBE spam first and spamd
        # is not asked, so there would be nothing to teach.
        f.write(base + "spamd_servers = 127.0.0.1:%d\nwhitelist = *@%s\n"
                "list_from_header = yes\nspam_combine = arbitron\n" % (SPAMD_PORT, DOM))
    r = subprocess.run(["sh", os.path.join(TOP, "testsuite", "stack", "stack.sh"),
                        "restart-filter", conf], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "learn: filter restarted with spam_arbitron = spamd", r.stderr[-300:])
    spam("Learn D", rcpts=LEARNERS)
    wait_until(lambda: len([n for n in entries() if "learn" in n]) >= 4)
    mine = [n for n in entries() if "learn" in n]
    check(len(mine) == 4, "learn: one spam to four users corralled: four links", repr(mine))
    if len(mine) != 4:
        return
    with open(os.path.join(CORRAL, mine[0]), "rb") as f:
        hdr = f.read().split(b"\r\n\r\n", 1)[0]
    check(b"\r\nX-MailCorral-Spamd: answered\r\n" in hdr and b"via=spamd" in hdr,
          "learn: the corral copy says spamd answered (X-MailCorral-Spamd)",
          hdr[-300:].decode("latin-1"))
    notify()
    users = [a.split("@")[0] for a in LEARNERS]
    wait_until(lambda: all(digest_of(u) for u in users))
    ids = []
    for u in users:
        d = digest_of(u)
        found = IDENT.findall(text_of(parse(d[-1]))) if d else []
        ids.append((parse(d[-1]), found[0]) if len(found) == 1 else (None, ""))
    check(all(i for _, i in ids), "learn: each learner's digest lists the entry once")
    if not all(i for _, i in ids):
        return
    eid = ids[0][1][4:20]
    marker = os.path.join(CORRAL, "learned." + eid)

    # 1. spamd down (nothing listens where the robot looks): released all
    # the same, the failure logged, no marker
    robot_conf("", closed_port())
    lines, took = release(LEARNERS[0], *ids[0])
    check(any("released sender=" in l for l in lines),
          "learn: spamd down: released to learn1 all the same (%.1f s)" % took, robot_log()[-400:])
    check(any(re.search(r"learn-failed entry=\S+ ms=\d+ reason=connect: Connection refused", l)
              for l in lines), "learn: spamd down: robot logs learn-failed reason=connect: ...",
          robot_log()[-400:])
    check(not os.path.lexists(marker) and tells() == 0, "learn: a failed TELL marks nothing")
    # 2. robot_learn_ham = no: released, nothing told, nothing logged
    robot_conf("robot_learn_ham = no\n")
    lines, took = release(LEARNERS[1], *ids[1])
    check(any("released sender=" in l for l in lines) and
          not [l for l in lines if re.search(r"learn(?:ed-ham|-skipped|-failed) ", l)] and
          tells() == 0, "learn: robot_learn_ham = no: released to learn2, no TELL (%.1f s)" % took,
          repr(lines))
    # 3. taught: one TELL, nham + 1, learned.<id> while links remain
    robot_conf("")
    n1 = nham()
    check(n1 is not None, "learn: sa-learn --dump magic reads spamd's store")
    lines, took = release(LEARNERS[2], *ids[2])
    check(any(re.search(r"learned-ham entry=spam_to_learn3@\S+ server=127\.0\.0\.1:%d ms=\d+ "
                        r"result=learned" % SPAMD_PORT, l) for l in lines),
          "learn: release to learn3: robot logs learned-ham ... result=learned (%.1f s)" % took,
          repr(lines))
    n2 = nham()
    check(n1 is not None and n2 == n1 + 1, "learn: spamd's nham grew by one (%s -> %s)" % (n1, n2))
    check(tells() == 1, "learn: spamd handled one TELL", str(tells()))
    check(os.path.exists(marker) and os.stat(marker).st_uid == mail_uid,
          "learn: learned.<id> marks the entry while learn4's link remains")
    # 4. the same entry again: no TELL, the marker goes with the last link
    lines, took = release(LEARNERS[3], *ids[3])
    check(any(re.search(r"learn-skipped entry=spam_to_learn4@\S+ reason=already-taught", l)
              for l in lines), "learn: release to learn4: learn-skipped reason=already-taught",
          repr(lines))
    check(tells() == 1 and nham() == n2, "learn: the second teaching release sent no TELL, "
          "nham unchanged")
    check(not os.path.lexists(marker) and not [n for n in entries() if "learn" in n],
          "learn: no link and no marker left")
    check(all(spam_tagged(u, "Learn D") for u in users), "learn: each learner got the spam, tagged")
    print("# learn: %.1f s" % (time.time() - t0))


# ---- helpers: hand-made corral entries, private corrals ----

def safe_rcpt(addr):
    """corral.h corral_safe_rcpt() for addresses of at most 200 safe bytes
    (doc/corral.md "Names"), written independently of corral.c."""
    b = addr.encode("utf-8", "surrogateescape")
    if len(b) >= 2 and b[:1] == b"<" and b[-1:] == b">":
        b = b[1:-1]
    at = b.rfind(b"@")
    if at >= 0:
        b = b[:at + 1] + b[at + 1:].lower()
    out = []
    for i, c in enumerate(b):
        ok = 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b".+=@-"
        out.append(chr(c) if ok and not (i == 0 and c in b".-") else "%%%02X" % c)
    r = "".join(out)
    assert len(r) <= 200, r
    return r


def digest_token(name, safe, content):
    """The identifier token of doc/corral.md, computed here from the key."""
    with open(os.path.join(D, "spamkey")) as f:
        key = bytes.fromhex(f.read().strip())

    def lp(b):
        return len(b).to_bytes(4, "big") + b
    m = lp(name.encode()) + lp(safe.encode())
    h1 = hmac.new(key, b"MC-DIGEST-v1" + m, hashlib.sha256).digest()[:8]
    h2 = hmac.new(key, b"MC-DIGEST-v2" + m + hashlib.sha256(content).digest(),
                  hashlib.sha256).digest()[:8]
    return (h1 + h2).hex()


def plant(corral, rcpts, content, uid, gid, mtime=None):
    """An entry as a spam handler of one's own writes it (doc/corral.md):
    one file, or a base file and a link per recipient.  Returns the id
    and {recipient: entry name}."""
    cid = "%08X%08X" % (int(time.time()), secrets.randbits(32))
    paths, names = [], {}
    base = "spam_to_%s_%s" % (safe_rcpt(rcpts[0]), cid) if len(rcpts) == 1 else "spam_to__" + cid
    fd = os.open(os.path.join(corral, base), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, content)
    os.close(fd)
    paths.append(os.path.join(corral, base))
    if len(rcpts) == 1:
        names[rcpts[0]] = base
    else:
        for r in rcpts:
            n = "spam_to_%s_%s" % (safe_rcpt(r), cid)
            os.symlink(base, os.path.join(corral, n))
            paths.append(os.path.join(corral, n))
            names[r] = n
    for pth in paths:
        os.lchown(pth, uid, gid)
        if mtime is not None:
            os.utime(pth, (mtime, mtime), follow_symlinks=False)
    return cid, names


def without_bypass(data):
    """A remailed copy without the X-MailCorral-Bypass field the robot
    renews: the bytes of the entry again."""
    head, sep, body = data.partition(b"\n\n")
    keep = [l for l in head.split(b"\n") if not l.lower().startswith(b"x-mailcorral-bypass:")]
    return b"\n".join(keep) + sep + body


def small_msg(tag, k):
    return ("From: %s@example.org\nTo: undisclosed-recipients:;\nSubject: %s %d\n"
            "Date: %s\nMessage-ID: <%s.%d.%d@example.org>\n\nBuy now! %d\n" %
            (tag, tag, k, email.utils.formatdate(localtime=True), tag, k,
             time.time_ns(), k)).encode()


def as_run_as():
    return ["setpriv", "--reuid=" + RUN_AS, "--regid=" + RUN_AS, "--init-groups"]


class Private:
    """A corral of its own (SC-R12, SC-C8): a copy of the stack's
    configuration with its own corral_dir and, as sendmail_path, the MSP
    stand-in in record mode (sendmail.py --record: the exact argv and the
    message are stored, nothing is submitted).  Same key, same uid."""

    def __init__(self, name, uid, gid):
        self.dir = os.path.join(D, name)
        self.corral = os.path.join(self.dir, "corral")
        self.out = os.path.join(self.dir, "out")
        self.log = os.path.join(self.dir, "robot.log")
        self.conf = os.path.join(D, "sc", name + ".conf")
        sm = os.path.join(D, "sc", "sendmail-" + name)
        os.makedirs(self.corral)
        os.makedirs(self.out)
        for pth, mode in ((self.dir, 0o755), (self.corral, 0o700), (self.out, 0o700)):
            os.chown(pth, uid, gid)
            os.chmod(pth, mode)
        with open(sm, "w") as f:
            f.write('#!/bin/sh\nexec python3 "%s" --record "%s" "$@"\n' % (STANDIN, self.out))
        os.chmod(sm, 0o755)
        with open(CONF) as f:
            conf = f.read()
        conf = re.sub(r"(?m)^corral_dir\s*=.*$", "corral_dir = " + self.corral, conf)
        conf = re.sub(r"(?m)^sendmail_path\s*=.*$", "sendmail_path = " + sm, conf)
        with open(self.conf, "w") as f:
            f.write(conf)

    def notify_cmd(self, *args):
        return as_run_as() + [NOTIFY, "-c", self.conf] + list(args)

    def robot_cmd(self):
        return as_run_as() + [ROBOT_BIN, "-c", self.conf, "-L", self.log]

    def notify(self, *args):
        return subprocess.run(self.notify_cmd(*args), capture_output=True, timeout=120,
                              encoding="utf-8", errors="replace")

    def robot(self, data):
        return subprocess.run(self.robot_cmd(), input=data, capture_output=True,
                              timeout=120).returncode

    def records(self):
        out = []
        for n in sorted(os.listdir(self.out)):
            if not n.endswith(".json"):
                continue
            with open(os.path.join(self.out, n)) as f:
                rec = json.load(f)
            rec["argv"] = [bytes.fromhex(h).decode("utf-8", "surrogateescape")
                           for h in rec["argv_hex"]]
            with open(os.path.join(self.out, rec["data"]), "rb") as f:
                rec["bytes"] = f.read()
            rec["file"] = n
            out.append(rec)
        return out

    def robot_log(self):
        if not os.path.exists(self.log):
            return ""
        with open(self.log, errors="replace") as f:
            return f.read()


def robot_reply(sender, ident, return_path=False):
    """A reply as sendmail's prog mailer hands it to the robot: the "From "
    line (or, for addresses it cannot carry, a Return-Path field)."""
    first = ("Return-Path: <%s>\n" % sender if return_path else
             "From %s  Sat Nov 22 07:00:00 2026\n" % sender)
    return (first + "From: <%s>\nTo: <%s>\nSubject: Re: Spam held for you\n\n"
            "yes please\n\n> %s\n" % (sender, ROBOT, ident)).encode("utf-8", "surrogateescape")


# ---- SC-R1: a forged reply naming a guessed file, no token ----

def sc_r1():
    U7 = "user7@" + DOM
    before = set(entries())
    spam("Victim K", rcpts=(U7,))
    wait_until(lambda: set(entries()) - before)
    new = sorted(set(entries()) - before)
    if not check(len(new) == 1 and new[0].startswith("spam_to_user7@"),
                 "SC-R1: spam for user7 corralled (no digest sent)", str(new)):
        return
    name, cid = new[0], new[0][-16:]
    pat = r"release-denied sender=user7@\S+ reason=no-token"
    n0, nl = len(mails()), len(robot_lines(pat))
    # envelope and From forged as the victim, the file name guessed right;
    # the id in every form but with a token
    smtp(U7, [ROBOT], "From: Victim <%s>\nTo: %s\nSubject: Re: Spam held for you\n\n"
         "Please release %s\nand MC-%s, [MC-%s], [MC-%s-] and %s/%s\n" %
         (U7, ROBOT, name, cid, cid, cid, CORRAL, name))
    wait_until(lambda: len(robot_lines(pat)) > nl)
    settle()
    check(len(mails()) == n0 and os.path.lexists(os.path.join(CORRAL, name)) and
          not spam_tagged("user7", "Victim K"),
          "SC-R1: a reply naming a guessed file without a token releases nothing, "
          "no answer (user7 was never answered)", "mails %d -> %d" % (n0, len(mails())))
    check(len(robot_lines(pat)) == nl + 1, "SC-R1: robot logs release-denied reason=no-token")
    with open(STATE) as f:
        st = f.read()
    check("user7@" not in st and not robot_lines(r"sender=user7@\S+ (id=\S+ )?reason=bad-token"),
          "SC-R1: a token-less reply is not a token failure (ignored silently, no state)")


# ---- SC-R8: digest content injection ----

R8_HDRS = ["From", "Reply-To", "To", "Subject", "Date", "Message-ID", "MIME-Version",
           "Content-Type", "Auto-Submitted", "X-Auto-Response-Suppress", "Precedence",
           "X-SpamCorral", "X-MailCorral-Digest"]
R8_SPAM = re.compile(r"R8(CRLF|HTML|LONG|FROM|RAW|CTRL)|Injected|evil[@.]|<script|spammer@|onerror")
R8_CTRL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def fold(text, width=70):
    lines, cur = [], ""
    for w in text.split(" "):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = cur + " " + w if cur else w
    lines.append(cur)
    return "\n ".join(lines)


def ew(text):
    return "=?utf-8?b?%s?=" % base64.b64encode(text.encode("utf-8")).decode()


def sc_r8(mail_uid):
    U5 = "user5@" + DOM
    gid = pwd.getpwnam(RUN_AS).pw_gid
    long_subj = "R8LONG " + " ".join("word%04d" % i for i in range(1200))     # 10.8 KB
    long_from = "R8FROM " + " ".join("name%04d" % i for i in range(1200))
    msgs = [
        (ew("Spam\r\nX-Injected: from\r\n") + " <spammer@example.org>",
         ew("R8CRLF hello\r\nBcc: evil@example.org\r\nX-Injected: subject")),
        ('"<img src=x onerror=alert(1)>" <spammer@example.org>',
         'R8HTML <script>alert(1)</script><b onmouseover="x()">bold</b> &amp; '
         '<a href="http://evil.example/">x</a>'),
        (fold(long_from) + " <spammer@example.org>", fold(long_subj)),
        ("ctl <spammer@example.org>",
         ew("R8CTRL a\x1b[31mred\x00nul\u0085nel\u202eevil\u2066x\r")),
    ]
    before = set(entries())
    for k, (frm, subj) in enumerate(msgs):
        smtp("spammer@example.org", [U5],
             "From: %s\nTo: %s\nSubject: %s\nMessage-ID: <r8.%d.%d@example.org>\nDate: %s\n\n"
             "Buy now!\n%s\n" % (frm, U5, subj, k, time.time_ns(),
                                 email.utils.formatdate(localtime=True), GTUBE))
    wait_until(lambda: len(set(entries()) - before) >= len(msgs))
    # a hand-made entry: bare CR, NUL, ESC, invalid UTF-8, 10 KB in one
    # word, an absurd score
    raw = (b"From: planted\rX-Injected: cr\r\nSubject: R8RAW " + b"x" * 10000 +
           b"\x1b[0m\x00\xff\r\r\nX-Spam-Score: 1 (" + b"9" * 30 + b"%)\r\n"
           b"Date: Sat, 22 Nov 2026 07:00:00 +0000\r\nMessage-ID: <r8raw@example.org>\r\n"
           b"\r\nbody\r\n")
    plant(CORRAL, [U5], raw, mail_uid, gid)
    n = len(set(entries()) - before)
    if not check(n == len(msgs) + 1, "SC-R8: four hostile spams and a hand-made entry for user5",
                 str(n)):
        return

    # the digest as spamcorral-notify writes it
    r = subprocess.run(as_run_as() + [NOTIFY, "-c", CONF, "--dry-run", "--user", U5],
                       capture_output=True, timeout=60)
    first, _, msg = r.stdout.partition(b"\n")
    try:
        text, utf8 = msg.decode("utf-8"), True
    except UnicodeDecodeError:
        text, utf8 = msg.decode("utf-8", "replace"), False
    head, _, body = text.partition("\n\n")
    names = [l.split(":", 1)[0] for l in head.split("\n")]
    check(r.returncode == 0 and first.startswith(b"==== digest for " + U5.encode()) and
          names == R8_HDRS,
          "SC-R8: the digest's header fields are the constant ones, one line each", str(names))
    check(not R8_SPAM.search(head) and
          [l for l in head.split("\n") if l.startswith("Subject:")] ==
          ["Subject: Spam held for you: 5 messages"],
          "SC-R8: no spam text in any digest header (Subject is the count)", head[:400])
    lines = body.split("\n")
    check(utf8 and not R8_CTRL.search(body),
          "SC-R8: digest body is UTF-8 without CR, control or bidi characters",
          repr(R8_CTRL.findall(body)[:5]))
    longest = max(len(l) for l in lines)
    check(longest <= 200, "SC-R8: no digest line longer than 200 characters", str(longest))
    inj = [l for l in lines if re.search(r"X-Injected|Bcc:", l)]
    check(len(inj) == 3 and all(l.startswith(("  Subject: ", "  From:    ")) for l in inj),
          "SC-R8: decoded CR/LF and bare CR stay inside their From/Subject line",
          repr(inj)[:400])
    html = [l for l in lines if "R8HTML" in l or "onerror" in l]
    mh = email.message_from_string(text, policy=email.policy.default)
    hp = html_of(mh).lower()
    check(len(html) == 2 and all(l.startswith(("  Subject: ", "  From:    ")) for l in html) and
          "multipart/alternative" in head and "&lt;script&gt;alert(1)&lt;/script&gt;" in hp and
          "<script" not in hp and "<img" not in hp and "<b " not in hp and
          not R8_CTRL.search(html_of(mh)),
          "SC-R8: HTML in Subject/From is plain text on its line, and escaped text in the "
          "HTML part (no control or bidi characters there either)")
    cut = [l for l in lines if re.search(r"R8(LONG|FROM|RAW)", l)]
    check(len(cut) == 3 and all(l.endswith("...") for l in cut),
          "SC-R8: 10 KB subjects and senders are cut, marked '...'", repr([len(l) for l in cut]))
    scores = re.findall(r"Score: (\S+) of the spam threshold", body)
    check(len(scores) == 5 and all(re.fullmatch(r"\d{1,6}%|\?", x) for x in scores),
          "SC-R8: scores shown sanely (an absurd one as '?')", str(scores))
    check(len(IDENT.findall(body)) == 5, "SC-R8: five identifiers listed")

    # the digest as delivered (through the filter)
    ds = notify_user("user5", U5)
    if not check(len(ds) == 1, "SC-R8: one digest delivered to user5"):
        return
    with open(ds[0], "rb") as f:
        dh = f.read().split(b"\n\n", 1)[0].decode("utf-8", "replace")
    md = parse(ds[0])
    check(str(md["Subject"]) == "Spam held for you: 5 messages" and
          re.search(r"(?m)^To: <%s>$" % re.escape(U5), dh) is not None and
          md.get_all("Bcc") is None and
          md.get_all("X-Injected") is None and not R8_SPAM.search(dh) and
          md.get_content_type() == "multipart/alternative" and
          len(IDENT.findall(text_of(md))) == 5,
          "SC-R8: delivered digest: constant Subject (untagged) and To, no injected field, "
          "no spam text in the header, a text and an HTML part", dh[:500])


# ---- SC-R13: identifiers of expired entries ----

def sc_r13():
    U6 = "user6@" + DOM
    before = set(entries())
    spam("Old I", rcpts=(U6,))
    spam("Old J", rcpts=(U6,))
    wait_until(lambda: len(set(entries()) - before) >= 2)
    dg = notify_user("user6", U6)
    if not check(len(dg) == 1, "SC-R13: a digest for user6"):
        return
    m6 = parse(dg[0])
    blocks = text_of(m6).split("-----")
    idI = [IDENT.search(b).group(0) for b in blocks if "Old I" in b and IDENT.search(b)]
    idJ = [IDENT.search(b).group(0) for b in blocks if "Old J" in b and IDENT.search(b)]
    if not check(len(idI) == 1 and len(idJ) == 1, "SC-R13: identifiers of I and J"):
        return
    idI, idJ = idI[0], idJ[0]
    pI = os.path.join(CORRAL, [n for n in entries() if n.endswith("_" + idI[4:20])][0])
    pJ = os.path.join(CORRAL, [n for n in entries() if n.endswith("_" + idJ[4:20])][0])
    old = time.time() - 15 * 86400          # corral_expire_days: 14 (default)
    # J: past retention and expired by the notifier
    os.utime(pJ, (old, old), follow_symlinks=False)
    r = notify("-v")
    check(r.returncode == 0 and ("expired " + os.path.basename(pJ)) in r.stderr and
          not os.path.lexists(pJ), "SC-R13: the notifier expires J", r.stderr[-300:])
    # I: past retention, the notifier has not run since
    os.utime(pI, (old, old), follow_symlinks=False)
    n0, nb = len(mails()), log_text().count("action=bypass")
    nrep = len(robot_lines(r"reply sender=user6@"))
    rep = reply_text(U6, m6, {idI, idJ})
    smtp(U6, [ROBOT], rep)
    wait_until(lambda: len(robot_lines(r"reply sender=user6@")) > nrep)
    wait_until(lambda: confirmations("user6"), timeout=10)
    settle()
    check(not spam_tagged("user6", "Old I") and not spam_tagged("user6", "Old J") and
          log_text().count("action=bypass") == nb,
          "SC-R13: identifiers of expired entries remail nothing")
    check(len(robot_lines(r"release-denied sender=user6@\S+ entry=%s reason=expired" %
                          re.escape(os.path.basename(pI)))) == 1 and not os.path.lexists(pI),
          "SC-R13: past retention but not yet expired: release-denied reason=expired, "
          "the robot removes it")
    check(len(robot_lines(r"release-none sender=user6@\S+ id=%s reason=gone" % idJ[4:20])) == 1,
          "SC-R13: expired by the notifier: release-none reason=gone")
    c6 = confirmations("user6")
    t = text_of(parse(c6[0])) if c6 else ""
    check(len(mails()) == n0 + 1 and len(c6) == 1 and
          "expired (held for more than 14 days), not released: MC-" + idI[4:20] in t and
          "already released or expired: MC-" + idJ[4:20] in t and "delivered to you" not in t,
          "SC-R13: user6 gets one answer explaining both", t[-400:])
    # the same reply again within robot_reply_interval: no second answer
    n0 = len(mails())
    smtp(U6, [ROBOT], rep)
    wait_until(lambda: len(robot_lines(r"reply sender=user6@")) > nrep + 1)
    settle()
    check(len(mails()) == n0 and
          robot_lines(r"answer-suppressed sender=user6@\S+ reason=reply-interval"),
          "SC-R13: explained once: a second reply within the hour gets no answer")


# ---- SC-R12: hostile recipients when remailing ----

def sc_r12(mail_uid):
    gid = pwd.getpwnam(RUN_AS).pw_gid
    pv = Private("r12", mail_uid, gid)
    pwn = os.path.join(pv.dir, "pwn")       # where a shell would leave traces
    os.mkdir(pwn)
    os.chown(pwn, mail_uid, gid)
    at = "@" + DOM
    # valid addresses for an execve() argv: must arrive as one argument
    accepted = ["$(touch${IFS}%s/dollar)%s" % (pwn, at),
                "`touch${IFS}%s/backquote`%s" % (pwn, at),
                ";touch${IFS}%s/semicolon;%s" % (pwn, at),
                "|touch${IFS}%s/pipe%s" % (pwn, at),
                "../../..%s/dotdot%s" % (pwn, at),
                "a&&touch${IFS}%s/and'\"x%s" % (pwn, at)]
    # refused: an option, a space, control characters
    refused = ["-oQ%s/queue%s" % (pwn, at), "-X%s/traffic%s" % (pwn, at),
               "a;touch %s/space%s" % (pwn, at), "a\ntouch${IFS}%s/newline%s" % (pwn, at),
               "a\tb%s" % at, "a\x1b[2Jb%s" % at]
    ents = {}
    for k, rc in enumerate(accepted + refused):
        content = small_msg("r12", k)
        cid, names = plant(pv.corral, [rc], content, mail_uid, gid)
        ents[rc] = (names[rc], cid, content)

    def ident(rc):
        name, cid, content = ents[rc]
        return "[MC-%s-%s]" % (cid, digest_token(name, safe_rcpt(rc), content))

    # the notifier: digests to the accepted ones only
    r = pv.notify("-v")
    digs = pv.records()
    by = {rec["argv"][-1]: rec for rec in digs}
    check(r.returncode == 0 and len(digs) == len(accepted) and set(by) == set(accepted) and
          all(rec["argv"] == ["-oi", "-f", "spamcorral", "--", rc] for rc, rec in by.items()),
          "SC-R12: notifier: one digest per hostile but valid recipient, "
          "argv exactly -oi -f spamcorral -- <rcpt>",
          repr([rec["argv"] for rec in digs])[:500])
    check(all(("recipient %s refused" % safe_rcpt(rc)) in r.stderr for rc in refused),
          "SC-R12: notifier refuses a leading '-', space, newline, tab, ESC (logged)",
          r.stderr[-500:])
    check(all(ident(rc) in by[rc]["bytes"].decode("utf-8", "replace") for rc in accepted if rc in by),
          "SC-R12: identifiers computed from doc/corral.md equal the notifier's")
    seen = {rec["file"] for rec in digs}

    # the robot, as each recipient, with a valid identifier
    rcs = [pv.robot(robot_reply(rc, ident(rc))) for rc in accepted]
    nref = 0
    for rc in refused:
        if "\n" in rc:
            continue        # no "From " line or field can carry it
        nref += 1
        rcs.append(pv.robot(robot_reply(rc, ident(rc), return_path=not rc.startswith("-"))))
    recs = [rec for rec in pv.records() if rec["file"] not in seen]
    rel = [rec for rec in recs if rec["argv"][:3] == ["-oi", "-f", "spamcorral"]]
    ans = [rec for rec in recs if rec["argv"][:3] == ["-oi", "-f", "<>"]]
    check(all(x == 0 for x in rcs), "SC-R12: robot exits 0 every time", str(rcs))
    check(len(recs) == 2 * len(accepted) and len(rel) == len(accepted) and
          all(len(rec["argv"]) == 5 and rec["argv"][3] == "--" for rec in recs) and
          sorted(rec["argv"][4] for rec in rel) == sorted(accepted) and
          sorted(rec["argv"][4] for rec in ans) == sorted(accepted),
          "SC-R12: robot: each hostile recipient reaches the MSP as one argument after '--' "
          "(release and answer), nothing else", repr([rec["argv"] for rec in recs])[:600])
    check(all(without_bypass(rec["bytes"]) == ents[rec["argv"][4]][2] for rec in rel) and
          not any(os.path.lexists(os.path.join(pv.corral, ents[rc][0])) for rc in accepted),
          "SC-R12: the entries' own bytes were remailed and the entries removed")
    lg = pv.robot_log()
    check(len(re.findall(r"release-denied sender=.* reason=bad-sender", lg)) == nref and
          all(os.path.lexists(os.path.join(pv.corral, ents[rc][0])) for rc in refused),
          "SC-R12: robot refuses a leading '-', space, tab, ESC (reason=bad-sender), "
          "valid token or not; the entries stay", lg[-600:])
    check(os.listdir(pwn) == [] and not re.search(r"release-failed|exited", lg),
          "SC-R12: no side effect of any hostile name (nothing created, no failed sendmail)",
          str(os.listdir(pwn)))


# ---- SC-C8: expiry racing 100 releases ----

def waited_for_lock(dfd, p, path):
    """p was started while the test holds the corral's flock on dfd: true when it
    waited (path still there after 1 s), then, once the lock is let go, removed
    path and exited 0."""
    time.sleep(1.0)
    waited = p.poll() is None and os.path.lexists(path)
    fcntl.flock(dfd, fcntl.LOCK_UN)
    p.wait(timeout=60)
    return waited and p.returncode == 0 and not os.path.lexists(path)


def sc_c8(mail_uid):
    gid = pwd.getpwnam(RUN_AS).pw_gid
    pv = Private("c8", mail_uid, gid)
    rcpts = ["c8u%d@%s" % (i, DOM) for i in range(10)]
    msgs = []               # (id, {rcpt: link}, content, aged in the race)
    for m in range(50):
        content = small_msg("c8", m) + b"filler line\n" * 2000
        cid, names = plant(pv.corral, [rcpts[m % 10], rcpts[(m + 3) % 10]], content,
                           mail_uid, gid)
        msgs.append((cid, names, content, m % 2 == 0))
    r = pv.notify("-v")
    digs = pv.records()
    want = {"[MC-%s-%s]" % (cid, digest_token(n, safe_rcpt(rc), content))
            for cid, names, content, _ in msgs for rc, n in names.items()}
    got = set(IDENT.findall("".join(d["bytes"].decode("utf-8", "replace") for d in digs)))
    check(r.returncode == 0 and len(digs) == 10 and got == want,
          "SC-C8: 50 two-recipient messages (base file + 2 links): 10 digests, 100 identifiers")

    # both programs wait for the corral's flock()
    ag = time.time() - 30 * 86400
    lk = "c8lock@" + DOM
    lc = small_msg("lock", 0)
    lcid, lnames = plant(pv.corral, [lk], lc, mail_uid, gid)
    lid = "[MC-%s-%s]" % (lcid, digest_token(lnames[lk], safe_rcpt(lk), lc))
    _, anames = plant(pv.corral, ["c8lock2@" + DOM], small_msg("lock", 1), mail_uid, gid,
                      mtime=ag)
    lpath = os.path.join(pv.corral, lnames[lk])
    apath = os.path.join(pv.corral, list(anames.values())[0])
    dfd = os.open(pv.corral, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(dfd, fcntl.LOCK_EX)
        p = subprocess.Popen(pv.robot_cmd(), stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p.stdin.write(robot_reply(lk, lid))
        p.stdin.close()
        check(waited_for_lock(dfd, p, lpath),
              "SC-C8: the robot waits for the corral's flock() before it releases")
        fcntl.flock(dfd, fcntl.LOCK_EX)
        p = subprocess.Popen(pv.notify_cmd(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        check(waited_for_lock(dfd, p, apath),
              "SC-C8: the notifier waits for the corral's flock() before it expires")
    finally:
        os.close(dfd)

    # the race: 100 releases (6 at a time, random order) while half of the
    # messages pass their retention one by one and the notifier expires
    # in a loop
    snap = {rec["file"] for rec in pv.records()}
    lg0 = pv.robot_log()
    jobs = [(rc, n, cid, content, aged) for cid, names, content, aged in msgs
            for rc, n in names.items()]
    random.shuffle(jobs)
    to_age = [x for x in msgs if x[3]]
    random.shuffle(to_age)
    done, runs = threading.Event(), []

    def notifier_loop():
        while not done.is_set():
            runs.append(pv.notify("-v"))
            done.wait(random.uniform(0, 0.15))

    def ager():
        for cid, names, _, _ in to_age:
            time.sleep(0.1)
            for n in ["spam_to__" + cid] + list(names.values()):
                try:
                    os.utime(os.path.join(pv.corral, n), (ag, ag), follow_symlinks=False)
                except FileNotFoundError:
                    pass

    def release(job):
        rc, n, cid, content, _ = job
        return pv.robot(robot_reply(rc, "[MC-%s-%s]" % (cid, digest_token(n, safe_rcpt(rc),
                                                                            content))))
    th = [threading.Thread(target=notifier_loop), threading.Thread(target=ager)]
    t0 = time.time()
    for t in th:
        t.start()
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        rcs = list(ex.map(release, jobs))
    th[1].join()
    done.set()
    th[0].join()
    runs.append(pv.notify("-v"))          # a last cleanup
    took = time.time() - t0

    lg = pv.robot_log()
    lg = lg[len(lg0):]                      # the race only
    released = re.findall(r"released sender=\S+ entry=(\S+) to=", lg)
    rexp = re.findall(r"release-denied sender=\S+ entry=(\S+) reason=expired", lg)
    gone = ["spam_to_%s_%s" % (safe_rcpt(x), i) for x, i in
            re.findall(r"release-none sender=(\S+) id=([0-9A-F]{16}) reason=gone", lg)]
    nexp = set()
    for x in runs:
        nexp |= set(re.findall(r"expired (spam_to_\S+)", x.stderr))
    links = [j[1] for j in jobs]
    outcome = {n: [] for n in links}
    for what, ns in (("released", released), ("expired", rexp), ("gone", gone)):
        for n in ns:
            if n in outcome:
                outcome[n].append(what)
    print("# SC-C8: %.1f s, %d notifier runs; released %d, refused as expired %d, "
          "gone %d, expired by the notifier %d" %
          (took, len(runs), len(released), len(rexp), len(gone), len(nexp)))
    check(all(x == 0 for x in rcs) and all(x.returncode == 0 for x in runs),
          "SC-C8: 100 robot runs and every notifier run exit 0",
          "%s %s" % (sorted(set(rcs)), sorted({x.returncode for x in runs})))
    bad = {n: v for n, v in outcome.items() if len(v) != 1}
    check(not bad, "SC-C8: every release has exactly one outcome: released, expired or gone",
          repr(list(bad.items())[:5]))
    check(not set(released) & nexp and all(n in nexp for n in gone),
          "SC-C8: nothing was both remailed and expired; 'gone' only for what the notifier "
          "expired", repr(sorted(set(released) & nexp)[:3]))
    check(all(outcome[j[1]] == ["released"] for j in jobs if not j[4]),
          "SC-C8: all 50 releases of entries within retention went out")
    contents = {}
    for cid, names, content, _ in msgs:
        for rc in names:
            contents.setdefault(rc, set()).add(content)
    recs = [rec for rec in pv.records() if rec["file"] not in snap and
            rec["argv"][:3] == ["-oi", "-f", "spamcorral"]]
    check(len(recs) == len(released) and
          all(without_bypass(rec["bytes"]) in contents.get(rec["argv"][4], ()) for rec in recs),
          "SC-C8: every remailed copy is a whole entry (no half-read file), one per release",
          "%d copies, %d released" % (len(recs), len(released)))
    warn = re.findall(r".*(?:release-refused|release-failed|content-changed|remove spam_to|"
                      r"read spam_to|token check failed).*", lg)
    warn += [l for x in runs for l in x.stderr.splitlines()
             if re.search(r"expire spam_to|skipping|flock", l)]
    check(not warn, "SC-C8: no refused, failed or changed release, no failed removal or expiry",
          repr(warn[:3]))
    left = os.listdir(pv.corral)
    check(not [n for n in left if n.startswith(("spam_to_", "tmp."))],
          "SC-C8: afterwards no orphan base file, no link, no temp file",
          repr([n for n in left if n.startswith(("spam_to_", "tmp."))][:5]))
    check(not [n for n in left if n.startswith("notified.")],
          "SC-C8: afterwards no notified.* marker")

if __name__ == "__main__":
    t0 = time.time()
    try:
        main()
    except Exception as e:  # a crash counts as a failure
        import traceback
        traceback.print_exc()
        check(False, "e2e.py crashed: %s" % e)
    print("# e2e.py: %.1f s" % (time.time() - t0))
    if os.environ.get("E2E_SUMMARY_FILE"):
        R.save(os.environ["E2E_SUMMARY_FILE"])
    else:
        print(R.line())
    sys.exit(R.rc())

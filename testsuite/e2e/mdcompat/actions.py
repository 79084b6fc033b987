#!/usr/bin/python3
"""The actions of MailCorral's MIMEDefang API, one message each.

actions.py write DIR      writes the messages DIR/NN-name.eml
actions.py check OUTDIR   reads milterdrv -D's outputs for them (the
                          daemon runs actions-filter) and checks each
                          answer; prints PASS/FAIL lines and
                          "N passed, N failed"; exit 1 on failure.
"""
import os
import re
import sys

PDF = b"%PDF-1.4\n% test document MCKEEP-PDF\n%%EOF\n"
GTUBE = (b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"
         b"*C.34X\n")


def message(subject, parts, text="Hello MCKEEP-BODY."):
    b = "MCB-ACT"
    out = ["From: Tester <tester@example.org>", "To: user@example.com",
           "Subject: " + subject, "Message-ID: <%s@act.test>" %
           subject.replace(" ", "-"), "MIME-Version: 1.0",
           'Content-Type: multipart/mixed; boundary="%s"' % b, "",
           "preamble", "--" + b,
           "Content-Type: text/plain; charset=us-ascii", "",
           text, ""]
    for ctype, name, data in parts:
        import base64
        out += ["--" + b, 'Content-Type: %s; name="%s"' % (ctype, name),
                'Content-Disposition: attachment; filename="%s"' % name,
                "Content-Transfer-Encoding: base64", "",
                base64.encodebytes(data).decode().rstrip("\n"), ""]
    out.append("--%s--" % b)
    return ("\r\n".join(out) + "\r\n").encode()


CASES = [
    ("01-accept", "plain ACCEPT", []),
    ("02-bounce", "please BOUNCEME", []),
    ("03-tempfail", "please TEMPME", []),
    ("04-discard", "please DISCARDME", []),
    ("05-drop", "a txt to drop",
     [("text/plain", "notes.txt", b"dropped text MCDROP-TXT\n")]),
    ("06-pdf", "a pdf", [("application/pdf", "doc.pdf", PDF)]),
    ("07-replace", "REPLACEME pdf", [("application/pdf", "doc.pdf", PDF)]),
    ("08-gtube", "a test", [], GTUBE.decode()),
]


def write(d):
    for name, subject, parts, *text in CASES:
        with open(os.path.join(d, name + ".eml"), "wb") as fp:
            fp.write(message(subject, parts, *text))


def outputs(d):
    got = {}
    for f in os.listdir(d):
        with open(os.path.join(d, f), "rb") as fp:
            text = fp.read()
        first = text.split(b"\n", 1)[0]
        got[os.path.basename(first[6:].decode())[:-4]] = text
    return got


def check(d):
    got = outputs(d)
    res = [0, 0]

    def ok(cond, what):
        res[0 if cond else 1] += 1
        print("%s MIMEDefang API: %s" % ("PASS" if cond else "FAIL", what))

    def verdict(t):
        for line in t.split(b"\n"):
            if line.startswith(b"verdict: "):
                return line[9:].decode("latin-1")
        return "none"

    def body(t):
        return t.split(b"\nbody:\n", 1)[1] if b"\nbody:\n" in t else None

    def header(t, name):
        return [l for l in t.split(b"\n")
                if l.startswith(("addheader: " + name + " | ").encode())]

    t = got.get("01-accept", b"")
    ok(verdict(t) in ("accept", "continue") and body(t) is None and
       header(t, "X-MD-End") and re.search(
           rb"\| sender <sender0@example\.org>, INPUTMSG [1-9][0-9]* bytes$",
           header(t, "X-MD-End")[0]),
       "accept: delivered unchanged, filter_end's change_header added "
       "X-MD-End with $Sender and -s ./INPUTMSG")
    ok(header(t, "X-MD-Relay") == [b"addheader: X-MD-Relay | 192.0.2.1 "
                                    b"client.example"],
       "$RelayAddr, $RelayHostname from the MTA's {_} macro")
    ok(verdict(got.get("02-bounce", b"")).startswith("reject 554 5.7.1 "
       "bounced by the test filter"), "action_bounce: 554 5.7.1 with its text")
    ok(verdict(got.get("03-tempfail", b"")).startswith(
       "tempfail 451 4.3.0 tempfailed by the test filter"),
       "action_tempfail: 451 4.3.0 with its text")
    ok(verdict(got.get("04-discard", b"")) == "discard",
       "action_discard: discarded")
    t = got.get("05-drop", b"")
    b = body(t)
    ok(b is not None and b"MCKEEP-BODY" in b and b"MCDROP-TXT" not in b
       and b"ZHJvcHBlZCB0ZXh0" not in b and b"the test filter dropped notes.txt" in b,
       "action_drop_with_warning: notes.txt removed, the text kept, the "
       "warning in MailCorral's notice")
    t = got.get("06-pdf", b"")
    ok(body(t) is None and header(t, "X-MD-PDF") and
       b"doc.pdf starts %PDF" in header(t, "X-MD-PDF")[0],
       "filter's bodyhandle->path read, re_match_ext, action_add_header")
    t = got.get("07-replace", b"")
    b = body(t)
    ok(b is not None and b"MCKEEP-PDF" not in b and b"JVBERi0" not in b
       and b"MCKEEP-BODY" in b, "action_replace_with_warning: the PDF "
       "replaced by its warning")
    t = got.get("08-gtube", b"")
    ok(header(t, "X-MD-Spam") and re.search(
        rb"\| [0-9.]+/[0-9.]+ \S*GTUBE", header(t, "X-MD-Spam")[0]),
       "spam_assassin_check: the built-in checker's score and GTUBE")
    ok(not header(got.get("06-pdf", b""), "X-MD-Spam"),
       "spam_assassin_check: a harmless message is under the threshold")
    print("%d passed, %d failed" % tuple(res))
    return 1 if res[1] else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
        sys.exit(0)
    sys.exit(check(sys.argv[2]))

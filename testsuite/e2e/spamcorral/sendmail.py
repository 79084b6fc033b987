#!/usr/bin/env python3
"""A stand-in for the stack's MSP: `sendmail.py --port N [-oi] -f FROM -- RCPT...`
reads a message on stdin and submits it over SMTP to 127.0.0.1:N exactly as
sendmail's MSP (submit.cf, FEATURE(msp)) relays it: unqualified addresses get
@mx.mailcorral.test, line ends become CRLF.  Used because the stack's
$STACK_DIR/bin/sendmail runs `unshare --uts`, which an unprivileged alias
program (uid mail) may not do.  python3 stdlib only.

`sendmail.py --record DIR ARGS...` submits nothing: it stores the ARGS it
was given, exactly (the caller's argv after argv[0]), and the message, as
DIR/<ns>.<pid>.json ({"argv": [...], "data": "<ns>.<pid>.eml"}), for the
checks of RELIABILITY SC-R12 and SC-C8; then exits 0.
Exit: 0 sent, 75 temporary failure, 69 refused, 64 usage."""
import json
import os
import re
import time
import smtplib
import sys

DOMAIN = "mx.mailcorral.test"


def qualify(a):
    if a in ("", "<>"):
        return ""
    a = a.strip("<>")
    return a if "@" in a else a + "@" + DOMAIN


def record(outdir, args):
    """Stores args and stdin; the .json appears last (rename)."""
    base = "%d.%d" % (time.time_ns(), os.getpid())
    data = sys.stdin.buffer.read()
    with open(os.path.join(outdir, base + ".eml"), "wb") as f:
        f.write(data)
    # argv_hex: the exact bytes, whatever their encoding
    rec = {"argv": list(args), "argv_hex": [os.fsencode(a).hex() for a in args],
           "data": base + ".eml"}
    tmp = os.path.join(outdir, ".tmp." + base)
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.rename(tmp, os.path.join(outdir, base + ".json"))
    return 0


def main(argv):
    port, sender, rcpts, i = 25, None, [], 0
    # our own options come first, before what the caller passed
    while i < len(argv) and argv[i] in ("--port", "--record"):
        if argv[i] == "--record":
            return record(argv[i + 1], argv[i + 2:])
        port = int(argv[i + 1])
        i += 2
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rcpts.extend(argv[i + 1:]); break
        if a == "-f":
            sender = argv[i + 1]; i += 2; continue
        if a.startswith("-f"):
            sender = a[2:]; i += 1; continue
        if a.startswith("-o") or a in ("-i", "-t"):
            i += 1; continue
        if a.startswith("-"):
            return 64
        rcpts.append(a); i += 1
    if not rcpts:
        return 64
    data = sys.stdin.buffer.read()
    data = re.sub(rb"\r?\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname=DOMAIN, timeout=120)
        s.ehlo(DOMAIN)
        frm = qualify("root" if sender is None else sender)
        code, _ = s.mail("<%s>" % frm if frm else "<>")
        if code != 250:
            return 75 if 400 <= code < 500 else 69
        for r in rcpts:
            code, _ = s.rcpt("<%s>" % qualify(r))
            if code not in (250, 251):
                return 75 if 400 <= code < 500 else 69
        code, _ = s.data(data)
        s.quit()
        if code != 250:
            return 75 if 400 <= code < 500 else 69
    except (OSError, smtplib.SMTPException) as e:
        sys.stderr.write("sendmail.py: %s\n" % e)
        return 75
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

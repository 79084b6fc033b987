#!/usr/bin/env python3
"""A stand-in for the stack's MSP: `sendmail.py --port N [-oi] -f FROM -- RCPT...`
reads a message on stdin and submits it over SMTP to 127.0.0.1:N exactly as
sendmail's MSP (submit.cf, FEATURE(msp)) relays it: unqualified addresses get
@mx.mailcorral.test, line ends become CRLF.  Used because the stack's
$STACK_DIR/bin/sendmail runs `unshare --uts`, which an unprivileged alias
program (uid mail) may not do.  python3 stdlib only.
Exit: 0 sent, 75 temporary failure, 69 refused, 64 usage."""
import re
import smtplib
import sys

DOMAIN = "mx.mailcorral.test"


def qualify(a):
    if a in ("", "<>"):
        return ""
    a = a.strip("<>")
    return a if "@" in a else a + "@" + DOMAIN


def main(argv):
    port, sender, rcpts, i = 25, None, [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--port":
            port = int(argv[i + 1]); i += 2; continue
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

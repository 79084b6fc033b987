#!/usr/bin/python3
"""Compares MailCorral's and MIMEDefang's decision per message.

compare.py N MC_OUT_DIR MD_OUT_DIR EXPECTED_FILE

N: the messages sent to each side; a side that answered fewer fails.

The directories hold milterdrv -D outputs (<index>.out: "file: PATH",
the modifications, "verdict: ...", then "body:" when the filter replaced
the body).  Decisions: accept, drop-part (body replaced), bounce
(reject), discard, tempfail; error (no answer) is always a failure.

EXPECTED_FILE lists the expected differences, one a line:
    NAME  MAILCORRAL-DECISION  MIMEDEFANG-DECISION  REASON...
Each must be one where MailCorral is stricter (accept < drop-part <
bounce, discard, tempfail), or one where MIMEDefang itself fails (its
tempfail comes from a crash, not from the filter: the REASON starts with
"MIMEDefang fails:"), and must still happen exactly as listed.
Prints the agreement table and "N passed, N failed"; exit 1 on failure.
"""
import collections
import os
import sys

RANK = {"accept": 0, "drop-part": 1, "bounce": 2, "discard": 2,
        "tempfail": 2}


def decisions(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".out"):
            continue
        name, verdict, body = None, None, False
        with open(os.path.join(d, f), "rb") as fp:
            for line in fp:
                if line.startswith(b"file: ") and name is None:
                    name = os.path.basename(line[6:].strip().decode())
                elif line.startswith(b"verdict: ") and verdict is None:
                    verdict = line[9:].split()[0].decode()
                elif line == b"body:\n":
                    body = True
                    break
        if name is None:
            continue
        dec = {"reject": "bounce", "tempfail": "tempfail",
               "discard": "discard"}.get(verdict)
        if dec is None:
            if verdict in ("accept", "continue"):
                dec = "drop-part" if body else "accept"
            else:
                dec = "error"
        out[name[:-4] if name.endswith(".eml") else name] = dec
    return out


def main():
    want = int(sys.argv[1])
    mc, md = decisions(sys.argv[2]), decisions(sys.argv[3])
    expected = {}
    with open(sys.argv[4]) as fp:
        for line in fp:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            f = line.split(None, 3)
            expected[f[0]] = (f[1], f[2], f[3] if len(f) > 3 else "")
    npass = nfail = 0
    for side, got in (("MailCorral", mc), ("MIMEDefang", md)):
        if len(got) != want:
            nfail += 1
            print("FAIL %s answered %d of %d messages" % (side, len(got),
                                                          want))
    table = collections.Counter()
    for name in sorted(set(mc) | set(md)):
        a, b = mc.get(name, "missing"), md.get(name, "missing")
        table[(a, b)] += 1
        if name in expected:
            ea, eb, why = expected[name]
            stricter = RANK.get(a, -1) > RANK.get(b, 9)
            peer_fails = b == "tempfail" and a != "error" and \
                why.startswith("MIMEDefang fails:")
            if (a, b) == (ea, eb) and (stricter or peer_fails) and why:
                npass += 1
            else:
                nfail += 1
                print("FAIL %s: MailCorral %s, MIMEDefang %s; listed as "
                      "%s/%s (%s)" % (name, a, b, ea, eb, why or "no reason"))
        elif a == b and a not in ("error", "missing"):
            npass += 1
        else:
            nfail += 1
            print("FAIL %s: MailCorral %s, MIMEDefang %s" % (name, a, b))
    for name in sorted(set(expected) - set(mc) - set(md)):
        nfail += 1
        print("FAIL %s: listed, not in the suite" % name)
    print("agreement table (MailCorral / MIMEDefang: messages)")
    for (a, b), n in sorted(table.items()):
        print("  %-10s %-10s %4d%s" % (a, b, n, "" if a == b else
                                         "  (expected differences)"))
    print("%d messages: %d agree, %d expected differences" % (
        sum(table.values()), sum(n for (a, b), n in table.items() if a == b),
        sum(1 for n in expected if n in mc)))
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())

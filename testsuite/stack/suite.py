#!/usr/bin/env python3
"""Send a corpus through the running test stack and judge the results.

  suite.py corpus CORPUS_DIR [--table]     validation suite (NNN-*.eml)
  suite.py noxxi content|filename DIR STATE   one noxxi set; adds to STATE
  suite.py noxxi-summary STATE              prints the noxxi line; exit 1 on loss

Reads STACK_DIR/SMTP_PORT from the environment (as written by stack.sh).
python3 stdlib only.
"""
import base64
import glob
import hashlib
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import check  # noqa: E402
import mctest  # noqa: E402
from send import Sender, to_crlf  # noqa: E402

STACK_DIR = os.environ.get("STACK_DIR", "/tmp/mailcorral-stack")
PORT = int(os.environ.get("SMTP_PORT", "2525"))
MAILDIR = os.path.join(STACK_DIR, "mail")
# the noxxi corpus spells it "ANTIVIURUS": match the common prefix
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"
ZIPTEXT = b"named 'test.zip'"


def send_all(items, crlf=False):
    """items: [(rcpt, path)] -> {path: smtp result}"""
    snd = Sender(PORT)
    res = {}
    for rcpt, path in items:
        with open(path, "rb") as f:
            data = f.read()
        if crlf:
            data = to_crlf(data)
        res[path] = snd.send(rcpt, data)
    snd.close()
    return res


def corpus(cdir, table=False):
    emls = sorted(glob.glob(os.path.join(cdir, "[0-9]*.eml")))
    items = [("t%s@mx.mailcorral.test" % check.msg_id_of(p), p) for p in emls]
    t0 = time.time()
    results = send_all(items)
    t1 = time.time()
    R = mctest.Results()
    rows = []
    for rcpt, path in items:
        exp = path[:-4] + ".expect"
        ok, line = check.check(exp, path, MAILDIR, results[path])
        R.record(ok, line)
        if table:
            nnn = check.msg_id_of(path)
            copies = check.find_delivered(MAILDIR, "t" + nnn)
            raw = open(copies[0], "rb").read() if len(copies) == 1 else None
            tech, _ = check.parse_expect(exp)
            rows.append((nnn, tech, check.describe(raw, open(path, "rb").read(), results[path]), "PASS" if ok else "FAIL"))
    if table:
        print()
        w = max(len(r[1]) for r in rows) if rows else 10
        w = min(w, 56)
        print("%-4s %-*s %-52s %s" % ("msg", w, "technique", "what the filter did (hdr:removed/renamed/defanged)", "result"))
        print("-" * (w + 65))
        for nnn, tech, did, res in rows:
            print("%-4s %-*s %-52s %s" % (nnn, w, tech[:w], did[:52], res))
        print()
    print("# sent %d messages in %.1f s, checked in %.1f s" % (len(items), t1 - t0, time.time() - t1), file=sys.stderr)
    print(R.line())
    return R.rc()


def b64md5_set(raw, needle):
    out = set()
    found = False
    for blob in check.readings(raw):
        out.add(base64.b64encode(hashlib.md5(blob).digest()).decode().rstrip("="))
        if needle in blob:
            found = True
    return out, found


def noxxi(kind, ndir, state):
    files = sorted(f for f in glob.glob(os.path.join(ndir, "*")) if os.path.isfile(f))
    prefix = "nc" if kind == "content" else "nf"
    items = [("%s%03d@mx.mailcorral.test" % (prefix, i), p) for i, p in enumerate(files)]
    t0 = time.time()
    results = send_all(items, crlf=True)
    st = {"messages": 0, "delivered": 0, "rejected": 0, "tempfailed": 0, "lost": 0,
          "removed": 0, "unreachable": 0, "problems": []}
    if os.path.exists(state):
        with open(state) as f:
            st = json.load(f)
    for rcpt, path in items:
        st["messages"] += 1
        res = results[path]
        code = res[:3]
        copies = check.find_delivered(MAILDIR, rcpt.split("@")[0])
        if copies:
            st["delivered"] += 1
            raw = open(copies[0], "rb").read()
            sent = open(path, "rb").read()
            m = re.search(rb"md5\(([A-Za-z0-9+/=]+)\)", sent)
            md5 = m.group(1).decode().rstrip("=") if m else None
            if kind == "content":
                # the EICAR zip: neither its md5 nor the EICAR text inside
                hashes, found = b64md5_set(raw, EICAR)
                removed = not found and (md5 is None or md5 not in hashes)
            else:
                # file.zip: no part of that name and not its content
                # ("This could be a file named 'test.zip'")
                hashes, found = b64md5_set(raw, ZIPTEXT)
                names = [n.strip().lower() for n in check.part_names(raw)]
                removed = "file.zip" not in names and not found
            if removed:
                # payloads the checker cannot find even in the sent copy
                # (odd QP/base64/BinHex variants) are not counted as removed
                if not b64md5_set(to_crlf(sent), EICAR if kind == "content" else ZIPTEXT)[1]:
                    st["undecidable"] = st.get("undecidable", 0) + 1
                    removed = False
            if removed:
                st["removed"] += 1
            elif kind == "filename" and re.search(rb"^X-Payload-Id: fname-\S*\.png ", sent, re.M):
                # the corpus's controls: the attachment is file.png in
                # every reading (no file.zip to hide); delivering it is right
                st["controls"] = st.get("controls", 0) + 1
            elif b64md5_set(to_crlf(sent), EICAR if kind == "content" else ZIPTEXT)[1]:
                st.setdefault("kept", []).append(os.path.basename(path))
        elif code.startswith("5"):
            st["rejected"] += 1
        elif code.startswith("4") or code == "000":
            st["tempfailed"] += 1
            if "try again later" in res.lower() or code == "000":
                # F=T: sendmail tempfails when the milter is unreachable
                st["unreachable"] += 1
            st["problems"].append("tempfail %s: %s" % (os.path.basename(path), res[:100]))
        else:
            st["lost"] += 1
            st["problems"].append("LOST %s: %s" % (os.path.basename(path), res[:100]))
    with open(state, "w") as f:
        json.dump(st, f)
    print("# noxxi %s: %d messages sent and checked in %.1f s" % (kind, len(items), time.time() - t0), file=sys.stderr)
    return 0


def noxxi_summary(state):
    with open(state) as f:
        st = json.load(f)
    for p in st["problems"]:
        print("noxxi: " + p)
    kept = st.get("kept", [])
    if kept:
        print("noxxi: FAIL: payload still decodable in %d delivered messages, e.g. %s" % (len(kept), " ".join(kept[:8])))
    print("noxxi: %d messages, %d delivered, %d rejected, %d tempfailed, %d lost, %d payload removed"
          % (st["messages"], st["delivered"], st["rejected"], st["tempfailed"], st["lost"], st["removed"]))
    print("noxxi: (%d delivered messages whose payload this checker cannot decode even unfiltered are not counted as removed;"
          " %d controls whose attachment is named file.png in every reading delivered)"
          % (st.get("undecidable", 0), st.get("controls", 0)))
    bad = st["lost"] > 0 or st["unreachable"] > 0 or len(kept) > 0
    if st["unreachable"]:
        print("noxxi: FAIL: %d tempfails look like an unreachable milter" % st["unreachable"])
    if st["lost"]:
        print("noxxi: FAIL: %d messages lost" % st["lost"])
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "corpus":
        return corpus(argv[2], "--table" in argv)
    if len(argv) == 5 and argv[1] == "noxxi":
        return noxxi(argv[2], argv[3], argv[4])
    if len(argv) == 3 and argv[1] == "noxxi-summary":
        return noxxi_summary(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

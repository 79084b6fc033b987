#!/usr/bin/python3
"""The differential MIME oracle (doc/oracle.md).  Run with /usr/bin/python3.

  oracle.py run [options]       mutations (and corpus copies) through the
                                running test stack, then the oracles
  oracle.py show FILE...        what each oracle and MailCorral read in FILE

run options:
  --seed S --count N      N mutated messages of seed S (mutate.py)
  --regress DIR           also send every DIR/*.eml (earlier escapes)
  --delivered LIST        also check these delivered copies (one path a line:
                          the validation suite's and noxxi's copies)
  --sessions K            parallel SMTP sessions (default 4)
  --jobs J                oracle processes (default 2)
  --chunk C               messages generated, sent and read at a time (5000)
  --escapes DIR           write each escaping input there, with a README line
  --max-escape-files M    at most M of them (200); all are printed
  --work DIR              scratch directory (default $STACK_DIR/oracle)
  --judge-conf FILE       configuration for mailcorral-judge (the stack's)
  --no-diff               skip the differential (MailCorral's view of input)

Invariant: in MailCorral's delivered output no oracle finds a file that
mailcorral-judge (MailCorral's own rules) forbids.  Each message with such a
file is an escape and a failure.  The differential (an oracle reads a name
in the input that MailCorral's parser did not) is reported, not failed.
Reads STACK_DIR and SMTP_PORT from the environment (stack.sh).
Ends with "N passed, N failed" (one per message checked).
"""
import collections
import glob
import multiprocessing
import os
import queue
import re
import shutil
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "testsuite", "stack"))
sys.dont_write_bytecode = True
import mutate  # noqa: E402
import oracles  # noqa: E402
from send import Sender  # noqa: E402

JUDGE = os.environ.get("MC_JUDGE", os.path.join(TOP, "mailcorral-judge"))
STACK_DIR = os.environ.get("STACK_DIR", "/tmp/mailcorral-stack")
PORT = int(os.environ.get("SMTP_PORT", "2525"))
MAILDIR = os.path.join(STACK_DIR, "mail")

# ---- per analysis process ------------------------------------------------
_O = None
_J = None
_V = None


def _init(conf):
    global _O, _J, _V
    _O = oracles.Oracles()
    _J = oracles.Judge(JUDGE, conf)
    _V = oracles.View(JUDGE, conf)


def _short(names):
    return ",".join(n.encode("unicode_escape").decode()[:80] for n in names) or "(no name)"


def ext(n):
    k = oracles.norm_name(n)
    return k.rsplit(".", 1)[-1] if "." in k else ""


def analyse(task):
    """task: (label, input path or None, delivered path or None, diff)
    -> dict with per-oracle results"""
    label, inp, out, diff = task
    res = {"label": label, "input": inp, "delivered": out, "read": {},
           "errors": {}, "escapes": [], "diff": {}}
    if out is not None:
        for name, atts in _O.read(out).items():
            if isinstance(atts, Exception):
                res["errors"][name] = "%s: %s" % (type(atts).__name__, str(atts)[:200])
                continue
            res["read"][name] = 1
            for a in atts:
                code, reason, what = _J.judge(a["names"], a["type"], a["data"])
                if code == 1:
                    res["escapes"].append((name, _short(a["names"]), a["type"],
                                           len(a["data"]), reason, what))
    if diff and inp is not None:
        # The differential: a dangerous name an oracle reads in the input
        # that MailCorral's parser (all views) did not read.
        try:
            mc_names, finds, errs = _V.read(inp)
        except Exception as e:
            res["diff"]["mailcorral"] = "judge -M failed: %s" % e
            return res
        mc = {oracles.norm_name(n) for n in mc_names}
        # the rules' verdicts on the names MailCorral read: an oracle's name
        # that draws one of them (x"tool.cmd" and xtool.cmd: bad-extension
        # .cmd) was judged by the same rule on the same extension
        mc_why = set()
        for n in mc_names:
            code, reason, what = _J.judge([n], "", b"")
            if code == 1:
                mc_why.add((reason, what))
        mc_ext = {ext(n) for n in mc_names if _J.judge([n], "", b"")[0] == 1}
        removed = any(f[2] in ("delete", "mangle") for f in finds)
        # explained: MailCorral reported what it could not read (a limit,
        # an encoded container, ...) and removed that part as unscannable,
        # so the name it did not read left with it
        limit = bool(set(errs) - {"ok"})
        cut = any(f[2] == "delete" and f[3] == "unscannable" for f in finds)
        for name, atts in _O.read(inp).items():
            if isinstance(atts, Exception):
                continue
            unseen = set()
            for a in atts:
                for n in a["names"]:
                    # sendmail drops the NUL bytes of a top-level header
                    # field: the milter and every reader of the delivered
                    # copy get the name without them (a nested part's
                    # header keeps its NUL; its names include the reading
                    # cut there)
                    if "\0" in n and oracles.norm_name(n.replace("\0", "")) in mc:
                        continue
                    n = n.split("\0", 1)[0]     # as C code reads it (the judge too)
                    k = oracles.norm_name(n)
                    code, reason, what = _J.judge([n], "", b"")
                    if k in mc or code != 1 or ext(n) in mc_ext or \
                            (reason, what) in mc_why:
                        continue
                    unseen.add(n)
            if unseen:
                res["diff"][name] = ("explained" if limit and cut else "unexplained",
                                     "%s (mailcorral: %s; mime=%s)" % (
                    _short(sorted(unseen)), "removed an unscannable part" if cut else
                    "removed a part" if removed else "removed nothing",
                    ",".join(errs) or "-"))
    return res


# ---- sending -------------------------------------------------------------

def send_parallel(items, sessions):
    """items: [(rcpt, path)] -> {rcpt: reply}; K SMTP sessions at once."""
    q = queue.Queue()
    for it in items:
        q.put(it)
    results = {}
    lock = threading.Lock()

    def worker():
        snd = Sender(PORT)
        while True:
            try:
                rcpt, path = q.get_nowait()
            except queue.Empty:
                break
            with open(path, "rb") as f:
                data = f.read()
            r = snd.send(rcpt, data)
            if r.startswith("4"):
                # sendmail keeps a milter that failed once off for the
                # rest of the session (451 4.3.2 on every later MAIL):
                # a fresh session, and the message once more
                snd.close()
                r = snd.send(rcpt, data)
                if r.startswith("4"):
                    snd.close()
            with lock:
                results[rcpt] = r
        snd.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, sessions))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def delivered_by_user():
    out = {}
    for f in os.listdir(MAILDIR):
        if f.startswith("."):
            continue
        out.setdefault(f.split(".", 1)[0], []).append(os.path.join(MAILDIR, f))
    return out


def decision_lines():
    """qid -> the daemon's decision line (action=...) from its log."""
    d = {}
    try:
        with open(os.path.join(STACK_DIR, "mailcorral.log"), "rb") as f:
            for line in f:
                m = re.search(rb"\b([A-Za-z0-9]{10,20}): (action=.*)", line)
                if m:
                    d[m.group(1).decode()] = m.group(2).decode("latin-1")[:400]
    except OSError:
        pass
    return d


# ---- the run -------------------------------------------------------------

class Tally:
    def __init__(self):
        self.read = collections.Counter()
        self.errors = collections.Counter()
        self.escape_msgs = collections.Counter()
        self.escape_files = collections.Counter()
        self.diff = collections.Counter()
        self.diff_unexplained = collections.Counter()
        self.diff_examples = collections.defaultdict(list)
        self.checked = 0
        self.failed = 0
        self.smtp = collections.Counter()
        self.smtp_examples = []
        self.error_examples = collections.defaultdict(list)

    def add(self, r):
        self.checked += 1
        for o in r["read"]:
            self.read[o] += 1
        for o, e in r["errors"].items():
            self.errors[o] += 1
            if len(self.error_examples[o]) < 3:
                self.error_examples[o].append("%s: %s" % (r["label"], e))
        seen = set()
        for e in r["escapes"]:
            self.escape_files[e[0]] += 1
            seen.add(e[0])
        for o in seen:
            self.escape_msgs[o] += 1
        if r["escapes"]:
            self.failed += 1
        for o, d in r["diff"].items():
            if isinstance(d, str):          # judge -M failed
                d = ("unexplained", d)
            kind, names = d
            self.diff[o] += 1
            if kind == "unexplained":
                self.diff_unexplained[o] += 1
                if len(self.diff_examples[o]) < 5:
                    self.diff_examples[o].append("%s: %s" % (r["label"], names))


def record_escape(r, escdir, qid, decision, tech):
    os.makedirs(escdir, exist_ok=True)
    src = r["input"] or r["delivered"]
    base = r["label"].replace("/", "_")
    dst = os.path.join(escdir, base + ".eml")
    shutil.copyfile(src, dst)
    if r["input"] is None:
        pass
    found = "; ".join("%s found %s (%s, %d bytes): %s %s" % e for e in r["escapes"][:4])
    with open(os.path.join(escdir, "README"), "a") as f:
        f.write("%s.eml\t%s\t%s\tqid=%s\tmailcorral: %s\ttechniques: %s\n"
                % (base, r["label"], found, qid or "?", decision or "(no decision line)", tech))


def selftest(conf, work):
    try:
        return _selftest(conf, work)
    except Exception as e:
        return ["%s: %s" % (type(e).__name__, e)]


def _selftest(conf, work):
    """The oracle must be able to fail: the judge forbids what the rules
    forbid and allows a harmless file; every oracle finds the forbidden
    file in a plain, unfiltered message.  -> list of failure texts"""
    j = oracles.Judge(JUDGE, conf)
    fails = []
    for names, ctype, data, want in (
            (["evil.bat"], "application/octet-stream", b"x", 1),
            (["photo.jpg"], "image/jpeg", mutate.PE, 1),
            (["docs.zip"], "application/zip", mutate.ZIP, 1),
            (["notes.txt"], "text/plain", b"hello\r\n", 0)):
        got = j.judge(names, ctype, data)[0]
        if got != want:
            fails.append("judge says %d for %s, want %d" % (got, names, want))
    j.close()
    plain = os.path.join(work, "selftest.eml")
    with open(plain, "wb") as f:
        f.write(open(os.path.join(HERE, "regress", "params64-evil-bat.eml"), "rb").read()
                if os.path.exists(os.path.join(HERE, "regress", "params64-evil-bat.eml"))
                else mutate.make(1, 0)[0])
    _init(conf)
    r = analyse(("selftest", None, plain, False))
    for o in oracles.ORACLES:
        if o not in r["read"]:
            fails.append("oracle %s cannot read a plain message: %s" % (o, r["errors"].get(o)))
        elif not any(e[0] == o for e in r["escapes"]):
            fails.append("oracle %s does not find evil.bat in an unfiltered message" % o)
    _O.close()
    _J.close()
    _V.close()
    return fails


def main_run(args):
    seed = int(args.get("--seed", "1"))
    count = int(args.get("--count", "0"))
    sessions = int(args.get("--sessions", "4"))
    jobs = int(args.get("--jobs", "2"))
    chunk = int(args.get("--chunk", "5000"))
    escdir = args.get("--escapes")
    work = args.get("--work", os.path.join(STACK_DIR, "oracle"))
    conf = args.get("--judge-conf")
    diff = "--no-diff" not in args
    max_files = int(args.get("--max-escape-files", "200"))
    os.makedirs(work, exist_ok=True)
    t_start = time.time()
    fails = selftest(conf, work)
    for f in fails:
        print("FAIL self-test: " + f)
    if fails:
        print("0 passed, %d failed" % len(fails))
        return 1
    pool = multiprocessing.Pool(jobs, _init, (conf,))
    tally = Tally()
    t_send = t_read = 0.0
    ndelivered = 0
    nesc_files = 0

    def handle(results, tasks_meta):
        nonlocal nesc_files
        for r in results:
            tally.add(r)
            if r["escapes"]:
                qid, tech = tasks_meta.get(r["label"], (None, ""))
                dl = decision_lines().get(qid or "", None)
                print("ESCAPE %s: %s | mailcorral: %s | %s" % (
                    r["label"], "; ".join("%s found %s (%s): %s %s" % (e[0], e[1], e[2], e[4], e[5])
                                          for e in r["escapes"][:3]),
                    dl or "?", tech), flush=True)
                if escdir and nesc_files < max_files:
                    record_escape(r, escdir, qid, dl, tech)
                    nesc_files += 1

    # 1. delivered copies given by the caller (validation suite, noxxi)
    if "--delivered" in args:
        with open(args["--delivered"]) as f:
            paths = [p.strip() for p in f if p.strip()]
        t0 = time.time()
        tasks = [(os.path.basename(p).split(".", 1)[0], None, p, False) for p in paths]
        handle(pool.imap_unordered(analyse, tasks, chunksize=4), {})
        t_read += time.time() - t0
        print("# delivered copies: %d read in %.1f s" % (len(paths), time.time() - t0), flush=True)

    # 2. regressions and mutations, chunk by chunk
    batches = []
    if "--regress" in args:
        regs = sorted(glob.glob(os.path.join(args["--regress"], "*.eml")))
        if regs:
            batches.append(("regress", regs))
    for start in range(0, count, chunk):
        batches.append(("gen", (start, min(count, start + chunk))))
    def prepare(kind, what):
        items, meta, made = [], {}, []
        if kind == "regress":
            for i, p in enumerate(what):
                rcpt = "r%dx%d" % (seed, i)
                items.append((rcpt, p))
                meta[rcpt] = (None, "regression " + os.path.basename(p))
            return items, meta, made
        gdir = os.path.join(work, "gen", str(what[0]))
        shutil.rmtree(gdir, ignore_errors=True)
        os.makedirs(gdir)
        for i in range(*what):
            data, tech = mutate.make(seed, i)
            p = os.path.join(gdir, "m%d-%d.eml" % (seed, i))
            with open(p, "wb") as f:
                f.write(data)
            rcpt = "o%dx%d" % (seed, i)
            items.append((rcpt, p))
            meta[rcpt] = (None, "seed=%d index=%d %s" % (seed, i, " ".join(tech)))
            made.append(p)
        return items, meta, made

    def read_back(kind, what, items, meta, made, replies):
        nonlocal t_read, ndelivered
        by_user = delivered_by_user()
        tasks = []
        for rcpt, p in items:
            rep = replies.get(rcpt, "000 not sent")
            code = rep[:3]
            tally.smtp[code[0] + "xx"] += 1
            if code[0] != "2" and len(tally.smtp_examples) < 5:
                tally.smtp_examples.append("%s: %s" % (rcpt, rep[:160]))
            m = re.match(r"250 \S+ (\S+)", rep)
            meta[rcpt] = (m.group(1) if m else None, meta[rcpt][1])
            copies = by_user.get(rcpt, [])
            ndelivered += len(copies) > 0
            if len(copies) > 1:
                # one recipient, one message: more is a stale mail directory
                print("oracle: %d delivered copies for %s (stale %s?)"
                      % (len(copies), rcpt, MAILDIR), flush=True)
                copies = sorted(copies, key=os.path.getmtime)[-1:]
            tasks.append((rcpt, p, copies[0] if copies else None, diff))
        t0 = time.time()
        handle(pool.imap_unordered(analyse, tasks, chunksize=8), meta)
        t_read += time.time() - t0
        for rcpt, p, c, _ in tasks:
            for cp in by_user.get(rcpt, []):
                os.unlink(cp)
        for p in made:
            os.unlink(p)
        print("# %s %s: sent %d (%s), checked; %d escapes so far, %.0f s"
              % (kind, what if kind == "gen" else len(what), len(items),
                 " ".join("%s=%d" % kv for kv in sorted(tally.smtp.items())),
                 tally.failed, time.time() - t_start), flush=True)

    # Chunk k+1 is sent while chunk k is read back.
    prev = None
    interrupted = False
    try:
        for kind, what in batches:
            cur = prepare(kind, what)
            replies = {}
            t0 = time.time()
            th = threading.Thread(target=lambda c=cur, r=replies: r.update(send_parallel(c[0], sessions)),
                                  daemon=True)
            th.start()
            if prev is not None:
                read_back(*prev)
            th.join()
            t_send += time.time() - t0
            prev = (kind, what) + cur + (replies,)
        if prev is not None:
            read_back(*prev)
        pool.close()
    except KeyboardInterrupt:
        # the counts so far are still worth printing
        interrupted = True
        pool.terminate()
    pool.join()
    shutil.rmtree(os.path.join(work, "gen"), ignore_errors=True)

    total = time.time() - t_start
    print()
    print("oracle: %d messages checked (%d sent: mutations and regressions, %d of them "
          "delivered); SMTP replies: %s"
          % (tally.checked, sum(len(w) if k == "regress" else w[1] - w[0] for k, w in batches),
             ndelivered, " ".join("%s=%d" % kv for kv in sorted(tally.smtp.items()))))
    sent = sum(tally.smtp.values())
    if sent:
        print("oracle: %.1f messages/s overall; sending %.1f s at %d sessions "
              "(overlapping the reading), reading %.1f s, total %.1f s"
              % (tally.checked / total if total else 0, t_send, sessions, t_read, total))
    for e in tally.smtp_examples:
        print("    not delivered: " + e)
    for o in oracles.ORACLES:
        print("oracle %-9s read %6d, errors %5d, escapes %4d messages (%d files), "
              "differential %d inputs (%d unexplained)"
              % (o, tally.read[o], tally.errors[o], tally.escape_msgs[o],
                 tally.escape_files[o], tally.diff[o], tally.diff_unexplained[o]))
        for e in tally.error_examples[o]:
            print("    error: " + e)
        for e in tally.diff_examples[o]:
            print("    differential, unexplained: " + e)
    if interrupted:
        print("oracle: INTERRUPTED: the counts above are of the messages read so far")
    print("%d passed, %d failed" % (tally.checked - tally.failed, tally.failed + interrupted))
    return 1 if tally.failed or interrupted else 0


def main_show(paths):
    _init(None)
    for p in paths:
        print("== %s" % p)
        for name, atts in _O.read(p).items():
            if isinstance(atts, Exception):
                print("  %-9s error %s" % (name, atts))
                continue
            for a in atts:
                v = _J.judge(a["names"], a["type"], a["data"])
                print("  %-9s %-40s %-28s %7d  %s" % (name, _short(a["names"])[:40], a["type"][:28],
                                                       len(a["data"]), "FORBIDDEN %s %s" % v[1:] if v[0] else "ok"))
        names, finds, errs = _V.read(p)
        print("  mailcorral names: %s" % _short(sorted(names)))
        for f in finds:
            print("  mailcorral finding: %s" % " ".join(f))
        print("  mailcorral mime errors: %s" % " ".join(errs))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "run":
        args, rest = {}, argv[2:]
        while rest:
            a = rest.pop(0)
            if a == "--no-diff":
                args[a] = True
            elif rest:
                args[a] = rest.pop(0)
        return main_run(args)
    if len(argv) >= 3 and argv[1] == "show":
        return main_show(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

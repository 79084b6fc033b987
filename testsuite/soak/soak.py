#!/usr/bin/env python3
"""Soak run of MailCorral (python3 stdlib only; started by soak.sh).

Starts ./mailcorral (release build) on a unix socket, drives it with
testsuite/bench/milterdrv at c=16 over the bench corpus (corpus/mix) for
SOAK_MESSAGES messages (default 200000), samples VmRSS and the fd count of
the daemon every SOAK_INTERVAL seconds (default 5) from /proc, counting the
answered messages by the decision lines in its log.  Prints the samples, the
least-squares RSS slope over the last 80 % of the run in MiB per 100,000
messages (pass: <= SOAK_MAX_SLOPE, default 2), the fd count at start and end
(pass: end <= start + 2), milterdrv's errors (pass: 0), the daemon alive at
the end, and last "N passed, N failed".
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "testsuite", "lib"))
import mctest  # noqa: E402
MC = os.environ.get("MAILCORRAL", os.path.join(TOP, "mailcorral"))
DRV = os.path.join(TOP, "testsuite/bench/milterdrv")
MIX = os.path.join(TOP, "testsuite/bench/corpus/mix")
N = int(os.environ.get("SOAK_MESSAGES", "200000"))
CONC = int(os.environ.get("SOAK_CONC", "16"))
IVAL = float(os.environ.get("SOAK_INTERVAL", "5"))
MAXSLOPE = float(os.environ.get("SOAK_MAX_SLOPE", "2"))
W = os.environ.get("SOAK_DIR", "/tmp/mc-faults/soak")

R = mctest.Results()


def check(ok, text):
    R.check(ok, "soak: " + text)


class LogCounter:
    """Counts decision lines (" action=") in the growing log file."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.n = 0
        self.rest = b""

    def count(self):
        data = self.rest + self.f.read()
        lines = data.split(b"\n")
        self.rest = lines.pop()
        self.n += sum(1 for l in lines if b" action=" in l)
        return self.n


def slope(points):
    """Least-squares slope of [(x, y)]."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def main():
    shutil.rmtree(W, ignore_errors=True)
    os.makedirs(os.path.join(W, "spool"))
    os.makedirs(os.path.join(W, "corral"), mode=0o700)
    conf = os.path.join(W, "mc.conf")
    with open(conf, "w") as f:
        f.write("allow_root = yes\nspool_dir = %s/spool\nbypass_key_file = %s/key\ncorral_dir = %s/corral\n"
                "attachment_action = delete\nspam_arbitron = builtin\n" % (W, W, W))
    sock = os.path.join(W, "mc.sock")
    log = os.path.join(W, "mc.log")
    logf = open(log, "ab")
    d = subprocess.Popen([MC, "-f", "-c", conf, "-p", "unix:" + sock], stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=logf)
    drv = None
    try:
        for _ in range(200):
            if os.path.exists(sock) or d.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(sock):
            check(False, "mailcorral did not start")
            return
        files = sorted(glob.glob(os.path.join(MIX, "*.eml")))
        fd0 = mctest.proc_fds(d.pid)
        counter = LogCounter(log)
        print("soak: %s, %d messages at c=%d over %d corpus files, sample every %.0f s"
              % (MC, N, CONC, len(files), IVAL), flush=True)
        t0 = time.monotonic()
        drv = subprocess.Popen([DRV, "-j", "-q", "-s", "unix:" + sock, "-c", str(CONC), "-n", str(N),
                                "-T", "60", "-p", str(d.pid)] + files,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples = []
        print("%8s %10s %10s %6s %8s" % ("t s", "messages", "RSS KiB", "fds", "threads"))
        while True:
            done = drv.poll() is not None
            s = (time.monotonic() - t0, counter.count(), mctest.proc_field(d.pid, "VmRSS"),
                 mctest.proc_fds(d.pid), mctest.proc_field(d.pid, "Threads"))
            samples.append(s)
            print("%8.1f %10d %10d %6d %8d" % s, flush=True)
            if done or d.poll() is not None:
                break
            end = time.monotonic() + IVAL
            while time.monotonic() < end and drv.poll() is None:
                time.sleep(0.2)
        out, err = drv.communicate()
        el = time.monotonic() - t0
        time.sleep(1.0)
        r = {}
        for kv in out.decode().split():
            k, _, v = kv.partition("=")
            r[k] = v
        fd1 = mctest.proc_fds(d.pid)
        answered = counter.count()
        print("soak: milterdrv: %s" % out.decode().strip())
        if err.strip():
            print("soak: milterdrv stderr: %s" % err.decode().strip()[:300])
        pts = [(m, rss / 1024.0) for _, m, rss, _, _ in samples if rss > 0]
        tail = [p for p in pts if p[0] >= 0.2 * N]
        if len(tail) >= 3:
            sl = slope(tail) * 100000
            check(sl <= MAXSLOPE, "RSS slope over the last 80%% (%d samples): %.3f MiB per 100,000 messages "
                  "(limit %.1f); RSS %.1f -> %.1f MiB, peak sample %.1f MiB"
                  % (len(tail), sl, MAXSLOPE, pts[0][1], pts[-1][1], max(y for _, y in pts)))
        else:
            check(False, "too few samples for a slope (%d): run longer (SOAK_MESSAGES)" % len(tail))
        check(r.get("errors") == "0" and r.get("messages") == str(N),
              "%s messages in %.0f s (%.0f msgs/s), %s errors, %d decision lines logged"
              % (r.get("messages"), el, N / el if el else 0, r.get("errors"), answered))
        check(0 <= fd1 <= fd0 + 2, "fd count start %d, end %d" % (fd0, fd1))
        spool = os.listdir(os.path.join(W, "spool"))
        check(d.poll() is None and not spool, "daemon alive at the end, spool dir empty (%d files)" % len(spool))
    finally:
        if drv is not None and drv.poll() is None:
            drv.kill()
            drv.wait()
        if d.poll() is None:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(15)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(130))
    try:
        main()
    except KeyboardInterrupt:
        check(False, "interrupted")
    print(R.line(), flush=True)
    sys.exit(R.rc())

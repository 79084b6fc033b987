#!/usr/bin/env python3
"""Fake spamd and clamd for the TSan load run (testsuite/tsan/tsan.sh).

  scanners.py SPAMD_PORT CLAMD_PORT [hang]

Reuses the fakes of the faults suite (testsuite/lib/fakes.py) and
cycles their modes on a 4 s schedule so that the daemon's shared state sees
every transition while the load runs: spamd answers ham or spam and, for
0.5 s in each cycle, garbage (the spamd failure path); clamd answers clean
or infected and, for 1.5 s in each cycle, ERROR, which opens the clamd
circuit breaker (clamd_max_failures 3, clamd_backoff 1s in tsan.sh) and lets
it close again.  With "hang", both fakes read and never answer (the stuck
scanner of testsuite/tsan/sigterm.sh).  Prints "ready" once both listen;
runs until SIGTERM/SIGINT.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from fakes import FakeClamd, FakeSpamd  # noqa: E402

# (seconds from the start of the cycle, spamd mode, clamd mode)
SCHEDULE = [(0.0, "ok", "ok"), (1.0, "spam", "virus"), (1.5, "random", "error"),
            (2.0, "ok", "error"), (3.0, "spam", "ok")]
CYCLE = 4.0

running = True


def stop(signum, frame):
    global running
    running = False


def main():
    spamd = FakeSpamd(int(sys.argv[1]))
    clamd = FakeClamd(int(sys.argv[2]))
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    hang = sys.argv[3:4] == ["hang"]
    if hang:
        spamd.mode = clamd.mode = "hang"
    print("ready", flush=True)
    t0 = time.monotonic()
    while running:
        t = (time.monotonic() - t0) % CYCLE
        for at, sm, cm in SCHEDULE:
            if t >= at and not hang:
                spamd.mode, clamd.mode = sm, cm
        time.sleep(0.05)
    spamd.close()
    clamd.close()
    print("spamd %d connections, clamd %d connections" % (spamd.conns, clamd.conns), flush=True)


if __name__ == "__main__":
    main()

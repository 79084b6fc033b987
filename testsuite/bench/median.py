#!/usr/bin/env python3
"""Folds several milterdrv -j lines (stdin, one run each) into one line.

Rates, latencies and CPU per message: the median of the runs; peak and
sampled RSS: the largest; counts (messages, errors, answers): the sum.  Adds
runs=N and, for msgs_per_s and cpu_ms_per_msg, <key>_min and <key>_max so
the spread stays visible.  A single line comes out as it went in, plus
runs=1.
"""
import statistics
import sys

SUM = {"messages", "errors", "connect_errors", "aborted", "accept", "continue",
       "reject", "tempfail", "discard"}
SPREAD = ("msgs_per_s", "cpu_ms_per_msg")


def fmt(v, like):
    """v with as many decimals as the driver's value like."""
    places = len(like.split(".", 1)[1]) if "." in like else 0
    return "%.*f" % (places, v)


def main():
    runs = []
    for line in sys.stdin:
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if kv:
            runs.append(kv)
    if not runs:
        sys.exit("median.py: no driver lines on stdin")
    out = []
    for key in runs[0]:
        vals = [r[key] for r in runs if key in r]
        try:
            nums = [float(v) for v in vals]
        except ValueError:
            out.append("%s=%s" % (key, vals[-1]))
            continue
        if key in SUM:
            v = sum(nums)
        elif key.startswith("rss_") or key == "peak_rss_kib":
            v = max(nums)
        else:
            v = statistics.median(nums)
        out.append("%s=%s" % (key, fmt(v, vals[0])))
        if key in SPREAD:
            out.append("%s_min=%s %s_max=%s" % (key, fmt(min(nums), vals[0]), key,
                                                fmt(max(nums), vals[0])))
    out.append("runs=%d" % len(runs))
    print(" ".join(out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""check-includes.py -- the daemon's sources include each other without a
cycle (issue 15: "the graph of includes ... has no cycle").

A unit is x.c with x.h (top level and spamcorral/); unit A depends on
unit B when a file of A has #include "b.h" (quoted includes only; system
headers are not ours).  A cycle means a lower module reaches up into one
that uses it, as corral.c and bypass.c once did, and conf.c with the
modules that read its snapshot.  Every cycle found is printed with the
includes that close it.

    python3 testsuite/check-includes.py [TOP]

Last line "N passed, N failed"; exit 1 on a cycle.  python3 stdlib only.
"""
import glob
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def graph(top):
    """{unit: {unit it includes: the include lines}}, units as paths
    relative to top without the extension."""
    files = [os.path.relpath(f, top) for pat in ("*.[ch]", "spamcorral/*.[ch]")
             for f in glob.glob(os.path.join(top, pat))]
    g = {}
    for f in sorted(files):
        unit = os.path.splitext(f)[0]
        g.setdefault(unit, {})
        with open(os.path.join(top, f), encoding="utf-8", errors="replace") as fp:
            text = fp.read()
        for m in INCLUDE.finditer(text):
            inc = m.group(1)
            near = os.path.normpath(os.path.join(os.path.dirname(f), inc))
            path = near if os.path.exists(os.path.join(top, near)) else inc
            if not os.path.exists(os.path.join(top, path)):
                continue
            dep = os.path.splitext(path)[0]
            if dep != unit:
                g[unit].setdefault(dep, []).append('%s: #include "%s"' % (f, inc))
    return g


def cycles(g):
    """The strongly connected components of g with more than one unit
    (Tarjan, iterative)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(g.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(g.get(w, ()))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def main(argv):
    top = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    g = graph(top)
    if len(g) < 10:
        print("FAIL include graph: only %d units under %s" % (len(g), top))
        print("0 passed, 1 failed")
        return 1
    found = cycles(g)
    for comp in found:
        print("FAIL include cycle: %s" % " <-> ".join(comp))
        for a in comp:
            for b in comp:
                for line in g[a].get(b, ()):
                    print("    %s" % line)
    if not found:
        print("PASS no include cycle among %d units" % len(g))
    print("%d passed, %d failed" % (0 if found else 1, 1 if found else 0))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

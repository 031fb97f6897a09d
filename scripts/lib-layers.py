#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""lib-layers.py: every include and call between lib/ files points down.

The layering is the table of docs/design.md, "Map of the code": each row
gives a level, a file of lib/ and what it holds. A file may include or call
only files of a lower level. Includes are read from the sources; calls from
the objects: each lib/*.c is compiled on its own (CC, CFLAGS from the
environment) and every undefined rcumap_* symbol is resolved to the file
that defines it.

  lib-layers.py [--print] SRCDIR

--print also prints the graph: one line per file, its level, and the files
it includes and calls. Exit 0 when every edge points down, 1 otherwise
(each offending edge is printed), 2 on a usage or build error.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile


def die(msg):
    print("check-layers: " + msg, file=sys.stderr)
    sys.exit(2)


def read_table(design):
    """{file: level} from the "Map of the code" table of docs/design.md."""
    levels = {}
    in_section = False
    with open(design, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                in_section = "Map of the code" in line
                continue
            if not in_section:
                continue
            m = re.match(r"\|\s*(\d+)\s*\|\s*`lib/([\w.]+)`\s*\|", line)
            if m:
                levels[m.group(2)] = int(m.group(1))
    if not levels:
        die(f"{design}: no table under a \"Map of the code\" heading")
    return levels


def includes(path):
    with open(path, encoding="utf-8") as f:
        return re.findall(r'^\s*#\s*include\s+"([\w.]+)"', f.read(), re.M)


def defined_and_used(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defs, uses = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            uses.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCV" and parts[1] != "U":
            defs.add(parts[2])
    return defs, uses


def main(argv):
    show = "--print" in argv
    args = [a for a in argv if a != "--print"]
    if len(args) != 1:
        die("usage: lib-layers.py [--print] SRCDIR")
    src = args[0]
    lib = os.path.join(src, "lib")
    levels = read_table(os.path.join(src, "docs", "design.md"))
    files = sorted(f for f in os.listdir(lib) if f.endswith((".c", ".h")))
    bad = []
    for f in files:
        if f not in levels:
            bad.append(f"lib/{f}: not in the table of docs/design.md, \"Map of the code\"")
    for f in levels:
        if f not in files:
            bad.append(f"docs/design.md, \"Map of the code\": lib/{f} does not exist")

    cc = shlex.split(os.environ.get("CC", "cc"))
    cflags = shlex.split(os.environ.get("CFLAGS", "-O1"))
    inc = ["-I" + os.path.join(src, "include"), "-I" + lib]
    edges = {f: {"include": sorted(set(includes(os.path.join(lib, f)))), "call": set()} for f in files}
    owner, used = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            if not f.endswith(".c"):
                continue
            obj = os.path.join(tmp, f + ".o")
            r = subprocess.run(cc + cflags + inc + ["-c", os.path.join(lib, f), "-o", obj],
                               capture_output=True, text=True)
            if r.returncode:
                sys.stderr.write(r.stderr)
                die(f"cannot compile lib/{f}")
            defs, uses = defined_and_used(obj)
            for d in defs:
                owner[d] = f
            used[f] = uses
    for f, uses in used.items():
        for u in uses:
            if u in owner and owner[u] != f:
                edges[f]["call"].add(owner[u])
    for f in files:
        for kind in ("include", "call"):
            for g in sorted(edges[f][kind]):
                if g not in levels or f not in levels:
                    continue
                if levels[g] >= levels[f]:
                    bad.append(f"lib/{f} (level {levels[f]}) {kind}s lib/{g} (level {levels[g]}): not below it")
    if show:
        for f in sorted(files, key=lambda x: (levels.get(x, 99), x)):
            inc_s = " ".join(edges[f]["include"]) or "-"
            call_s = " ".join(sorted(edges[f]["call"])) or "-"
            print(f"{levels.get(f, '?'):>2} {f:<11} includes: {inc_s:<40} calls: {call_s}")
    for b in bad:
        print("check-layers: " + b)
    n_inc = sum(len(e["include"]) for e in edges.values())
    n_call = sum(len(e["call"]) for e in edges.values())
    print(f"check-layers: {len(files)} files, {n_inc} include and {n_call} call edges, "
          f"{len(bad)} not pointing down")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

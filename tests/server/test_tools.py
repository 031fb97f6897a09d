# SPDX-License-Identifier: MIT
"""test_tools.py: real client tools against rcumapd.

Every check runs first against the real server (redis-server, memcached) as
the oracle for the tool's output format, then against rcumapd under every
flavor:
  redis-benchmark  exits 0, reports every test, and leaves data that adds
                   up (counter:* values sum to the INCRs it sent; every
                   key:* value is the 3-byte payload it sets)
  redis-cli --scan lists each loaded key exactly once, as many as DBSIZE;
                   --pattern lists exactly the matching ones
  redis-cli --bigkeys  exits 0, samples every key, finds the biggest
  memcslap         (its exit status is 0 even on errors) reports every key
                   done and prints no error
  memcaslap        every operation done, no miss, no failed verification
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import redis  # noqa: E402

BENCH_N = 20000
BENCH_R = 10000
SCAN_KEYS = 5000


def run(argv, timeout=120):
    """Run a tool; return (status, stdout, stderr), status -1 on timeout."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout * harness.SCALE)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        return -1, (e.stdout or b"").decode(errors="replace"), "timed out"


def tail(s, n=1500):
    return s if len(s) <= n else "..." + s[-n:]


def check_benchmark(port, label, results, payload):
    """payload: [value] every key:* must hold (3 bytes, the tool's own);
    empty: learn it here (the oracle run)."""
    rc, out, err = run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                        "-t", "ping,set,get,incr,mset", "-n", str(BENCH_N),
                        "-r", str(BENCH_R), "-P", "8", "-c", "10", "-e", "-q"])
    # -q output: one "NAME: N requests per second" line per test, after
    # \r-separated progress lines
    text = out.replace("\r", "\n")
    done = set(m.group(1) for m in re.finditer(r"^([A-Z_]+(?: \(10 keys\))?): [0-9.]+ requests"
                                                r" per second", text, re.M))
    want = {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"}
    # (it warns that -e has no effect: it always stops at the first error)
    errors = [ln for ln in (text + err).splitlines()
              if re.search(r"error|ERR", ln, re.I) and "-e option" not in ln]
    ok = rc == 0 and done == want and not errors
    results.append(("%s redis-benchmark: exit %d, tests reported %d/%d" % (
        label, rc, len(done & want), len(want)), ok,
        "" if ok else "missing %s; errors %s; output %s" % (
            sorted(want - done), errors[:5], tail(out + err))))

    # the data it left: every INCR counted once, every SET/MSET value intact
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60 * harness.SCALE)
    total, live, bad = 0, 0, []
    for prefix in (b"counter:", b"key:"):
        names = [prefix + b"%012d" % i for i in range(BENCH_R)]
        for i in range(0, len(names), 1000):
            for name, v in zip(names[i:i + 1000], r.mget(names[i:i + 1000])):
                if v is None:
                    continue
                live += 1
                if prefix == b"counter:":
                    total += int(v)
                else:
                    if not payload and len(v) == 3:
                        payload.append(v)
                    if not payload or v != payload[0]:
                        bad.append((name, v))
    dbsize = r.dbsize()
    r.close()
    ok = total == BENCH_N and not bad and live == dbsize
    results.append(("%s redis-benchmark data: INCR total %d (want %d), %d keys, DBSIZE %d,"
                    " values %r" % (label, total, BENCH_N, live, dbsize, payload), ok,
                    "" if ok else "bad values: %r" % bad[:5]))


def check_cli(port, label, results):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60 * harness.SCALE)
    r.flushdb()
    names = ["scan:%05d" % i for i in range(SCAN_KEYS)]
    pipe = r.pipeline(transaction=False)
    for i in range(0, SCAN_KEYS, 100):
        pipe.mset({n: n[::-1] for n in names[i:i + 100]})
    pipe.set("scan:big", "b" * 1000)
    pipe.execute()
    names.append("scan:big")
    dbsize = r.dbsize()
    r.close()

    rc, out, err = run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--scan"])
    got = out.split()
    dups = len(got) - len(set(got))
    ok = rc == 0 and dups == 0 and set(got) == set(names) and len(got) == dbsize
    results.append(("%s redis-cli --scan: exit %d, %d keys listed, %d duplicates, DBSIZE %d,"
                    " %d loaded" % (label, rc, len(got), dups, dbsize, len(names)), ok,
                    "" if ok else "missing %r extra %r %s" % (
                        sorted(set(names) - set(got))[:5], sorted(set(got) - set(names))[:5],
                        tail(err))))

    rc, out, err = run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--scan",
                        "--pattern", "scan:01*"])
    got = out.split()
    want = [n for n in names if n.startswith("scan:01")]
    ok = rc == 0 and sorted(got) == sorted(want)
    results.append(("%s redis-cli --scan --pattern 'scan:01*': %d keys (want %d)"
                    % (label, len(got), len(want)), ok, "" if ok else tail(out + err)))

    rc, out, err = run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--bigkeys"])
    m = re.search(r"Sampled (\d+) keys", out)
    sampled = int(m.group(1)) if m else -1
    big = re.search(r"Biggest string found '\"scan:big\"' has 1000 bytes", out)
    ok = rc == 0 and sampled == len(names) and big is not None
    results.append(("%s redis-cli --bigkeys: exit %d, sampled %d (want %d), biggest found: %s"
                    % (label, rc, sampled, len(names), "yes" if big else "no"), ok,
                    "" if ok else tail(out + err)))


def check_memcslap(port, label, results):
    conc, n = 4, 2000
    # no --test: the default (it sets); get and mget load the keys first
    for test, lines in ((None, [("set", conc * n)]),
                        ("get", [("set", n), ("get", conc * n)]),
                        ("mget", [("set", n), ("mget", conc * n)])):
        rc, out, err = run(["memcslap", "-s", "127.0.0.1:%d" % port,
                            "--concurrency=%d" % conc, "--execute-number=%d" % n]
                           + (["--test=%s" % test] if test else []))
        counts = {}
        for m in re.finditer(r"^Time to (\w+)\s+(\d+) keys", out, re.M):
            counts[m.group(1)] = int(m.group(2))
        ok = rc == 0 and all(counts.get(op) == want for op, want in lines) \
            and not re.search(r"error|fail", out + err, re.I)
        results.append(("%s memcslap%s: exit %d, %s" % (
            label, " --test=" + test if test else "", rc, ", ".join("%s %s/%d" % (op, counts.get(op), want)
                                      for op, want in lines)), ok,
            "" if ok else tail(out + err)))


def check_memcaslap(port, label, results):
    n = 20000
    rc, out, err = run(["memcaslap", "-s", "127.0.0.1:%d" % port, "-x", str(n),
                        "-T", "2", "-c", "16", "-v", "0.1"])
    st = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+): (\d+)$", out, re.M)}
    gets, sets = st.get("cmd_get", -1), st.get("cmd_set", -1)
    ok = (rc == 0 and gets + sets == n and gets > 0 and sets > 0
          and st.get("get_misses") == 0 and st.get("verify_misses") == 0
          and st.get("verify_failed") == 0 and not re.search(r"error|fail ", err, re.I))
    results.append(("%s memcaslap -x %d: exit %d, cmd_get %d, cmd_set %d, get_misses %s, "
                    "verify_failed %s" % (label, n, rc, gets, sets, st.get("get_misses"),
                                          st.get("verify_failed")), ok,
                    "" if ok else tail(out + err)))


def main():
    results = []
    with harness.RedisServer() as ref:
        payload = []
        check_benchmark(ref.port, "redis-server (oracle)", results, payload)
        check_cli(ref.port, "redis-server (oracle)", results)
    with harness.Memcached() as ref:
        check_memcslap(ref.port, "memcached (oracle)", results)
        check_memcaslap(ref.port, "memcached (oracle)", results)

    def each(srv, flavor):
        check_benchmark(srv.resp_port, flavor, results, payload)
        check_cli(srv.resp_port, flavor, results)
        check_memcslap(srv.mc_port, flavor, results)
        check_memcaslap(srv.mc_port, flavor, results)

    harness.for_each_flavor(results, each)
    harness.report(results)


if __name__ == "__main__":
    main()

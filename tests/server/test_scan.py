# SPDX-License-Identifier: MIT
"""test_scan.py: one full SCAN over the wire sees every stable key exactly once while the table resizes.

While one client walks the keyspace with SCAN COUNT 10 (over several
connections, so different workers serve the calls), two loader clients add
and then delete waves of other keys, so the table grows and shrinks many
times during the walk. The walk and the waves run in lockstep: the walk
allows one half-wave at a time, and after every sixteenth of the stable keys
waits for the current one to finish before allowing the next, so resizes
land inside the walk however fast either side runs (free-running loaders
would starve the walk on a small machine).
rcumapd must report 0 duplicates and 0 missing stable keys under every
flavor; redis-server 7.0.15 gets the same run, and its counts are reported
for comparison only.
"""
import os
import sys
import multiprocessing as mp
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from common_b import Resp, Results, enc, info, info_int, scaled  # noqa: E402

import redis  # noqa: E402  (Debian python3-redis: /usr/bin/python3 only)

STABLE = scaled(20000, 1000)
WAVE = scaled(100000, 20000)      # wave keys over all loaders
LOADERS = 2
SEGMENTS = 16                     # half-waves run inside the walk
SCAN_CONNS = 3
CHUNK = 5000                      # pipeline depth of the loaders


def load_stable(port):
    c = Resp(port)
    for i in range(0, STABLE, CHUNK):
        n = min(CHUNK, STABLE - i)
        c.blast(b"".join(enc("SET", "s:%07d" % j, "v%d" % j) for j in range(i, i + n)),
                b"+OK\r\n" * n)
    c.close()


def _loader_main(port, idx, ready, allowed, counter, stop, errq):
    """Child process: add its share of a wave, delete it, ... as allowed, until stop."""
    try:
        conn = Resp(port, timeout=60)
        n = WAVE // LOADERS
        keys = ["w%d:%07d" % (idx, i) for i in range(n)]
        adds = [b"".join(enc("SET", k, "x") for k in keys[i:i + CHUNK])
                for i in range(0, n, CHUNK)]
        dels = [b"".join(enc("DEL", k) for k in keys[i:i + CHUNK])
                for i in range(0, n, CHUNK)]
        sizes = [min(CHUNK, n - i) for i in range(0, n, CHUNK)]
        ready.set()
        while not stop.is_set():
            if counter.value >= allowed.value:
                time.sleep(0.001)
                continue
            if counter.value % 2 == 0:
                for blob, k in zip(adds, sizes):
                    conn.blast(blob, b"+OK\r\n" * k)
            else:
                for blob, k in zip(dels, sizes):
                    conn.blast(blob, b":1\r\n" * k)
            counter.value += 1
        conn.close()
    except Exception as e:  # noqa: BLE001
        errq.put("loader %d: %r" % (idx, e))
        ready.set()


class Loader:
    """A loader process; its connection is opened in the child, in start order."""

    def __init__(self, port, idx, allowed):
        self.ready = mp.Event()
        self.counter = mp.Value("q", 0, lock=False)
        self.stop_ev = mp.Event()
        self.errq = mp.Queue()
        self.proc = mp.Process(target=_loader_main, daemon=True,
                               args=(port, idx, self.ready, allowed, self.counter, self.stop_ev,
                                     self.errq))
        self.proc.start()
        self.ready.wait(60)
        self._error = None

    @property
    def half_waves(self):
        return self.counter.value

    @property
    def error(self):
        if self._error is None and not self.errq.empty():
            self._error = self.errq.get()
        return self._error

    def finish(self):
        self.stop_ev.set()
        self.proc.join(120 * harness.SCALE)
        if self.proc.is_alive():
            self.proc.kill()
            self._error = self.error or "loader did not stop"


def scan_call(client, cursor):
    r = client.execute_command("SCAN", cursor, "COUNT", 10)
    cur, keys = r[0], r[1]
    return int(cur), keys


def run_scan(port, is_rcumapd, label, res):
    """One walk under waves; returns (dups, missing, grows, shrinks, calls)."""
    load_stable(port)
    allowed = mp.Value("q", 0, lock=False)
    loaders = [Loader(port, i, allowed) for i in range(LOADERS)]
    # Opened after the loaders: consecutive connections go to different workers.
    clients = []
    for _ in range(SCAN_CONNS):
        cl = redis.Redis(host="127.0.0.1", port=port, single_connection_client=True,
                         socket_timeout=60)
        cl.ping()
        clients.append(cl)
    allowed.value = 1

    def phase():
        return min(ld.half_waves for ld in loaders)

    def wait_phase(target):
        deadline = time.time() + 120 * harness.SCALE
        while phase() < target:
            if any(ld.error for ld in loaders) or time.time() > deadline:
                return False
            time.sleep(0.002)
        return True

    # Start the walk while the first wave is being added.
    time.sleep(0.05)
    before = info(port)
    seen = {}
    cursor, calls, stable_seen, next_mark = 0, 0, 0, 1
    target = 1
    t0 = time.time()
    while True:
        cursor, keys = scan_call(clients[calls % SCAN_CONNS], cursor)
        calls += 1
        for k in keys:
            if k.startswith(b"s:"):
                seen[k] = seen.get(k, 0) + 1
                if seen[k] == 1:
                    stable_seen += 1
        if cursor == 0:
            break
        if next_mark < SEGMENTS and stable_seen >= next_mark * STABLE // SEGMENTS:
            next_mark += 1
            if not wait_phase(target):
                break
            target += 1
            allowed.value = target
    walk_s = time.time() - t0
    after = info(port)
    for ld in loaders:
        ld.finish()
    for cl in clients:
        cl.close()

    dups = sum(n - 1 for n in seen.values() if n > 1)
    missing = STABLE - len(seen)
    errors = [ld.error for ld in loaders if ld.error]
    grows = shrinks = None
    if is_rcumapd:
        g0, g1 = info_int(before, "rcumap_grows"), info_int(after, "rcumap_grows")
        s0, s1 = info_int(before, "rcumap_shrinks"), info_int(after, "rcumap_shrinks")
        if None not in (g0, g1, s0, s1):
            grows, shrinks = g1 - g0, s1 - s0
    print("  %s: %d SCAN calls in %.2f s, %d half-waves of %d keys, stable %d: "
          "duplicates %d, missing %d, grows %s, shrinks %s"
          % (label, calls, walk_s, phase(), WAVE, STABLE, dups, missing, grows, shrinks),
          flush=True)
    res.check("%s loaders ran without error" % label, not errors, "; ".join(errors))
    return dups, missing, grows, shrinks


def main():
    res = Results()
    for flavor in harness.FLAVORS:
        srv = harness.Rcumapd(flavor=flavor, threads=2)
        label = "rcumapd %s" % flavor
        try:
            dups, missing, grows, shrinks = run_scan(srv.resp_port, True, label, res)
            res.check("%s: table resized during the SCAN" % label,
                      grows is not None and grows >= 2 and shrinks >= 2,
                      "grows %s, shrinks %s during the walk (need >= 2 each; "
                      "if 0: did not resize)" % (grows, shrinks))
            res.check("%s: SCAN duplicates == 0" % label, dups == 0, "%d duplicates" % dups)
            res.check("%s: SCAN missing == 0" % label, missing == 0, "%d missing" % missing)
            res.check("%s: alive after" % label, srv.alive())
        except Exception as e:  # noqa: BLE001
            res.check("%s: run" % label, False, repr(e))
        res.stop("%s: stop_clean" % label, srv)

    # The reference: same run against redis-server, reported only.
    try:
        rs = harness.RedisServer()
        try:
            dups, missing, _, _ = run_scan(rs.port, False, "redis-server", res)
            print("  redis-server 7.0.15 (reference, not asserted): duplicates %d, missing %d"
                  % (dups, missing), flush=True)
        finally:
            rs.stop()
    except Exception as e:  # noqa: BLE001
        print("  redis-server reference run failed: %r (not asserted)" % e, flush=True)
    res.report()


if __name__ == "__main__":
    main()

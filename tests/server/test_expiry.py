# SPDX-License-Identifier: MIT
"""test_expiry.py: TTLs, the active expiry sweeper, and eviction under --maxmemory.

- SET PX 200 reads back at once and is gone (GET nil) after ~300 ms.
- The sweeper alone (nobody reads the keys) brings DBSIZE back down within
  a bounded time (rcumapd runs with a high --expire-rate).
- memcached exptime: relative seconds, negative (already expired),
  absolute unix time; RESP TTL sees a memcached exptime.
- A SET racing the sweeper is never lost: keys set with tiny TTLs are
  re-SET without TTL by another client (on another worker) around their
  expiry; afterwards every one of them holds the re-SET value.
- Eviction: --maxmemory 64 MiB, 250 MB of 1-4 KB values written over three
  connections while a small hot set is read all the time. RSS (INFO
  used_memory_rss and /proc VmRSS) stays under maxmemory * 1.1 at every
  sample, evicted_keys > 0, the server answers, and the hot keys survive
  far more than the cold ones.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from common_b import (SIZE, Mc, Resp, Results, binary_is_sanitized, enc, info, info_int,  # noqa: E402
                      ping_ok, scaled, vmrss, wait_until)

EXPIRE_RATE = "1000000"
SWEEP_KEYS = scaled(20000, 1000)
RACE_KEYS = scaled(20000, 1000)
MAXMEMORY = 64 * 1024 * 1024
WRITE_BYTES = int(max(210e6, 250e6 * SIZE))     # always > 3x maxmemory
HOT = 200


def lazy_expiry(srv, res, label):
    c = Resp(srv.resp_port)
    r1 = c.cmd("SET", "px", "v", "PX", 200)
    r2 = c.cmd("GET", "px")
    pttl = c.cmd("PTTL", "px")
    time.sleep(0.3)
    r3 = c.cmd("GET", "px")
    r4 = c.cmd("EXISTS", "px")
    res.check("%s: SET PX 200 readable at once" % label, r1 == b"OK" and r2 == b"v"
              and isinstance(pttl, int) and 0 < pttl <= 200,
              "SET %r GET %r PTTL %r" % (r1, r2, pttl))
    res.check("%s: SET PX 200 gone after 300 ms" % label, r3 is None and r4 == 0,
              "GET %r EXISTS %r" % (r3, r4))
    c.close()


def active_sweep(srv, res, label):
    c = Resp(srv.resp_port, timeout=60)
    c.cmd("FLUSHALL")
    keep = 100
    exp0 = info_int(info(srv.resp_port), "expired_keys", 0)
    for i in range(keep):
        c.cmd("SET", "keep:%d" % i, "k")
    for i in range(0, SWEEP_KEYS, 5000):
        n = min(5000, SWEEP_KEYS - i)
        c.blast(b"".join(enc("SET", "sw:%d" % j, "x", "PX", 300) for j in range(i, i + n)),
                b"+OK\r\n" * n)
    t0 = time.time()
    before = c.cmd("DBSIZE")
    left = wait_until(lambda: c.cmd("DBSIZE") == keep, 5.0, 0.05)
    took = time.time() - t0
    after = c.cmd("DBSIZE")
    exp1 = info_int(info(srv.resp_port), "expired_keys", 0)
    print("  %s: DBSIZE %r right after, %r after %.2f s; expired_keys %d before the SETs, %d after"
          % (label, before, after, took, exp0, exp1), flush=True)
    res.check("%s: the sweeper removes expired keys nobody reads (DBSIZE %d -> %d within 5 s)"
              % (label, SWEEP_KEYS + keep, keep), before >= keep and left and after == keep,
              "DBSIZE %r at start, %r after %.2f s" % (before, after, took))
    res.check("%s: expired_keys counts the sweeper's work" % label,
              exp1 - exp0 >= SWEEP_KEYS * 0.99, "expired_keys rose by %d" % (exp1 - exp0))
    kept = c.pipeline([("GET", "keep:%d" % i) for i in range(keep)])
    res.check("%s: keys without TTL survive the sweep" % label, kept == [b"k"] * keep,
              "%d of %d" % (kept.count(b"k"), keep))
    c.close()


def mc_exptime(srv, res, label):
    m = Mc(srv.mc_port)
    r = Resp(srv.resp_port)
    now = int(time.time())
    s1 = m.cmd(b"set e_rel 0 1 1", b"a")
    s2 = m.cmd(b"set e_neg 0 -1 1", b"b")
    s3 = m.cmd(b"set e_abs 0 %d 1" % (now + 2), b"c")
    s4 = m.cmd(b"set e_long 0 100 1", b"d")
    g0 = m.get_values(b"get e_rel e_neg e_abs e_long")
    ttl = r.cmd("TTL", "e_long")
    res.check("%s: memcached set with exptime stored" % label,
              [s1, s2, s3, s4] == [b"STORED"] * 4, "%r" % ([s1, s2, s3, s4],))
    res.check("%s: memcached negative exptime: expired at once" % label, b"e_neg" not in g0,
              "get saw %r" % sorted(g0))
    res.check("%s: memcached exptime 1 / absolute readable at once" % label,
              b"e_rel" in g0 and b"e_abs" in g0 and b"e_long" in g0, "get saw %r" % sorted(g0))
    res.check("%s: RESP TTL of memcached exptime 100" % label,
              isinstance(ttl, int) and 98 <= ttl <= 100, "TTL %r" % (ttl,))
    # exptime 1 means within 1-2 s (memcached's clock ticks in seconds); now+2 likewise.
    time.sleep(max(0.0, now + 3.2 - time.time()))
    g1 = m.get_values(b"get e_rel e_abs e_long")
    res.check("%s: memcached relative and absolute exptime expire" % label,
              sorted(g1) == [b"e_long"], "after 3 s get saw %r" % sorted(g1))
    m.close()
    r.close()


def sweeper_race(srv, res, label):
    a = Resp(srv.resp_port, timeout=60)     # worker k
    b = Resp(srv.resp_port, timeout=60)     # worker k+1
    batch = 1000
    for i in range(0, RACE_KEYS, batch):
        n = min(batch, RACE_KEYS - i)
        ks = range(i, i + n)
        # TTLs of 1..8 ms: some expire before the re-SET arrives, some after.
        a.blast(b"".join(enc("SET", "race:%d" % j, "old", "PX", 1 + j % 8) for j in ks),
                b"+OK\r\n" * n)
        b.blast(b"".join(enc("SET", "race:%d" % j, "new") for j in ks), b"+OK\r\n" * n)
    time.sleep(0.1)
    got = a.pipeline([("GET", "race:%d" % j) for j in range(RACE_KEYS)])
    lost = sum(1 for g in got if g != b"new")
    ttls = a.pipeline([("PTTL", "race:%d" % j) for j in range(0, RACE_KEYS, 97)])
    with_ttl = sum(1 for t in ttls if t != -1)
    print("  %s: %d keys re-SET around their expiry: %d lost or wrong, %d sampled with a TTL"
          % (label, RACE_KEYS, lost, with_ttl), flush=True)
    res.check("%s: a SET racing expiry is never lost" % label, lost == 0 and with_ttl == 0,
              "%d of %d keys lost or wrong (first %r); %d re-SET keys kept a TTL"
              % (lost, RACE_KEYS, next((g for g in got if g != b"new"), None), with_ttl))
    a.close()
    b.close()


def expiry_flavor(flavor, res):
    label = "rcumapd %s" % flavor
    srv = harness.Rcumapd(flavor=flavor, threads=2, args=["--expire-rate", EXPIRE_RATE])
    try:
        lazy_expiry(srv, res, label)
        active_sweep(srv, res, label)
        sweeper_race(srv, res, label)
        mc_exptime(srv, res, label)
        res.check("%s: answers after expiry tests" % label, ping_ok(srv.resp_port))
    except Exception as e:  # noqa: BLE001
        res.check("%s: expiry run" % label, False, repr(e))
    res.stop("%s: stop_clean (expiry)" % label, srv)


def eviction_flavor(flavor, res):
    label = "rcumapd %s maxmemory" % flavor
    srv = harness.Rcumapd(flavor=flavor, threads=2, args=["--maxmemory", str(MAXMEMORY)])
    sanitized = binary_is_sanitized(srv.argv[len(harness.WRAP)])
    try:
        inf = info(srv.resp_port)
        res.check("%s: INFO maxmemory" % label, info_int(inf, "maxmemory") == MAXMEMORY,
                  "maxmemory:%s" % inf.get("maxmemory"))
        c = Resp(srv.resp_port, timeout=60)
        hot_val = b"h" * 1024
        c.blast(b"".join(enc("SET", "hot:%d" % i, hot_val) for i in range(HOT)),
                b"+OK\r\n" * HOT)
        done = threading.Event()
        samples = []          # (source, bytes)
        errors = []
        hot_reads = [0]

        def sampler():
            mon = Resp(srv.resp_port, timeout=60)
            n = 0
            while not done.is_set():
                samples.append(("VmRSS", vmrss(srv.pid)))
                if n % 4 == 0:
                    text = mon.cmd("INFO", "memory")
                    for line in text.split(b"\r\n"):
                        if line.startswith(b"used_memory_rss:"):
                            samples.append(("used_memory_rss", int(line.split(b":")[1])))
                n += 1
                time.sleep(0.05)
            mon.close()

        def hot_reader():
            h = Resp(srv.resp_port, timeout=60)
            blob = b"".join(enc("GET", "hot:%d" % i) for i in range(HOT))
            while not done.is_set():
                h.send(blob)
                for _ in range(HOT):
                    h.reply()
                hot_reads[0] += 1
                time.sleep(0.005)
            h.close()

        writers = 3
        per_writer = WRITE_BYTES // writers
        cold_keys = []
        lock = threading.Lock()

        def writer(w):
            try:
                cw = Resp(srv.resp_port, timeout=60)
                base = os.urandom(4096)
                written, i, batch = 0, 0, []
                while written < per_writer:
                    size = 1024 + (i * 797) % 3073
                    key = "cold:%d:%d" % (w, i)
                    batch.append(enc("SET", key, base[:size]))
                    written += size
                    i += 1
                    if len(batch) == 200 or written >= per_writer:
                        cw.send(b"".join(batch))
                        for _ in batch:
                            r = cw.reply()
                            if r != b"OK":
                                raise ValueError("SET reply %r" % (r,))
                        batch = []
                with lock:
                    cold_keys.extend("cold:%d:%d" % (w, j) for j in range(i))
                cw.close()
            except Exception as e:  # noqa: BLE001
                errors.append("writer %d: %r" % (w, e))

        ths = [threading.Thread(target=sampler), threading.Thread(target=hot_reader)]
        for t in ths:
            t.start()
        t0 = time.time()
        wts = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
        for t in wts:
            t.start()
        for t in wts:
            t.join()
        load_s = time.time() - t0
        time.sleep(1.0)        # samples after the load, too
        done.set()
        for t in ths:
            t.join()
        res.check("%s: writers got OK for every SET (eviction makes room)" % label, not errors,
                  "; ".join(errors))
        inf = info(srv.resp_port)
        evicted = info_int(inf, "evicted_keys", 0)
        limit = MAXMEMORY * 1.1
        peak = max((s[1] for s in samples), default=0)
        peak_src = max(samples, key=lambda s: s[1])[0] if samples else "-"
        over = [s for s in samples if s[1] > limit]
        print("  %s: wrote %.0f MB in %.2f s, %d samples, peak RSS %.1f MiB (%s), "
              "limit %.1f MiB, used_memory %s, evicted_keys %d, hot read rounds %d"
              % (label, WRITE_BYTES / 1e6, load_s, len(samples), peak / 2**20, peak_src,
                 limit / 2**20, inf.get("used_memory"), evicted, hot_reads[0]), flush=True)
        if sanitized:
            res.check("%s: RSS bound (not checked under ASan/valgrind)" % label, True,
                      "peak %.1f MiB" % (peak / 2**20))
        else:
            res.check("%s: RSS <= maxmemory * 1.1 at every sample" % label, not over,
                      "%d of %d samples over %.1f MiB, peak %.1f MiB (%s)"
                      % (len(over), len(samples), limit / 2**20, peak / 2**20, peak_src))
        res.check("%s: evicted_keys > 0" % label, evicted > 0, "evicted_keys %d" % evicted)
        res.check("%s: still answers after the load" % label, ping_ok(srv.resp_port))
        hot_left = sum(c.pipeline([("EXISTS", "hot:%d" % i) for i in range(HOT)]))
        cold_left = sum(c.pipeline([("EXISTS", k) for k in cold_keys], depth=5000))
        hot_pct = 100.0 * hot_left / HOT
        cold_pct = 100.0 * cold_left / max(1, len(cold_keys))
        print("  %s: hot survival %.1f%% (%d/%d), cold survival %.1f%% (%d/%d)"
              % (label, hot_pct, hot_left, HOT, cold_pct, cold_left, len(cold_keys)),
              flush=True)
        res.check("%s: eviction prefers cold keys" % label,
                  hot_pct >= 80 and hot_pct > cold_pct + 30,
                  "hot %.1f%%, cold %.1f%% (need hot >= 80%% and > cold + 30)"
                  % (hot_pct, cold_pct))
        c.close()
    except Exception as e:  # noqa: BLE001
        res.check("%s: eviction run" % label, False, repr(e))
    res.stop("%s: stop_clean (eviction)" % label, srv)


def main():
    res = Results()
    for flavor in harness.FLAVORS:
        expiry_flavor(flavor, res)
        eviction_flavor(flavor, res)
    res.report()


if __name__ == "__main__":
    main()

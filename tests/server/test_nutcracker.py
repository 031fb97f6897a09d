# SPDX-License-Identifier: MIT
"""test_nutcracker.py: rcumapd behind nutcracker (twemproxy 0.5.0).

Two servers sit behind one nutcracker: a RESP pool (fnv1a_64, ketama) over
their RESP ports, and a memcached pool over their memcached ports. The same
checks run first with redis-server/memcached as the backends (the oracle
that the checks and the proxy set-up are right), then with two rcumapd
(flavor qsbr only: the proxy tests the protocol, not the flavors):
  redis-benchmark through the proxy exits 0 and reports SET and GET;
  known keys written through the proxy land on both backends, each key on
  exactly one, and the DBSIZEs add up; MGET and multi-key DEL through the
  proxy (which splits them per backend) return the right values;
  memcached get_many through the proxy returns what was set.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import redis  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402

NKEYS = 2000
# Debian installs it in /usr/sbin, which a user's PATH may lack
NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"


def key_names(prefix, n):
    """Varied key names: nutcracker's fnv1a_64 of names that differ in one
    digit can fall in one arc of the ketama circle (all on one backend)."""
    return [b"%s:%s" % (prefix, hashlib.sha1(b"%d" % i).hexdigest()[:16].encode())
            for i in range(n)]


class Nutcracker(harness.Proc):
    """nutcracker with a RESP pool over resp_backends and a memcached pool
    over mc_backends (lists of ports), on free ports."""

    def __init__(self, resp_backends, mc_backends):
        self.dir = tempfile.mkdtemp(prefix="nutcracker-")
        self.resp_port = harness.free_port()
        self.mc_port = harness.free_port()
        self.stats_port = harness.free_port()
        conf = os.path.join(self.dir, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write(self._pool("resp", self.resp_port, True, resp_backends))
            f.write(self._pool("mc", self.mc_port, False, mc_backends))
        argv = [NUTCRACKER, "-c", conf, "-p", os.path.join(self.dir, "pid"),
                "-o", os.path.join(self.dir, "nutcracker.log"),
                "-s", str(self.stats_port), "-a", "127.0.0.1"]
        super().__init__(argv, [self.resp_port, self.mc_port], "nutcracker")

    @staticmethod
    def _pool(name, port, is_redis, backends):
        lines = ["%s:" % name,
                 "  listen: 127.0.0.1:%d" % port,
                 "  hash: fnv1a_64",
                 "  distribution: ketama",
                 "  redis: %s" % ("true" if is_redis else "false"),
                 "  auto_eject_hosts: false",
                 "  timeout: %d" % int(10000 * harness.SCALE),
                 "  servers:"]
        lines += ["   - 127.0.0.1:%d:1" % p for p in backends]
        return "\n".join(lines) + "\n"

    def proxy_log(self):
        try:
            with open(os.path.join(self.dir, "nutcracker.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self):
        """nutcracker is a peer: end it, whatever its exit status."""
        try:
            self.stop(signal.SIGTERM, timeout=5)
        except RuntimeError:
            pass


def check_all(label, backends_resp, backends_mc, results):
    nc = Nutcracker(backends_resp, backends_mc)
    try:
        _checks(label, nc, backends_resp, backends_mc, results)
    except Exception as e:
        results.append(("%s run" % label, False, "%s: %s\nnutcracker log tail:\n%s" % (
            type(e).__name__, e, nc.proxy_log()[-2000:])))
    finally:
        nc.kill()


def _checks(label, nc, backends_resp, backends_mc, results):
    direct = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=30 * harness.SCALE)
              for p in backends_resp]
    proxy = redis.Redis(host="127.0.0.1", port=nc.resp_port,
                        socket_timeout=30 * harness.SCALE)
    for d in direct:
        d.flushdb()

    # known keys through the proxy
    names = key_names(b"nc", NKEYS)
    pipe = proxy.pipeline(transaction=False)
    for n in names:
        pipe.set(n, b"v-" + n)
    replies = pipe.execute()
    ok = replies == [True] * NKEYS
    results.append(("%s: %d SETs through the proxy" % (label, NKEYS), ok,
                    "" if ok else "replies %r" % sorted(set(map(repr, replies)))[:5]))

    sizes = [d.dbsize() for d in direct]
    ok = all(s > 0 for s in sizes) and sum(sizes) == NKEYS
    results.append(("%s: backend DBSIZEs %s, sum %d (want %d, each > 0)"
                    % (label, sizes, sum(sizes), NKEYS), ok, ""))

    where = [0] * NKEYS
    for d in direct:
        pipe = d.pipeline(transaction=False)
        for n in names:
            pipe.exists(n)
        for i, e in enumerate(pipe.execute()):
            where[i] += e
    bad = [names[i] for i, w in enumerate(where) if w != 1]
    results.append(("%s: every key on exactly one backend" % label, not bad,
                    "" if not bad else "%d keys not: %r" % (len(bad), bad[:5])))

    wrong = 0
    for i in range(0, NKEYS, 100):
        chunk = names[i:i + 100] + [b"nc:absent:%d" % i]
        got = proxy.mget(chunk)
        want = [b"v-" + n for n in names[i:i + 100]] + [None]
        wrong += sum(1 for g, w in zip(got, want) if g != w) + abs(len(got) - len(want))
    results.append(("%s: MGET through the proxy, %d keys in chunks of 101, %d wrong"
                    % (label, NKEYS, wrong), wrong == 0, ""))

    deleted = proxy.delete(*(names[:50] + [b"nc:absent"]))
    left = sum(d.dbsize() for d in direct)
    ok = deleted == 50 and left == NKEYS - 50
    results.append(("%s: multi-key DEL through the proxy: %d deleted (want 50), %d left (want %d)"
                    % (label, deleted, left, NKEYS - 50), ok, ""))
    proxy.close()

    # redis-benchmark through the proxy (it warns when CONFIG fails there)
    try:
        p = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(nc.resp_port),
                            "-t", "set,get", "-n", "10000", "-r", "5000", "-e", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=120 * harness.SCALE)
        rc, out = p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, out = -1, (e.stdout or b"").decode(errors="replace") + " (timed out)"
    text = out.replace("\r", "\n")
    done = set(re.findall(r"^(SET|GET): [0-9.]+ requests per second", text, re.M))
    errors = [ln for ln in text.splitlines()
              if re.search(r"error", ln, re.I) and "-e option" not in ln]
    ok = rc == 0 and done == {"SET", "GET"} and not errors
    results.append(("%s: redis-benchmark -t set,get through the proxy: exit %d, reported %s"
                    % (label, rc, sorted(done)), ok,
                    "" if ok else "errors %r; output %s" % (errors[:5], text[-1500:])))
    # what it wrote adds up: its keys (read back through the proxy) plus the
    # known keys left are what the backends hold
    proxy = redis.Redis(host="127.0.0.1", port=nc.resp_port,
                        socket_timeout=30 * harness.SCALE)
    found, badv = 0, 0
    bnames = [b"key:%012d" % i for i in range(5000)]
    for i in range(0, len(bnames), 500):
        for v in proxy.mget(bnames[i:i + 500]):
            if v is not None:
                found += 1
                badv += len(v) != 3
    proxy.close()
    sizes = [d.dbsize() for d in direct]
    ok = found > 0 and badv == 0 and sum(sizes) == NKEYS - 50 + found
    results.append(("%s: after the benchmark: backends hold %s, sum %d (want %d + %d of its keys)"
                    % (label, sizes, sum(sizes), NKEYS - 50, found), ok,
                    "" if ok else "%d values not 3 bytes" % badv))
    for d in direct:
        d.close()

    # the memcached pool
    c = Client(("127.0.0.1", nc.mc_port), default_noreply=False,
               connect_timeout=10 * harness.SCALE, timeout=30 * harness.SCALE)
    mnames = key_names(b"ncm", 200)
    stored = sum(1 for n in mnames if c.set(n, b"m-" + n) is True)
    got = {}
    for i in range(0, len(mnames), 50):
        got.update(c.get_many(mnames[i:i + 50] + [b"ncm:absent"]))
    want = {n: b"m-" + n for n in mnames}
    c.close()
    per = []
    for p in backends_mc:
        d = Client(("127.0.0.1", p), default_noreply=False, timeout=30 * harness.SCALE)
        per.append(sum(1 for v in d.get_many(mnames).values() if v is not None))
        d.close()
    ok = stored == len(mnames) and got == want and sum(per) == len(mnames) \
        and all(x > 0 for x in per)
    results.append(("%s: memcached pool: %d stored, get_many right: %s, per backend %s"
                    % (label, stored, got == want, per), ok, ""))


def main():
    results = []
    with harness.RedisServer() as r1, harness.RedisServer() as r2, \
            harness.Memcached() as m1, harness.Memcached() as m2:
        check_all("redis-server/memcached backends (oracle)", [r1.port, r2.port],
                  [m1.port, m2.port], results)
    flavor = harness.FLAVORS[0] if harness.FLAVORS else "qsbr"
    if "qsbr" in harness.FLAVORS:
        flavor = "qsbr"
    servers = []
    try:
        servers = [harness.Rcumapd(flavor=flavor, threads=2) for _ in range(2)]
        check_all("rcumapd (%s) backends" % flavor, [s.resp_port for s in servers],
                  [s.mc_port for s in servers], results)
    except Exception as e:
        results.append(("rcumapd (%s) run" % flavor, False, "%s: %s" % (type(e).__name__, e)))
    for i, s in enumerate(servers):
        why = harness.stop_checked(s)
        results.append(("rcumapd backend %d clean shutdown" % (i + 1), why is None, why or ""))
    harness.report(results)


if __name__ == "__main__":
    main()

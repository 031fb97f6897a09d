# SPDX-License-Identifier: MIT
"""test_atomic.py: read-modify-write commands are atomic across workers and both protocols.

- Counters: 2 RESP clients (INCR, INCRBY) and 2 memcached clients (incr) on
  the same keys, each on its own worker; the final sums are exact and no
  two increments of a key return the same new value.
- cas race: each round C memcached clients gets the same value, meet at a
  barrier, and cas it with that id: exactly one STORED, the rest EXISTS.
- SET ... GET race: each round exactly one client sees nil, the others see
  the values of the others as a chain, and the value left is the one
  nobody saw.
- SETNX, SET NX, memcached add: exactly one winner per round, its value stays.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from common_b import Mc, Resp, Results, enc, scaled  # noqa: E402

THREADS = 4
KEYS = 4
INCRS = scaled(40000, 1000)       # increments per client
BATCH = 500
ROUNDS = scaled(300, 20)
RACERS = 4


def counters(srv, res, label):
    # Connection k goes to worker k mod THREADS: R, M, R, M on workers 0..3.
    setup = Resp(srv.resp_port)
    for k in range(KEYS):
        setup.cmd("SET", "ctr:%d" % k, "0")
    clients = []
    for i in range(4):
        if i % 2 == 0:
            clients.append(("resp", Resp(srv.resp_port, timeout=60)))
        else:
            clients.append(("mc", Mc(srv.mc_port, timeout=60)))
    # Increment sequences, fixed up front so the expected sums are known.
    ops = []
    for i, (kind, _) in enumerate(clients):
        seq = []
        for n in range(INCRS):
            key = (n + i) % KEYS
            if kind == "resp":
                seq.append((key, 1 if n % 2 == 0 else 3))
            else:
                seq.append((key, 1 if n % 3 else 5))
        ops.append(seq)
    expect = [0] * KEYS
    for seq in ops:
        for key, by in seq:
            expect[key] += by
    seen = [[[] for _ in range(KEYS)] for _ in clients]
    errors = []

    def run(i):
        kind, c = clients[i]
        try:
            seq = ops[i]
            for b in range(0, len(seq), BATCH):
                part = seq[b:b + BATCH]
                if kind == "resp":
                    c.send(b"".join(enc("INCR", "ctr:%d" % k) if by == 1 else
                                    enc("INCRBY", "ctr:%d" % k, by) for k, by in part))
                    for k, _ in part:
                        r = c.reply()
                        if not isinstance(r, int):
                            raise ValueError("INCR reply %r" % (r,))
                        seen[i][k].append(r)
                else:
                    c.send(b"".join(b"incr ctr:%d %d\r\n" % (k, by) for k, by in part))
                    for k, _ in part:
                        line = c.readline()
                        if not line.isdigit():
                            raise ValueError("incr reply %r" % line)
                        seen[i][k].append(int(line))
        except Exception as e:  # noqa: BLE001
            errors.append("client %d (%s): %r" % (i, kind, e))

    ths = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    res.check("%s: counter clients ran without error" % label, not errors, "; ".join(errors))
    final = [int(setup.cmd("GET", "ctr:%d" % k) or b"-1") for k in range(KEYS)]
    print("  %s: final %s expected %s" % (label, final, expect), flush=True)
    res.check("%s: INCR/INCRBY/incr sums exact over both protocols" % label, final == expect,
              "final %s expected %s" % (final, expect))
    dup = 0
    for k in range(KEYS):
        vals = [v for i in range(len(clients)) for v in seen[i][k]]
        dup += len(vals) - len(set(vals))
    res.check("%s: no two increments returned the same value" % label, dup == 0,
              "%d repeated new values" % dup)
    setup.close()
    for _, c in clients:
        c.close()


def bad_detail(bad):
    return "%d/%d rounds bad, first: %s" % (len(bad), ROUNDS, "; ".join(bad[:3])) if bad else ""


class Race:
    """RACERS threads, each with its own connection, acting together per round."""

    def __init__(self, make_conn):
        self.conns = [make_conn() for _ in range(RACERS)]
        self.start = threading.Barrier(RACERS + 1)
        self.go = threading.Barrier(RACERS)
        self.end = threading.Barrier(RACERS + 1)
        self.prepare = None
        self.act = None
        self.results = [None] * RACERS
        self.quit = False
        self.ths = [threading.Thread(target=self._run, args=(i,), daemon=True)
                    for i in range(RACERS)]
        for t in self.ths:
            t.start()

    def _run(self, i):
        while True:
            self.start.wait()
            if self.quit:
                return
            c = self.conns[i]
            try:
                state = self.prepare(i, c) if self.prepare else None
                self.go.wait()
                self.results[i] = self.act(i, c, state)
            except Exception as e:  # noqa: BLE001
                self.results[i] = ("error", repr(e))
                self.go.abort() if not self.go.broken else None
            self.end.wait()

    def round(self, prepare, act):
        self.prepare, self.act = prepare, act
        self.results = [None] * RACERS
        self.start.wait()
        self.end.wait()
        if self.go.broken:
            self.go.reset()
        return list(self.results)

    def close(self):
        self.quit = True
        self.start.wait()
        for t in self.ths:
            t.join()
        for c in self.conns:
            c.close()


def cas_race(srv, res, label):
    setup = Mc(srv.mc_port)
    race = Race(lambda: Mc(srv.mc_port))
    bad = []
    for r in range(ROUNDS):
        setup.cmd(b"set casrace 0 0 5", b"r%04d" % (r % 10000))

        def prepare(i, c):
            vals = c.get_values(b"gets casrace")
            return vals[b"casrace"][2]

        def act(i, c, cas):
            data = b"c%d-%d" % (i, r)
            line = c.cmd(b"cas casrace 0 0 %d %d" % (len(data), cas), data)
            return (cas, line, data)

        out = race.round(prepare, act)
        if any(o is None or o[0] == "error" for o in out):
            bad.append("round %d: %r" % (r, out))
            continue
        ids = {o[0] for o in out}
        lines = [o[1] for o in out]
        stored = [o for o in out if o[1] == b"STORED"]
        final = setup.get_values(b"get casrace").get(b"casrace", (0, None, None))[1]
        if (len(ids) != 1 or len(stored) != 1 or lines.count(b"EXISTS") != RACERS - 1
                or final != stored[0][2]):
            bad.append("round %d: cas ids %s replies %s final %r" % (r, ids, lines, final))
    race.close()
    setup.close()
    res.check("%s: cas race: exactly one STORED per round, the rest EXISTS" % label, not bad,
              bad_detail(bad))


def setget_race(srv, res, label):
    setup = Resp(srv.resp_port)
    race = Race(lambda: Resp(srv.resp_port))
    bad = []
    for r in range(ROUNDS):
        setup.cmd("DEL", "sgrace")

        def act(i, c, _):
            v = b"c%d-%d" % (i, r)
            return (v, c.cmd("SET", "sgrace", v, "GET"))

        out = race.round(None, act)
        if any(o is None or o[0] == "error" for o in out):
            bad.append("round %d: %r" % (r, out))
            continue
        mine = [o[0] for o in out]
        got = [o[1] for o in out]
        final = setup.cmd("GET", "sgrace")
        olds = [g for g in got if g is not None]
        ok = (got.count(None) == 1 and len(set(olds)) == len(olds)
              and all(g in mine for g in olds) and final in mine and final not in olds)
        if not ok:
            bad.append("round %d: set %r got %r final %r" % (r, mine, got, final))
    race.close()
    setup.close()
    res.check("%s: SET GET race: one nil, a chain of old values, the last one stays" % label,
              not bad, bad_detail(bad))


def one_winner(srv, res, label, what, make_conn, reset, act, won, lost, final_of):
    setup = Resp(srv.resp_port)
    race = Race(make_conn)
    bad = []
    for r in range(ROUNDS):
        setup.cmd("DEL", "nxrace")
        out = race.round(None, lambda i, c, _: act(i, c, r))
        if any(o is None or o[0] == "error" for o in out):
            bad.append("round %d: %r" % (r, out))
            continue
        wins = [o for o in out if o[1] == won]
        losses = [o for o in out if o[1] == lost]
        final = setup.cmd("GET", "nxrace")
        if len(wins) != 1 or len(losses) != RACERS - 1 or final != wins[0][0]:
            bad.append("round %d: replies %r final %r" % (r, [o[1] for o in out], final))
    race.close()
    setup.close()
    res.check("%s: %s: exactly one winner per round, its value stays" % (label, what), not bad,
              bad_detail(bad))


def run_flavor(flavor, res):
    label = "rcumapd %s" % flavor
    srv = harness.Rcumapd(flavor=flavor, threads=THREADS)
    try:
        counters(srv, res, label)
        cas_race(srv, res, label)
        setget_race(srv, res, label)

        def setnx(i, c, r):
            v = b"c%d-%d" % (i, r)
            return (v, c.cmd("SETNX", "nxrace", v))
        one_winner(srv, res, label, "SETNX", lambda: Resp(srv.resp_port), None, setnx, 1, 0,
                   None)

        def setnxopt(i, c, r):
            v = b"c%d-%d" % (i, r)
            return (v, c.cmd("SET", "nxrace", v, "NX"))
        one_winner(srv, res, label, "SET NX", lambda: Resp(srv.resp_port), None, setnxopt,
                   b"OK", None, None)

        def mcadd(i, c, r):
            v = b"c%d-%d" % (i, r)
            return (v, c.cmd(b"add nxrace 0 0 %d" % len(v), v))
        one_winner(srv, res, label, "memcached add", lambda: Mc(srv.mc_port), None, mcadd,
                   b"STORED", b"NOT_STORED", None)
        res.check("%s: alive after" % label, srv.alive())
    except Exception as e:  # noqa: BLE001
        res.check("%s: run" % label, False, repr(e))
    res.stop("%s: stop_clean" % label, srv)


def main():
    res = Results()
    for flavor in harness.FLAVORS:
        run_flavor(flavor, res)
    res.report()


if __name__ == "__main__":
    main()

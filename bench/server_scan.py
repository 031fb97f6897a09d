#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# server_scan.py: the driver of bench-server workload W8 (a full SCAN while
# writes run, docs/benchmarks-server.md).
#
#   server_scan.py PORT N [--writes-churn M] [--count C] [--cycles K]
#
# Against an empty RESP server: stores N stable keys stable:0 ... stable:N-1,
# then starts a writer process with its own connection that stores churn
# keys churn:0 ... churn:M-1 and deletes them again, over and over, in
# pipelined batches, and meanwhile walks one SCAN from cursor 0 back to 0 with
# COUNT C on a second connection. A stable key returned more than once is a
# duplicate, one never returned a miss; churn keys may or may not be returned
# (a churn key seen twice may have been deleted and stored again in between:
# they are counted on stderr, not as errors).
#
# A full SCAN of 1M keys takes about a second, far less than the writer needs
# for M stores and M deletes, so the scan is paced: it issues its next call
# only when the writer has done as many operations as the scan has covered of
# the stable keys, times K churn cycles (2M operations each). The scan thus
# spans K cycles, whatever the speeds. K = 0 scans at full speed, without
# waiting for the writer.
#
# The defaults, M = 4N and K = 1, are set for N = 1M. rcumapd grows past load
# 2 to load 1 or below and shrinks under load 1/4: 1M keys sit in 2^19 slots,
# the churn takes them to 2^21 (at 1% of the scan) and 2^23 (at 40%), and the
# deletes shrink them to 2^21 (at 86%). It takes M > 3.2N to shrink at all,
# and other N may need more: the driver warns when rcumapd's INFO shows no
# grow or no shrink during the scan. Redis's dict doubles when full and halves
# only under 10% fill: it grows 2^20 -> 2^23 during the scan and never
# shrinks, which would take M of about 7.5N; without a shrink its SCAN promises
# no duplicate either.
#
# stdout: one CSV line "stable_keys,returned,duplicates,misses,churn_ops,
# scan_calls,seconds" (returned counts every key returned, churn keys too;
# seconds is the time of the scan). rcumapd's table grows and shrinks during
# the scan (INFO rcumap) go to stderr.
import mmap
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_conn  # noqa: E402  (bench/server_conn.py, beside this file)

PROG = "server_scan.py"
VALUE = b"s" * 16
LOAD_CHUNK = 5000       # commands per sendall while storing the stable keys
BATCH = 1000            # commands per sendall of the writer
TIMEOUT = 120.0         # seconds without any reply before the run is given up

USAGE = ("usage: server_scan.py PORT N [--writes-churn M] [--count C] [--cycles K]\n"
         "  N stable keys; M churn keys stored then deleted, repeatedly, while\n"
         "  one SCAN (COUNT C, default 1000) walks the keyspace, paced to span K\n"
         "  writer cycles (default M = 4N, K = 1; K = 0: no pacing); prints\n"
         "  stable_keys,returned,duplicates,misses,churn_ops,scan_calls,seconds")
usage, die, log = server_conn.helpers(PROG, USAGE)


def resp(c, *args):
    """One RESP command whose reply is an integer or a bulk string."""
    return c.resp(*args, accept=(":", "$"))


def scan(c, cursor, count):
    """One SCAN call: return (next cursor, list of keys)."""
    cur = b"%d" % cursor
    cnt = b"%d" % count
    c.send(b"*4\r\n$4\r\nSCAN\r\n$%d\r\n%s\r\n$5\r\nCOUNT\r\n$%d\r\n%s\r\n"
           % (len(cur), cur, len(cnt), cnt))
    # *2 $len cursor *K, then K times $len key: 4 + 2K lines, keys hold no CR LF
    while c.buf.count(b"\r\n") < 4:
        if c.buf[:1] == b"-" and b"\r\n" in c.buf:
            die("SCAN failed: %r" % bytes(c.buf[:c.buf.find(b"\r\n")]))
        c.fill()
    head = bytes(c.buf[:64]).split(b"\r\n", 4)
    if head[0] != b"*2" or head[1][:1] != b"$" or head[3][:1] != b"*":
        die("unexpected reply to SCAN: %r" % bytes(c.buf[:80]))
    k = int(head[3][1:])
    while c.buf.count(b"\r\n") < 4 + 2 * k:
        c.fill()
    lines = bytes(c.buf).split(b"\r\n", 4 + 2 * k)
    rest = lines.pop() if len(lines) > 4 + 2 * k else b""
    c.buf = bytearray(rest)
    return int(lines[2]), lines[5::2]


def info_rcumap(c):
    """rcumap_grows, rcumap_shrinks, rcumap_slots from INFO rcumap, or None."""
    r = resp(c, b"INFO", b"rcumap")
    f = {}
    for ln in r.split(b"\r\n"):
        p = ln.split(b":", 1)
        if len(p) == 2 and p[0] in (b"rcumap_grows", b"rcumap_shrinks", b"rcumap_slots"):
            f[p[0].decode()] = int(p[1])
    return f if len(f) == 3 else None


def writer(port, m, shm):
    """The child: store churn:0..m-1, delete them, again, until told to stop."""
    c = server_conn.Conn(port, PROG, TIMEOUT)
    ops = 0
    while True:
        for cmd, want in ((b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n" + VALUE + b"\r\n", b"+OK\r\n"),
                          (b"*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n", b":1\r\n")):
            for b in range(0, m, BATCH):
                e = min(b + BATCH, m)
                c.send(b"".join(cmd % (len(k), k) for k in (b"churn:%d" % i for i in range(b, e))))
                c.expect(want * (e - b), "churning")
                ops += e - b
                struct.pack_into("q", shm, 0, ops)
                if struct.unpack_from("q", shm, 8)[0]:
                    return


def main(argv):
    pos = []
    opts = {"--writes-churn": None, "--count": 1000, "--cycles": 1.0}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in opts:
            if i + 1 >= len(argv):
                usage(a + " needs a value")
            try:
                opts[a] = float(argv[i + 1]) if a == "--cycles" else int(argv[i + 1])
            except ValueError:
                usage("bad value for %s: %r" % (a, argv[i + 1]))
            i += 2
            continue
        if a.startswith("-"):
            usage("unknown option %r" % a)
        pos.append(a)
        i += 1
    if len(pos) != 2:
        usage()
    try:
        port, n = int(pos[0]), int(pos[1])
    except ValueError:
        usage("PORT and N must be integers")
    m = opts["--writes-churn"] if opts["--writes-churn"] is not None else 4 * n
    count, cycles = opts["--count"], opts["--cycles"]
    if not 0 < port < 65536:
        usage("bad port %d" % port)
    if n < 1 or m < 1 or count < 1:
        usage("N, M and C must be positive")
    if not 0 <= cycles <= 1000:
        usage("K must be within 0..1000")

    c = server_conn.Conn(port, PROG, TIMEOUT)
    if resp(c, b"DBSIZE") != 0:
        die("the server is not empty: W8 needs an empty server")
    t0 = time.time()
    for b in range(0, n, LOAD_CHUNK):
        e = min(b + LOAD_CHUNK, n)
        c.send(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n" % (len(k), k, VALUE)
                        for k in (b"stable:%d" % i for i in range(b, e))))
        c.expect(b"+OK\r\n" * (e - b), "storing the stable keys")
    if resp(c, b"DBSIZE") != n:
        die("the server does not hold the %d stable keys" % n)
    log("stored %d stable keys in %.1f s" % (n, time.time() - t0))
    before = info_rcumap(c)

    shm = mmap.mmap(-1, 16)     # MAP_SHARED: [0] writer's operations, [8] stop flag
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            writer(port, m, shm)
        except SystemExit as e:
            if e.code not in (None, 0):
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException as e:  # any failure of the writer: report it, exit non-zero
            print("server_scan.py: writer: %r" % e, file=sys.stderr)
            code = 1
        sys.stderr.flush()
        os._exit(code)

    def writer_ops():
        return struct.unpack_from("q", shm, 0)[0]

    def stop_writer():
        struct.pack_into("q", shm, 8, 1)
        st = os.waitpid(pid, 0)[1]
        return st

    seen = bytearray(n)         # returns per stable key, saturated at 255
    churn_seen = set()
    churn_dups = 0
    returned = calls = distinct = 0
    target = cycles * 2 * m
    t0 = time.time()
    cursor = 0
    try:
        while True:
            if target:
                want = target * distinct / n
                while writer_ops() < want:
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        die("the writer stopped during the scan")
                    time.sleep(0.0005)
            cursor, keys = scan(c, cursor, count)
            calls += 1
            returned += len(keys)
            for k in keys:
                if k.startswith(b"stable:"):
                    j = int(k[7:])
                    if not 0 <= j < n:
                        die("SCAN returned %r, not a key of this run" % k)
                    if seen[j] == 0:
                        distinct += 1
                    if seen[j] < 255:
                        seen[j] += 1
                elif k.startswith(b"churn:"):
                    if k in churn_seen:
                        churn_dups += 1
                    else:
                        churn_seen.add(k)
                else:
                    die("SCAN returned %r, not a key of this run" % k)
            if cursor == 0:
                break
        secs = time.time() - t0
        ops = writer_ops()
        after = info_rcumap(c) if before else None
    finally:
        st = stop_writer()
    if st:
        die("the writer failed")
    dups = n - seen.count(0) - seen.count(1)
    misses = seen.count(0)
    log("%d churn keys returned, %d of them again; writer ran %d ops (%.1f cycles of %d)"
        % (len(churn_seen), churn_dups, ops, ops / (2.0 * m), 2 * m))
    if before and after:
        log("rcumapd during the scan: %d grows, %d shrinks; slots %d -> %d"
            % (after["rcumap_grows"] - before["rcumap_grows"],
               after["rcumap_shrinks"] - before["rcumap_shrinks"],
               before["rcumap_slots"], after["rcumap_slots"]))
        if after["rcumap_grows"] == before["rcumap_grows"] or \
           after["rcumap_shrinks"] == before["rcumap_shrinks"]:
            log("warning: the table did not both grow and shrink during the scan:"
                " raise --writes-churn or --cycles")
    print("%d,%d,%d,%d,%d,%d,%.3f" % (n, returned, dups, misses, ops, calls, secs))


if __name__ == "__main__":
    main(sys.argv)

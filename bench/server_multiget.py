#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# server_multiget.py: the loader and the memcached multi-get client of the
# before/after measurement of batched lookups in rcumapd (docs/server.md,
# "Batched lookups: before and after").
#
#   server_multiget.py load RESP_PORT N
#       stores N keys key:000000000000, key:000000000001, ... (the names
#       redis-benchmark -r N gives key:__rand_int__) with 16-byte values.
#   server_multiget.py mc MC_PORT TOTAL CONNS DEPTH KEYS RANGE
#       CONNS processes, each keeping DEPTH lines "get k1 ... kKEYS" of
#       random keys below RANGE in flight, until TOTAL lines are answered in
#       all; prints lines per second. Python is the limit of its rate on a
#       small machine: read the server's CPU per line, not this figure.
import os
import random
import socket
import sys
import time


def usage():
    sys.exit("usage: server_multiget.py load RESP_PORT N\n"
             "       server_multiget.py mc MC_PORT TOTAL CONNS DEPTH KEYS RANGE")


def load(port, n):
    s = socket.create_connection(("127.0.0.1", port))
    val = b"v" * 16
    chunk = 2000
    for base in range(0, n, chunk):
        m = min(chunk, n - base)
        s.sendall(b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\n%s\r\n" % (i, val)
                           for i in range(base, base + m)))
        want = b"+OK\r\n" * m
        got = b""
        while len(got) < len(want):
            d = s.recv(1 << 20)
            if not d:
                sys.exit("server_multiget: connection closed while loading")
            got += d
        if got != want:
            sys.exit("server_multiget: unexpected reply while loading: %r" % got[:100])
    s.close()
    print("loaded", n)


def client(port, per, depth, nkeys, rng, seed):
    r = random.Random(seed)
    pool = [b"get " + b" ".join(b"key:%012d" % r.randrange(rng) for _ in range(nkeys)) + b"\r\n"
            for _ in range(4096)]
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = done = pi = 0
    carry = b""
    while done < per:
        if sent - done < depth and sent < per:
            k = min(depth - (sent - done), per - sent)
            s.sendall(b"".join(pool[(pi + j) & 4095] for j in range(k)))
            pi += k
            sent += k
        d = s.recv(1 << 20)
        if not d:
            raise SystemExit("server_multiget: connection closed")
        buf = carry + d
        done += buf.count(b"END\r\n")
        carry = buf[-4:]  # 4 bytes cannot hold a whole END: none is counted twice
    s.close()


def multiget(port, total, conns, depth, nkeys, rng):
    per = total // conns
    t0 = time.time()
    pids = []
    for c in range(conns):
        pid = os.fork()
        if pid == 0:
            try:
                client(port, per, depth, nkeys, rng, c)
                os._exit(0)
            except BaseException as e:  # report any failure of the child, then exit non-zero
                print(e, file=sys.stderr)
                os._exit(1)
        pids.append(pid)
    bad = 0
    for p in pids:
        bad |= os.waitpid(p, 0)[1]
    print("%.0f" % (per * conns / (time.time() - t0)))
    sys.exit(1 if bad else 0)


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "load":
            load(int(argv[2]), int(argv[3]))
        elif len(argv) == 8 and argv[1] == "mc":
            args = [int(x) for x in argv[2:]]
            if min(args) <= 0:
                usage()
            multiget(*args)
        else:
            usage()
    except ValueError:
        usage()


if __name__ == "__main__":
    main(sys.argv)

# SPDX-License-Identifier: MIT
"""mcstats.py: the memcached protocol's "stats" command, read into a dict.

bench/server_mem.py and tests/server/test_batch.py import it by path: each
puts this directory (testlib/, beside its own) on sys.path.
"""


def mc_stats(conn, bad=None):
    """Send "stats" on conn; return its "STAT name value" lines up to END as
    {name: value} (both str).

    conn has send(bytes) and readline(), which returns one reply line
    without its CRLF. Any other line is passed to bad(line) when bad is
    given (bad may end the run), and skipped when it is not.
    """
    conn.send(b"stats\r\n")
    st = {}
    while True:
        ln = conn.readline()
        if ln == b"END":
            return st
        p = ln.split(b" ")
        if len(p) == 3 and p[0] == b"STAT":
            st[p[1].decode()] = p[2].decode()
        elif bad is not None:
            bad(ln)

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""server_pending.py: sample rcumapd's pending reclamation during a bench-server run.

    server_pending.py PORT [INTERVAL]

Over one connection, asks INFO rcumap every INTERVAL seconds (default 0.1)
and prints rcumap_pending_bytes, one number per line, until it is killed
or the server goes away. One long-lived process and one request per sample:
forking a client per sample would take the CPU and the latency tails it is
meant to watch.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_conn  # noqa: E402

PROG = "server_pending.py"
USAGE = "usage: server_pending.py PORT [INTERVAL]"
usage, die, log = server_conn.helpers(PROG, USAGE)


def main():
    if len(sys.argv) not in (2, 3) or not sys.argv[1].isdigit():
        usage()
    port = int(sys.argv[1])
    try:
        interval = float(sys.argv[2]) if len(sys.argv) == 3 else 0.1
    except ValueError:
        usage("INTERVAL must be a number of seconds")
    if not 0 < interval <= 60:
        usage("INTERVAL must be above 0 and at most 60 seconds")
    c = server_conn.Conn(port, PROG, 30.0)
    while True:
        text = c.resp(b"INFO", b"rcumap", accept=("$",))
        for ln in text.split(b"\r\n"):
            if ln.startswith(b"rcumap_pending_bytes:"):
                print(int(ln.split(b":")[1]), flush=True)
                break
        else:
            die("INFO rcumap has no rcumap_pending_bytes line")
        time.sleep(interval)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""server_conn.py: the client connection the bench-server drivers share.

bench/server_mem.py (W7) and bench/server_scan.py (W8) import it from their
own directory. Conn is one TCP connection to 127.0.0.1:PORT with a receive
buffer: pipelined writes (send), exact checks of their replies (expect),
CRLF lines (line) and single RESP commands (resp). Every failure ends the
run through die, with the driver's name in front: "PROG: message" on
stderr, exit status 1.
"""
import functools
import socket
import sys


def usage(prog, text, msg=None):
    """The usage text (exit status 1), after msg, the reason, if there is one."""
    if msg:
        print(prog + ": " + msg, file=sys.stderr)
    sys.exit(text)


def die(prog, msg):
    sys.exit(prog + ": " + msg)


def log(prog, msg):
    print(prog + ": " + msg, file=sys.stderr, flush=True)


def helpers(prog, usage_text):
    """usage(msg=None), die(msg) and log(msg) for the driver prog."""
    return (functools.partial(usage, prog, usage_text), functools.partial(die, prog),
            functools.partial(log, prog))


class Conn:
    def __init__(self, port, prog, timeout):
        """Connect; timeout: seconds without any reply before the run is given up."""
        self.prog = prog
        self.timeout = timeout
        try:
            self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as e:
            self.die("cannot connect to 127.0.0.1:%d: %s" % (port, e))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def die(self, msg):
        die(self.prog, msg)

    def fill(self):
        try:
            d = self.s.recv(1 << 20)
        except socket.timeout:
            self.die("no reply from the server in %.0f s" % self.timeout)
        except OSError as e:
            self.die("connection error: %s" % e)
        if not d:
            self.die("the server closed the connection")
        self.buf += d

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            self.die("connection error while sending: %s" % e)

    def expect(self, want, what):
        """Read len(want) bytes of replies and check they are exactly want."""
        while len(self.buf) < len(want):
            self.fill()
        got = bytes(self.buf[:len(want)])
        del self.buf[:len(want)]
        if got != want:
            for i in range(0, len(want), 4096):  # find the first reply that differs
                if got[i:i + 4096] != want[i:i + 4096]:
                    break
            self.die("unexpected reply while %s: %r" % (what, got[i:i + 80]))

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            self.fill()

    readline = line  # the name testlib/mcstats.py calls

    def resp(self, *args, accept=("+", "-", ":", "$", "nil")):
        """Send one RESP command; return its reply: bytes (+ and $), int (:),
        ('err', text) (-), None (nil, the null bulk $-1). A reply of a kind
        not in accept ends the run."""
        self.send(b"*%d\r\n" % len(args) +
                  b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        ln = self.line()
        t, rest = ln[:1].decode(errors="replace"), ln[1:]
        if t == "$" and int(rest) < 0:
            t = "nil"
        if t in accept:
            if t == "+":
                return rest
            if t == "-":
                return ("err", rest.decode(errors="replace"))
            if t == ":":
                return int(rest)
            if t == "nil":
                return None
            if t == "$":
                n = int(rest)
                while len(self.buf) < n + 2:
                    self.fill()
                v = bytes(self.buf[:n])
                del self.buf[:n + 2]
                return v
        self.die("unexpected reply to %s: %r" % (args[0].decode(), ln[:80]))

# SPDX-License-Identifier: MIT
"""common_b.py: raw-socket RESP and memcached clients and small helpers for the tests-b scripts.

Raw sockets rather than redis-py: the tests need exact reply bytes, bad
input, and deep pipelines that redis-py would build too slowly.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# Size multiplier for the tests' workloads (RCUMAPD_TEST_SCALE, default 1).
SIZE = float(os.environ.get("RCUMAPD_TEST_SCALE", "1"))


def scaled(n, minimum=1):
    return max(minimum, int(n * SIZE))


def binary_is_sanitized(path):
    """True for an ASan/valgrind run: RSS limits do not hold there."""
    if harness.WRAP:
        return True
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def enc(*args):
    """One RESP array command."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class RespError(Exception):
    pass


class Err:
    """A RESP error reply (kept as a value, not raised)."""

    def __init__(self, msg):
        self.msg = msg

    def __repr__(self):
        return "Err(%r)" % self.msg

    def __eq__(self, other):
        return isinstance(other, Err) and other.msg == self.msg


class Closed(Exception):
    pass


class Conn:
    """A raw TCP connection with a receive buffer."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout * harness.SCALE)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed("connection closed by peer")
        if self.pos > (1 << 20) and self.pos > len(self.buf) // 2:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def readexact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def read_available(self, wait=0.3, until=None):
        """What arrives within wait seconds, or until EOF or until(out) holds.

        Return (bytes, closed): closed when the peer closed or reset.
        """
        out = bytes(self.buf[self.pos:])
        self.buf = bytearray()
        self.pos = 0
        closed = False
        deadline = time.time() + wait
        try:
            while not (until and until(out)):
                left = deadline - time.time()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    closed = True
                    break
                out += chunk
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        finally:
            try:
                self.sock.settimeout(10.0 * harness.SCALE)
            except OSError:
                pass
        return out, closed


class Resp(Conn):
    def reply(self):
        line = self.readline()
        if not line:
            raise RespError("empty reply line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return Err(rest)
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.readexact(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.reply() for _ in range(n)]
        raise RespError("bad reply line %r" % line)

    def cmd(self, *args):
        self.send(enc(*args))
        return self.reply()

    def pipeline(self, cmds, depth=2000):
        """Send commands (each a tuple) in batches; return all replies."""
        out = []
        for i in range(0, len(cmds), depth):
            batch = cmds[i:i + depth]
            self.send(b"".join(enc(*c) for c in batch))
            out.extend(self.reply() for _ in batch)
        return out

    def blast(self, blob, expect):
        """Send a pre-built blob and read exactly the expected reply bytes."""
        self.send(blob)
        got = self.readexact(len(expect))
        if got != expect:
            raise RespError("unexpected replies: %r..." % got[:200])


class Mc(Conn):
    def cmd(self, line, data=None):
        """Send one command line (and data block); return the first reply line."""
        msg = line + b"\r\n"
        if data is not None:
            msg += data + b"\r\n"
        self.send(msg)
        return self.readline()

    def get_values(self, line):
        """Send a get/gets line; return {key: (flags, data, cas or None)}."""
        self.send(line + b"\r\n")
        vals = {}
        while True:
            l = self.readline()
            if l == b"END":
                return vals
            p = l.split(b" ")
            if p[0] != b"VALUE":
                raise RespError("bad get reply %r" % l)
            n = int(p[3])
            data = self.readexact(n + 2)[:-2]
            vals[p[1]] = (int(p[2]), data, int(p[4]) if len(p) > 4 else None)


def info(port):
    """INFO over a fresh connection, parsed to a dict of strings."""
    c = Resp(port)
    try:
        text = c.cmd("INFO")
    finally:
        c.close()
    d = {}
    for line in text.decode(errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            d[k] = v.strip()
    return d


def info_int(d, key, default=None):
    v = d.get(key)
    if v is None:
        return default
    try:
        return int(v)
    except ValueError:
        try:
            return int(float(v))
        except ValueError:
            return default


def vmrss(pid):
    """Resident set size of pid in bytes, from /proc."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def ping_ok(port):
    """A fresh client gets PONG."""
    try:
        c = Resp(port, timeout=5)
        try:
            return c.cmd("PING") == b"PONG"
        finally:
            c.close()
    except (OSError, Closed, RespError):
        return False


class Results:
    """Collects (name, ok, detail) and prints each check as it happens."""

    def __init__(self):
        self.items = []

    def check(self, name, ok, detail=""):
        self.items.append((name, bool(ok), detail))
        print("  %s %s%s" % ("ok  " if ok else "FAIL", name, (" - " + detail) if detail else ""),
              flush=True)
        return ok

    def stop(self, name, srv):
        """stop_clean() as a check (the server must exit 0 on SIGTERM)."""
        err = stop_clean_error(srv)
        return self.check(name, err is None, err or "exit 0")

    def report(self):
        print(flush=True)
        harness.report(self.items)


def stop_clean_error(srv):
    """srv.stop_clean(); None when it exited 0, else what went wrong with its log tail."""
    try:
        srv.stop_clean()
        return None
    except Exception as e:  # noqa: BLE001
        # The log by path: after a crash the harness's own handle is closed.
        try:
            with open(srv.log, errors="replace") as f:
                log = f.read()[-3000:]
        except OSError:
            log = "(no log)"
        return "%s; exit status %r; log tail:\n%s" % (str(e)[:500], srv.proc.returncode, log)


def wait_until(pred, timeout, step=0.05):
    deadline = time.time() + timeout * harness.SCALE
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()

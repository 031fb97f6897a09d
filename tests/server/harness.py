# SPDX-License-Identifier: MIT
"""harness.py: start and stop rcumapd and its peers for the server tests.

Every server a test needs is started here on a free loopback port and killed
when the test ends, on failure too (atexit, and SIGTERM/SIGINT handlers).

Environment, set by the make check wrappers:
  abs_top_builddir   where server/rcumapd was built
  RCUMAPD_BIN        binary to test (default: $abs_top_builddir/server/rcumapd)
  RCUMAPD_FLAVORS    flavors to run under (default: "qsbr memb bp")
  RCUMAPD_WRAP       command prefix, for instance a valgrind command line
  RCUMAPD_TIMEOUT_SCALE  multiply waits by this (slow variants: valgrind, ASan)
"""
import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILDDIR = os.environ.get("abs_top_builddir", os.getcwd())
BIN = os.environ.get("RCUMAPD_BIN") or os.path.join(BUILDDIR, "server", "rcumapd")
FLAVORS = os.environ.get("RCUMAPD_FLAVORS", "qsbr memb bp").split()
WRAP = os.environ.get("RCUMAPD_WRAP", "").split()
SCALE = float(os.environ.get("RCUMAPD_TIMEOUT_SCALE", "1"))

_live = []


def _cleanup(*_):
    for p in list(_live):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass
    _live.clear()


def _on_signal(signum, _frame):
    _cleanup()
    sys.exit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def free_port():
    """A loopback TCP port that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.time() + timeout * SCALE
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with status %d before listening on %d"
                               % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on port %d after %.0f s" % (port, timeout * SCALE))


class Proc:
    """A started server; stop() ends it and returns its exit status."""

    def __init__(self, argv, ports, name, log=None):
        self.name = name
        self.argv = argv
        self.log = log or tempfile.NamedTemporaryFile(prefix=name + "-", suffix=".log",
                                                      delete=False).name
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        _live.append(self.proc)
        for port in ports:
            wait_port(port, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send sig, wait, return the exit status (negative: killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout * SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.logf.close()
                if self.proc in _live:
                    _live.remove(self.proc)
                raise RuntimeError("%s did not exit within %.0f s of signal %d"
                                   % (self.name, timeout * SCALE, sig))
        self.logf.close()
        if self.proc in _live:
            _live.remove(self.proc)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


class Rcumapd(Proc):
    """rcumapd on two free ports: .resp_port (RESP) and .mc_port (memcached)."""

    def __init__(self, flavor="qsbr", threads=2, args=(), binary=None, wrap=None):
        self.resp_port = free_port()
        self.mc_port = free_port()
        argv = list(WRAP if wrap is None else wrap) + [
            binary or BIN, "--flavor", flavor, "-t", str(threads),
            "--port", str(self.resp_port), "--mc-port", str(self.mc_port)] + list(args)
        self.flavor = flavor
        super().__init__(argv, [self.resp_port, self.mc_port], "rcumapd-" + flavor)

    def stop_clean(self):
        """SIGTERM; raise unless it exits 0 (a clean shutdown)."""
        rc = self.stop()
        if rc != 0:
            raise RuntimeError("rcumapd (%s) exited with status %d; its log:\n%s"
                               % (self.flavor, rc, self.output()[-4000:]))


class RedisServer(Proc):
    def __init__(self, args=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-")
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir] + list(args)
        super().__init__(argv, [self.port], "redis-server")


class Memcached(Proc):
    def __init__(self, args=()):
        self.port = free_port()
        argv = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        super().__init__(argv + list(args), [self.port], "memcached")


def stop_checked(srv):
    """SIGTERM srv; None when it exited 0, else why not, with its log's tail."""
    try:
        srv.stop_clean()
        return None
    except Exception as e:  # a timeout or a non-zero exit: both are the answer
        return str(e)


def for_each_flavor(results, body, args=()):
    """Run body(srv, flavor) against a fresh 2-worker rcumapd per flavor
    (with the extra command-line args).

    Appends (name, ok, detail) to results for a server that did not start,
    for an exception out of body, and for the clean-shutdown check, which
    always runs: a server that died shows its exit status and log there.
    """
    for flavor in FLAVORS:
        try:
            srv = Rcumapd(flavor=flavor, threads=2, args=args)
        except Exception as e:
            results.append(("%s start" % flavor, False, str(e)))
            continue
        try:
            body(srv, flavor)
        except Exception as e:
            results.append(("%s run" % flavor, False, "%s: %s" % (type(e).__name__, e)))
        why = stop_checked(srv)
        results.append(("%s clean shutdown" % flavor, why is None, why or ""))


def report(results):
    """Print one line per (name, ok, detail) and exit 0 only if all passed."""
    failed = 0
    for name, ok, detail in results:
        print("%s: %s%s" % ("PASS" if ok else "FAIL", name, (" - " + detail) if detail else ""))
        failed += 0 if ok else 1
    print("%d passed, %d failed" % (len(results) - failed, failed))
    sys.exit(1 if failed else 0)

"""Shared fixtures for system tests: real rampartd processes on loopback,
real destination servers (Postfix's smtp-sink, or a second rampartd).

Every test gets its own temporary directory, ports and processes (the
test files run in parallel under ctest), and everything is stopped and
removed afterwards. A node that died on its own (a crash) or wrote a
sanitizer report fails the test at teardown."""
import errno
import glob
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

BUILD = os.environ.get("RAMPART_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
SOURCE = os.path.abspath(os.environ.get("RAMPART_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", ".."))
RAMPARTD = os.path.join(BUILD, "rampartd")
RAMPART = os.path.join(BUILD, "rampart")

CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation fault")


def closed_udp_port():
    """A UDP port on 127.0.0.1 with nobody listening (ICMP unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, interval=0.05, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def retry_exec(fn, *args, **kwargs):
    """Runs subprocess fn, retrying while the binary is being rewritten by
    a concurrent rebuild (EACCES / ETXTBSY / ENOENT for a few seconds)."""
    end = time.time() + 30
    while True:
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.ETXTBSY, errno.ENOENT) or time.time() > end:
                raise
            time.sleep(0.5)


def unverified_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Closed(Exception):
    """The server closed the connection."""


class SMTPConn:
    """A raw SMTP client: sends exact bytes, reads replies as (code, text).
    For what smtplib refuses to send (bare LF, NUL, garbage, pipelining)."""

    def __init__(self, port, timeout=10, host="127.0.0.1", source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.banner = self.reply()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise Closed()
        self.buf += chunk

    def _line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        """One complete (possibly multi-line) reply."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        code = int(lines[-1][:3])
        return code, "\n".join(x[4:].decode(errors="replace") for x in lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def wait_closed(self, timeout=10):
        """True when the server closes the connection within timeout
        (whatever it sends before that is kept in self.buf)."""
        self.sock.settimeout(timeout)
        end = time.time() + timeout
        try:
            while time.time() < end:
                self._fill()
        except Closed:
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Node:
    """One rampartd with its own data directory and ports."""

    def __init__(self, root, name="node", extra_conf=""):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.conf = os.path.join(self.dir, "rampart.conf")
        self.log_path = os.path.join(self.dir, "rampartd.log")
        self.hostname = f"{name}.test"
        # Tests never send DNS anywhere but loopback: unless the test names
        # its own DNS server, point the resolver at a closed local port
        # (lookups fail at once; SPF/DNSBL/MX are then skipped or deferred).
        if "dns_servers" not in extra_conf:
            extra_conf = f"dns_servers = 127.0.0.1:{closed_udp_port()}\n" + extra_conf
        with open(self.conf, "w") as f:
            f.write(f"data_dir = {self.data}\n"
                    f"smtp_listen = 127.0.0.1:{self.smtp_port}\n"
                    f"http_listen = 127.0.0.1:{self.http_port}\n"
                    f"hostname = {self.hostname}\n"
                    f"log_level = debug\n" + extra_conf)
        self.proc = None
        self.logf = None
        self.expect_exit = False

    # -- process control --
    def start(self, wait=True):
        self.expect_exit = False
        self.logf = open(self.log_path, "a")
        self.proc = retry_exec(subprocess.Popen, [RAMPARTD, "-c", self.conf],
                                stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            wait_for(lambda: port_open(self.smtp_port) or self.proc.poll() is not None,
                     what="rampartd to listen")
            assert self.proc.poll() is None, self.log()
            # the control socket answers (a stale socket file left by a
            # killed node exists before the new one is bound)
            wait_for(lambda: self.proc.poll() is not None or
                     self.cli("status", check=False).returncode == 0,
                     interval=0.1, what="control socket")
            assert self.proc.poll() is None, self.log()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the node and waits; a second SIGTERM (exit now) after
        timeout, SIGKILL as the last resort. Returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=20):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout=timeout,
                        what=f"log line /{pattern}/ of {self.name}")

    # -- interfaces --
    def cli(self, *args, check=True, json_out=False):
        cmd = [RAMPART, "-c", self.conf] + (["--json"] if json_out else []) + list(args)
        r = retry_exec(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r

    def add_domain(self, name, destination):
        return self.cli("domain", "add", name, "--destination", destination, json_out=True)

    def set(self, key, value, scope=None):
        args = ["config", "set", key, str(value)] + (["--scope", scope] if scope else [])
        return self.cli(*args, json_out=True)

    def status(self):
        return self.cli("status", json_out=True)

    def queue(self):
        return self.cli("queue", "list", json_out=True)

    def wait_queue_empty(self, timeout=60):
        return wait_for(lambda: self.status()["queue_messages"] == 0, timeout=timeout,
                        interval=0.2, what=f"queue of {self.name} to drain")

    def msglog(self, *filters):
        return self.cli("log", *filters, json_out=True)

    def metrics(self):
        """GET /metrics over HTTPS (self-signed: no verification) as
        {'name{labels}': value}."""
        url = f"https://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, context=unverified_tls(), timeout=10) as r:
            assert r.status == 200
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def smtp(self, timeout=30):
        return smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=timeout)

    def raw(self, timeout=10, source=None):
        """A raw SMTP connection (greeting read), optionally from another
        loopback source address such as 127.0.0.2."""
        return SMTPConn(self.smtp_port, timeout=timeout, source=source)

    def answers(self):
        """The node is up and its SMTP service answers a full exchange."""
        with self.raw() as c:
            assert c.banner[0] == 220, c.banner
            code, _ = c.cmd("EHLO alive.test")
            assert code == 250
            assert c.cmd("NOOP")[0] == 250
            assert c.cmd("QUIT")[0] == 221
        return True

    def send(self, frm, rcpts, msg, helo="client.test"):
        """One message with smtplib; returns sendmail's refused dict."""
        with self.smtp() as s:
            s.ehlo(helo)
            return s.sendmail(frm, rcpts, msg)

    def maildir_files(self, maildir, rcpt):
        return sorted(glob.glob(os.path.join(maildir, rcpt, "new", "*")))


def maildir_messages(maildir):
    """Every delivered message under a destination maildir root, as
    (recipient directory name, bytes), oldest name first."""
    out = []
    for p in sorted(glob.glob(os.path.join(maildir, "*", "new", "*"))):
        with open(p, "rb") as f:
            out.append((p.split(os.sep)[-3], f.read()))
    return out


class Sink:
    """Postfix's smtp-sink: accepts everything (or rejects as told) and
    dumps each transaction into a file."""

    def __init__(self, root, extra_args=(), port=None):
        self.dir = tempfile.mkdtemp(dir=root, prefix="sink")
        self.port = port or free_port()
        self.args = list(extra_args)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["/usr/sbin/smtp-sink", "-u", "root", "-d", os.path.join(self.dir, "%Y%m%d%H%M%S."),
             *self.args, f"127.0.0.1:{self.port}", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), what="smtp-sink")
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def messages(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, "*"))):
            with open(p, "rb") as f:
                out.append(f.read())
        return out


_SUMMARY = []


@pytest.fixture
def summary():
    """summary(text): a line shown in pytest's terminal summary (so ctest's
    output shows measured numbers even when the output is captured)."""
    return _SUMMARY.append


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("rampart measurements")
        for line in _SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="rampart-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_node(workdir):
    nodes = []

    def factory(name="node", extra_conf="", start=True):
        n = Node(workdir, name, extra_conf)
        nodes.append(n)
        if start:
            n.start()
        return n

    yield factory
    problems = []
    for n in nodes:
        if n.proc and n.proc.poll() is not None and not n.expect_exit:
            problems.append(f"{n.name} died during the test (exit {n.proc.returncode})")
        if n.proc:
            n.stop(timeout=10)
        log = n.log()
        for marker in CRASH_MARKERS:
            if marker in log:
                problems.append(f"{n.name}: '{marker}' in its log")
    if problems:
        pytest.fail("; ".join(problems) + "\n" + "\n".join(n.log()[-4000:] for n in nodes))


@pytest.fixture
def make_sink(workdir):
    sinks = []

    def factory(*args, port=None, start=True):
        """smtp-sink with extra options (e.g. "-f", "RCPT" to refuse every
        recipient with 5xx, "-r", "RCPT" for 4xx); port= reuses a port
        chosen earlier (a destination that comes up later)."""
        s = Sink(workdir, args, port=port)
        sinks.append(s)
        return s.start() if start else s

    yield factory
    for s in sinks:
        s.stop()


def simple_message(subject="test", body="hello\r\n", frm="sender@outside.test",
                   to="user@example.test", extra_headers=""):
    return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@outside.test>\r\n{extra_headers}\r\n{body}")

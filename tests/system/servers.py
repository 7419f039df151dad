"""Real servers for the network layers' system tests: dnsmasq serving test
DNSBL/URIBL/SPF zones on a loopback port, a UDP port that never answers
(DNS timeouts), and clamd with a signature database of our own (no
freshclam, no network). Plus the JSON API over the node's local socket,
for the DNS-list zones."""
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import wait_for

DNSMASQ = "/usr/sbin/dnsmasq"
CLAMD = "/usr/sbin/clamd"

# What the test signature matches, and the name clamd reports for it.
AV_TEST_STRING = "RAMPART-AV-TEST-7d1e4c9a"
AV_TEST_VIRUS = "Rampart.Test.Signature.UNOFFICIAL"


def free_port_udp_tcp():
    """A loopback port free for UDP and TCP (DNS servers want both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def dns_query(port, name, qtype=1, timeout=0.3):
    """One UDP query; the rcode and the raw answer, or None on timeout."""
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, ("127.0.0.1", port))
        try:
            r = s.recv(4096)
        except socket.timeout:
            return None
    return r[3] & 0xF, r


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<port>, authoritative for *.test (unknown
    names are NXDOMAIN), answering only what the options say."""

    def __init__(self, root, options):
        self.port = free_port_udp_tcp()
        self.log_path = os.path.join(root, f"dnsmasq-{self.port}.log")
        self.args = [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                     "--listen-address=127.0.0.1", f"--port={self.port}", "--local=/test/",
                     "--user=root", "--pid-file=", "--conf-file=/dev/null",
                     "--local-ttl=300", f"--log-facility={self.log_path}", "--log-queries",
                     *options]
        self.proc = None

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: self.proc.poll() is not None or dns_query(self.port, "probe.test"),
                 timeout=10, what="dnsmasq")
        assert self.proc.poll() is None, "dnsmasq exited"
        return self

    def queries(self):
        """Names asked so far (from dnsmasq's query log)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return [line.split()[-3] for line in f if "query[" in line]
        except OSError:
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class SilentDns:
    """A bound UDP (and TCP) port that never answers: every query to it
    times out."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self.sock.close()


class Clamd:
    """clamd in the foreground with a local socket in a temporary
    directory and a database directory holding only our test signature."""

    def __init__(self, root, stream_max="1M"):
        self.dir = tempfile.mkdtemp(dir=root, prefix="clamd")
        os.makedirs(os.path.join(self.dir, "db"))
        self.sock = os.path.join(self.dir, "clamd.sock")
        with open(os.path.join(self.dir, "db", "rampart.ndb"), "w") as f:
            f.write(f"Rampart.Test.Signature:0:*:{AV_TEST_STRING.encode().hex()}\n")
        self.conf = os.path.join(self.dir, "clamd.conf")
        with open(self.conf, "w") as f:
            f.write(f"Foreground yes\nLocalSocket {self.sock}\n"
                    f"DatabaseDirectory {self.dir}/db\nLogFile {self.dir}/clamd.log\n"
                    f"StreamMaxLength {stream_max}\n")
        self.proc = None
        self.startup_ms = None

    def ping(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(self.sock)
                s.sendall(b"zPING\0")
                return s.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen([CLAMD, f"--config-file={self.conf}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.proc.poll() is not None or self.ping(), timeout=60,
                 what="clamd")
        assert self.proc.poll() is None, open(os.path.join(self.dir, "clamd.log")).read()
        self.startup_ms = (time.monotonic() - t0) * 1000
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def module_dir():
    d = tempfile.mkdtemp(prefix="rampart-netlayers-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start_dnsmasq(root, options):
    return Dnsmasq(root, options).start()


def dnsmasq_fixture(options):
    """A module-scoped fixture `dns`: dnsmasq serving options for the tests
    of one module (which also imports module_dir), stopped after them."""
    @pytest.fixture(scope="module")
    def dns(module_dir):
        d = start_dnsmasq(module_dir, options)
        yield d
        d.stop()
    return dns


# ---- the JSON API over the node's local socket ------------------------

class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def api(node, method, path, body=None):
    """(status, parsed JSON or None) of /api/v1<path> on node's control
    socket (trusted: the administrator)."""
    c = _UnixHTTP(os.path.join(node.data, "rampart.sock"))
    try:
        data = json.dumps(body) if body is not None else None
        c.request(method, "/api/v1" + urllib.parse.quote(path), body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        c.close()


def set_zone(node, kind, zone, **value):
    """Adds or replaces a DNSBL/URIBL zone ("dnsbl" or "uribl")."""
    status, resp = api(node, "PUT", f"/{kind}/{zone}", value)
    assert status in (200, 201), (status, resp)
    return resp


# ---- SMTP from a chosen loopback source address -----------------------

def send_from(node, source, frm, rcpts, data, helo="client.test"):
    """One message over a raw SMTP connection from source (e.g.
    127.0.0.2); returns (code, text) of the reply to the data, or of the
    first command that failed."""
    if isinstance(data, str):
        data = data.encode()
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    with node.raw(source=source, timeout=60) as c:
        for line in [f"EHLO {helo}", f"MAIL FROM:<{frm}>"] + [f"RCPT TO:<{r}>" for r in rcpts]:
            code, text = c.cmd(line)
            if code >= 400:
                return code, text
        code, text = c.cmd("DATA")
        if code != 354:
            return code, text
        c.send(data + b".\r\n")
        reply = c.reply()
        c.cmd("QUIT")
        return reply


def last_log_row(node):
    rows = node.msglog()["rows"]
    assert rows, "no message log row"
    return rows[0]

"""Shared fixtures for system tests: real rampartd processes on loopback,
real destination servers (Postfix's smtp-sink, or a second rampartd)."""
import glob
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

BUILD = os.environ.get("RAMPART_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
BUILD = os.path.abspath(BUILD)
SOURCE = os.path.abspath(os.environ.get("RAMPART_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", ".."))
RAMPARTD = os.path.join(BUILD, "rampartd")
RAMPART = os.path.join(BUILD, "rampart")


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


class Node:
    """One rampartd with its own data directory and ports."""

    def __init__(self, root, name="node", extra_conf=""):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.conf = os.path.join(self.dir, "rampart.conf")
        self.log_path = os.path.join(self.dir, "rampartd.log")
        with open(self.conf, "w") as f:
            f.write(f"data_dir = {self.data}\n"
                    f"smtp_listen = 127.0.0.1:{self.smtp_port}\n"
                    f"http_listen = 127.0.0.1:{self.http_port}\n"
                    f"hostname = {name}.test\n"
                    f"log_level = debug\n" + extra_conf)
        self.proc = None

    # -- process control --
    def start(self, wait=True):
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([RAMPARTD, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        if wait:
            wait_for(lambda: port_open(self.smtp_port) or self.proc.poll() is not None,
                     what="rampartd to listen")
            assert self.proc.poll() is None, self.log()
            wait_for(lambda: os.path.exists(os.path.join(self.data, "rampart.sock")),
                     what="control socket")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- interfaces --
    def cli(self, *args, check=True, json_out=False):
        cmd = [RAMPART, "-c", self.conf] + (["--json"] if json_out else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
        if json_out and r.returncode == 0:
            return json.loads(r.stdout)
        return r

    def smtp(self, timeout=30):
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=timeout)
        return s

    def maildir_files(self, maildir, rcpt):
        return sorted(glob.glob(os.path.join(maildir, rcpt, "new", "*")))


class Sink:
    """Postfix's smtp-sink: accepts everything (or rejects as told) and
    dumps each transaction into a file."""

    def __init__(self, root, extra_args=()):
        self.dir = tempfile.mkdtemp(dir=root, prefix="sink")
        self.port = free_port()
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
    for n in nodes:
        if n.proc:
            n.stop(timeout=10)


@pytest.fixture
def make_sink(workdir):
    sinks = []

    def factory(*args):
        s = Sink(workdir, args).start()
        sinks.append(s)
        return s

    yield factory
    for s in sinks:
        s.stop()


def simple_message(subject="test", body="hello\r\n", frm="sender@outside.test",
                   to="user@example.test", extra_headers=""):
    return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@outside.test>\r\n{extra_headers}\r\n{body}")

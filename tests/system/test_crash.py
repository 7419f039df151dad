"""Durability and shutdown: kill -9 in the middle of a stream of
messages loses nothing that was answered 250; SIGTERM drains open
sessions, refuses new ones and exits 0."""
import re
import signal
import smtplib
import threading
import time

import pytest

from conftest import maildir_messages, simple_message, wait_for

TOTAL = 500
THREADS = 8
KILL_AFTER = 150          # acknowledged messages before the kill


class Stream:
    """Several client threads sending numbered messages; records which
    ones were answered 250."""

    def __init__(self, port, ids):
        self.port = port
        self.todo = list(ids)
        self.acked = set()
        self.unacked = set()       # attempted, no 250 seen
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def take(self):
        with self.lock:
            return self.todo.pop(0) if self.todo and not self.stop.is_set() else None

    def worker(self, k):
        while not self.stop.is_set():
            i = None
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                    s.ehlo(f"client{k}.test")
                    while True:
                        i = self.take()
                        if i is None:
                            return
                        msg = simple_message(subject=f"crash {i}", to=f"u{i % 4}@example.test",
                                             extra_headers=f"X-Test-Id: crash-{i}\r\n")
                        s.sendmail("s@outside.test", [f"u{i % 4}@example.test"], msg)
                        with self.lock:
                            self.acked.add(i)
                        i = None
            except (smtplib.SMTPException, OSError):
                if i is not None:
                    with self.lock:
                        self.unacked.add(i)
                time.sleep(0.05)

    def run(self, until=None):
        """Runs the threads; until() is polled and stops the stream (after
        the caller's action) when it returns true."""
        threads = [threading.Thread(target=self.worker, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        if until:
            wait_for(until, timeout=120, interval=0.01, what="stream progress")
            self.stop.set()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)


def delivered_ids(maildir):
    out = []
    for _, data in maildir_messages(maildir):
        m = re.search(rb"^X-Test-Id: crash-(\d+)$", data, re.M)
        assert m, data[:500]
        out.append(int(m.group(1)))
    return out


def test_kill9_during_stream_loses_nothing(make_node, workdir, summary):
    dest = make_node("n2")
    maildir = f"{workdir}/mail2"
    dest.add_domain("example.test", f"maildir:{maildir}")
    n = make_node("n1")
    n.add_domain("example.test", f"smtp:127.0.0.1:{dest.smtp_port}")

    phase1 = Stream(n.smtp_port, range(TOTAL))
    killed = {}

    def kill_when_ready():
        if len(phase1.acked) >= KILL_AFTER:
            n.kill9()
            killed["at"] = len(phase1.acked)
            return True
        return False

    t0 = time.time()
    phase1.run(until=kill_when_ready)
    acked_before = set(phase1.acked)
    summary(f"kill -9 after {killed['at']} acks ({time.time() - t0:.1f}s into the stream): "
            f"{len(acked_before)} acked before the kill, {len(phase1.unacked)} in flight "
            f"without a reply")

    n.start()
    recovered = re.findall(r"recovered (\d+) message\(s\), (\d+) to be scanned again", n.log())
    # the client side of a real MTA resends what never got its 250
    rest = sorted(set(range(TOTAL)) - acked_before)
    phase2 = Stream(n.smtp_port, rest)
    phase2.run()
    assert phase2.acked == set(rest), "the restarted node accepts the rest"

    def all_there():
        got = set(delivered_ids(maildir))
        return acked_before <= got and set(range(TOTAL)) <= got

    try:
        wait_for(all_there, timeout=120, interval=0.5, what="every acked message delivered")
    finally:
        ids = delivered_ids(maildir)
        uniq = set(ids)
        lost = sorted(acked_before - uniq)
        summary(f"acked before kill: {len(acked_before)}, resent after restart: {len(rest)}, "
                f"recovered at start (loaded, rescanned): {recovered}, delivered files: "
                f"{len(ids)}, unique: {len(uniq)}, duplicates: {len(ids) - len(uniq)}, "
                f"lost: {len(lost)} {lost[:20]}")
    n.wait_queue_empty(timeout=60)
    dest.wait_queue_empty(timeout=60)
    assert not lost
    assert uniq == set(range(TOTAL))


def open_data(node):
    c = node.raw(timeout=30)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: drain\r\nX-Test-Id: crash-1\r\n\r\nfirst half\r\n")
    return c


@pytest.fixture
def node(make_node, workdir):
    n = make_node("n1")
    n.maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{n.maildir}")
    return n


def test_sigterm_drain_finishes_data(node):
    busy = open_data(node)
    idle = node.raw()
    assert idle.cmd("EHLO client.test")[0] == 250
    time.sleep(0.2)
    node.expect_exit = True
    node.proc.send_signal(signal.SIGTERM)
    # an idle session is told at once
    code, text = idle.reply()
    assert code == 421 and text.startswith("4.3.2"), (code, text)
    assert idle.wait_closed(5)
    idle.close()
    # the session in DATA finishes and gets its verdict, then 421
    time.sleep(0.5)
    assert node.proc.poll() is None, "still draining while a session is in DATA"
    busy.send(b"second half\r\n.\r\n")
    code, text = busy.reply()
    assert code == 250 and "queued as" in text, (code, text)
    code, text = busy.reply()
    assert code == 421 and text.startswith("4.3.2"), (code, text)
    assert busy.wait_closed(5)
    busy.close()
    assert node.proc.wait(10) == 0
    node.proc = None
    # the accepted message was kept and is delivered after a restart
    node.start()
    got = wait_for(lambda: maildir_messages(node.maildir), what="delivery after restart")
    assert len(got) == 1 and b"second half" in got[0][1]


def test_new_connections_refused_while_draining(node):
    busy = open_data(node)
    node.expect_exit = True
    try:
        time.sleep(0.2)
        node.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        t0 = time.time()
        try:
            c = node.raw(timeout=3)
            code, text = c.banner
            c.close()
            assert code == 421 and text.startswith("4.3.2"), (code, text)
        except ConnectionRefusedError:
            pass   # a closed listener is a clear refusal too
        except TimeoutError:
            pytest.fail("a new connection during drain got no reply in "
                        f"{time.time() - t0:.1f}s (expected 421 or refused)")
    finally:
        busy.close()
    assert node.proc.wait(10) == 0
    node.proc = None


def test_drain_timeout_ends_stuck_sessions(node):
    node.set("smtp_drain_timeout", "2")
    stuck = open_data(node)
    t0 = time.time()
    node.expect_exit = True
    node.proc.send_signal(signal.SIGTERM)
    code, text = stuck.reply()
    waited = time.time() - t0
    assert code == 421 and text.startswith("4.3.2"), (code, text)
    assert 1.5 <= waited <= 6, waited
    assert stuck.wait_closed(5)
    stuck.close()
    assert node.proc.wait(10) == 0
    node.proc = None
    # the half-received message was never accepted, so it is gone
    node.start()
    time.sleep(1)
    assert node.status()["queue_messages"] == 0
    assert maildir_messages(node.maildir) == []
    assert node.msglog()["total"] == 0


def test_second_sigterm_exits_at_once(node):
    stuck = open_data(node)
    node.expect_exit = True
    try:
        node.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert node.proc.poll() is None
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(5) == 0
        node.proc = None
    finally:
        stuck.close()


def test_destination_killed_mid_delivery(make_node, workdir, summary):
    """kill -9 of the destination while n1 delivers to it: n1 retries and
    everything it accepted arrives once the destination is back."""
    dest = make_node("n2")
    maildir = f"{workdir}/mail2"
    dest.add_domain("example.test", f"maildir:{maildir}")
    n = make_node("n1")
    n.add_domain("example.test", f"smtp:127.0.0.1:{dest.smtp_port}")
    n.set("queue_retry_min", "1")
    n.set("queue_retry_max", "2")
    count = 200
    stream = Stream(n.smtp_port, range(count))

    def kill_dest():
        if len(maildir_messages(maildir)) >= 30:
            dest.kill9()
            return True
        return False

    t = threading.Thread(target=stream.run)
    t.start()
    wait_for(kill_dest, timeout=60, interval=0.02, what="some deliveries before the kill")
    t.join(120)
    assert stream.acked == set(range(count)), "n1 keeps accepting while its destination is down"
    before = len(maildir_messages(maildir))
    time.sleep(1)
    dest.start()
    wait_for(lambda: set(range(count)) <= set(delivered_ids(maildir)), timeout=90,
             interval=0.5, what="every message delivered after the destination restart")
    n.wait_queue_empty(timeout=30)
    ids = delivered_ids(maildir)
    summary(f"destination killed after {before} deliveries; after restart: {len(ids)} files, "
            f"{len(set(ids))} unique of {count}, duplicates {len(ids) - len(set(ids))}")

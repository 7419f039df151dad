"""The delivery queue: persistence across a restart, retries with
backoff, permanent failures and their DSNs (RFC 3464), per-recipient
results, and the queue lifetime."""
import email
import email.policy
import re
import signal
import time

import pytest

from conftest import free_port, maildir_messages, simple_message, wait_for


@pytest.fixture
def node(make_node, workdir):
    """n1 with senders.test (where bounces go) delivered to a Maildir."""
    n = make_node("n1")
    n.bounces = f"{workdir}/bounces"
    n.add_domain("senders.test", f"maildir:{n.bounces}")
    return n


def sink_ids(sink):
    """X-Test-Id header values of every message smtp-sink received."""
    return [m.group(1).decode() for d in sink.messages()
            for m in [re.search(rb"^X-Test-Id: (\S+)", d, re.M)] if m]


def tagged(i, subject="queued", frm="alice@senders.test", to="bob@example.test"):
    return simple_message(subject=f"{subject} {i}", frm=frm, to=to,
                          extra_headers=f"X-Test-Id: id-{i}\r\n")


def rcpt_states(node):
    return [(r["address"], r["state"], r["attempts"]) for m in node.queue()
            for r in m["recipients"]]


def parse_dsn(raw):
    """The DSN as (message, notice text, per-message fields, [per-recipient
    fields], returned headers text), checking its RFC 3464 shape."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"], parts
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2, "per-message fields and at least one recipient"
    return msg, parts[0].get_content(), blocks[0], blocks[1:], parts[2].get_payload()


def bounces(node, to="alice@senders.test"):
    return [m for r, m in maildir_messages(node.bounces) if r == to]


def test_restart_with_queued_mail(node, make_sink):
    port = free_port()                      # nothing listens here yet
    node.add_domain("example.test", f"smtp:127.0.0.1:{port}")
    for i in range(3):
        assert node.send("alice@senders.test", ["bob@example.test"], tagged(i)) == {}
    # the first attempt fails (connection refused) and is deferred
    wait_for(lambda: all(a >= 1 for _, _, a in rcpt_states(node)) and
             len(rcpt_states(node)) == 3, what="first attempts")
    q = node.queue()
    assert len(q) == 3
    for m in q:
        assert m["from"] == "alice@senders.test"
        r = m["recipients"][0]
        assert r["address"] == "bob@example.test" and r["state"] == "pending"
        assert r["last_reply"] and r["next_attempt"]
    text = node.cli("queue", "list").stdout
    assert "bob@example.test" in text and "pending" in text
    assert node.status()["queue_messages"] == 3

    assert node.stop(signal.SIGTERM) == 0
    node.start()
    q2 = node.queue()
    assert sorted(m["id"] for m in q2) == sorted(m["id"] for m in q)
    assert all(m["recipients"][0]["attempts"] >= 1 for m in q2), "attempts survive a restart"

    sink = make_sink(port=port)
    out = node.cli("queue", "flush", json_out=True)
    assert out["flushed"] in (1, True)
    node.wait_queue_empty(timeout=30)
    time.sleep(1.5)  # a duplicate would show up by now
    assert sorted(sink_ids(sink)) == ["id-0", "id-1", "id-2"], "each delivered exactly once"
    rows = node.msglog()["rows"]
    assert [r["delivery"] for r in rows] == ["delivered"] * 3


def test_retry_with_backoff(node, make_sink):
    node.set("queue_retry_min", "1")
    node.set("queue_retry_max", "4")
    port = free_port()
    node.add_domain("example.test", f"smtp:127.0.0.1:{port}")
    t0 = time.time()
    node.send("alice@senders.test", ["bob@example.test"], tagged(0))
    # attempts at about 0, 1, 3, 7 s (1 s, 2 s, 4 s apart; capped at 4 s)
    wait_for(lambda: rcpt_states(node)[0][2] >= 4, timeout=20, what="4 attempts")
    elapsed = time.time() - t0
    assert 5 <= elapsed <= 15, elapsed
    delays = [int(x) for x in re.findall(r"deferred \(attempt \d+, next in (\d+)s\)", node.log())]
    assert delays[:4] == [1, 2, 4, 4], delays
    m = node.metrics()
    assert m['rampart_delivery_results_total{result="deferred"}'] >= 4
    rows = node.msglog()["rows"]
    assert rows[0]["delivery"] == "deferred"
    # the destination comes up: the next retry delivers without a flush
    sink = make_sink(port=port)
    node.wait_queue_empty(timeout=15)
    assert sink_ids(sink) == ["id-0"]
    assert bounces(node) == []
    wait_for(lambda: node.msglog()["rows"][0]["delivery"] == "delivered", what="log update")


def test_permanent_failure_sends_dsn(node, make_sink):
    sink = make_sink("-f", "RCPT")          # every RCPT gets a 5xx
    node.add_domain("example.test", f"smtp:127.0.0.1:{sink.port}")
    orig = tagged(7, subject="doomed")
    assert node.send("alice@senders.test", ["bob@example.test"], orig) == {}
    got = wait_for(lambda: bounces(node), timeout=20, what="DSN delivered to the sender")
    node.wait_queue_empty()
    assert len(got) == 1
    raw = got[0]
    assert raw.startswith(b"Return-Path: <>\n"), "a DSN has the null envelope sender"
    msg, notice, per_msg, per_rcpt, headers = parse_dsn(raw)
    assert msg["To"] == "<alice@senders.test>" or "alice@senders.test" in msg["To"]
    assert "MAILER-DAEMON@n1.test" in msg["From"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert "Undelivered" in msg["Subject"]
    assert "bob@example.test" in notice
    assert per_msg["Reporting-MTA"] == "dns; n1.test"
    assert per_msg["Arrival-Date"]
    assert len(per_rcpt) == 1
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; bob@example.test"
    assert r["Action"] == "failed"
    assert re.fullmatch(r"5\.\d{1,3}\.\d{1,3}", r["Status"]), r["Status"]
    assert r["Diagnostic-Code"].startswith("smtp; 5"), r["Diagnostic-Code"]
    # the returned headers are the original ones
    assert "Subject: doomed 7" in headers and "X-Test-Id: id-7" in headers
    # bookkeeping
    assert sink.messages() == []
    st = node.metrics()
    assert st["rampart_dsn_generated_total"] == 1
    assert st['rampart_delivery_results_total{result="failed"}'] == 1
    rows = node.msglog("--subject", "doomed")["rows"]
    assert rows[0]["delivery"] == "bounced"


def test_dsn_sender_is_postmaster_address(node, make_sink):
    """postmaster_address: "Sender of delivery status notifications"."""
    sink = make_sink("-f", "RCPT")
    node.add_domain("example.test", f"smtp:127.0.0.1:{sink.port}")
    node.set("postmaster_address", "bounce-handler@senders.test")
    node.send("alice@senders.test", ["bob@example.test"], tagged(3))
    got = wait_for(lambda: bounces(node), timeout=20, what="DSN")
    msg, *_ = parse_dsn(got[0])
    assert "bounce-handler@senders.test" in msg["From"], msg["From"]


def test_no_dsn_for_null_sender(node, make_sink):
    sink = make_sink("-f", "RCPT")
    node.add_domain("example.test", f"smtp:127.0.0.1:{sink.port}")
    with node.smtp() as s:
        s.ehlo("client.test")
        assert s.docmd("MAIL FROM:<>")[0] == 250
        assert s.rcpt("bob@example.test")[0] == 250
        assert s.data(simple_message(subject="bounce of a bounce"))[0] == 250
    node.wait_log(r"failed recipients of a bounce are dropped \(null sender\)")
    node.wait_queue_empty()
    time.sleep(1)
    assert maildir_messages(node.bounces) == []
    assert node.metrics()["rampart_dsn_generated_total"] == 0
    assert node.msglog()["rows"][0]["delivery"] == "bounced"


def test_mixed_recipient_results(make_node, node, workdir):
    dest = make_node("n2")
    md2 = f"{workdir}/mail2"
    dest.add_domain("a.test", f"maildir:{md2}")   # n2 refuses b.test (550 5.7.1)
    node.add_domain("a.test", f"smtp:127.0.0.1:{dest.smtp_port}")
    node.add_domain("b.test", f"smtp:127.0.0.1:{dest.smtp_port}")
    assert node.send("alice@senders.test", ["x@a.test", "y@b.test"],
                     tagged(1, subject="mixed", to="x@a.test")) == {}
    delivered = wait_for(lambda: maildir_messages(md2), what="x@a.test delivered")
    got = wait_for(lambda: bounces(node), what="DSN for y@b.test")
    node.wait_queue_empty()
    assert [r for r, _ in delivered] == ["x@a.test"]
    assert b"X-Test-Id: id-1" in delivered[0][1]
    assert len(got) == 1
    _, notice, _, per_rcpt, headers = parse_dsn(got[0])
    assert [r["Final-Recipient"] for r in per_rcpt] == ["rfc822; y@b.test"]
    assert per_rcpt[0]["Action"] == "failed"
    assert per_rcpt[0]["Status"] == "5.7.1"
    assert "x@a.test" not in notice, "the delivered recipient is not reported as failed"
    assert "Subject: mixed 1" in headers
    time.sleep(1)
    assert len(maildir_messages(md2)) == 1 and len(bounces(node)) == 1


def test_queue_lifetime_expiry(node, make_sink):
    sink = make_sink("-r", "RCPT")          # every RCPT gets a 4xx
    bad = node.cli("config", "set", "queue_lifetime", "59", check=False)
    assert bad.returncode != 0 and "queue_lifetime" in bad.stderr
    node.set("queue_lifetime", "1m")
    node.set("queue_retry_min", "1")
    node.set("queue_retry_max", "5")
    node.add_domain("example.test", f"smtp:127.0.0.1:{sink.port}")
    t0 = time.time()
    node.send("alice@senders.test", ["bob@example.test"], tagged(9, subject="slow"))
    wait_for(lambda: rcpt_states(node) and rcpt_states(node)[0][2] >= 2, what="retries")
    assert rcpt_states(node)[0][1] in ("pending", "delivering")
    assert bounces(node) == [], "no bounce before the lifetime is over"
    got = wait_for(lambda: bounces(node), timeout=90, interval=0.5, what="expiry DSN")
    elapsed = time.time() - t0
    assert 59 <= elapsed <= 75, elapsed
    node.wait_queue_empty()
    _, notice, _, per_rcpt, headers = parse_dsn(got[0])
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; bob@example.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.7"
    assert r["Diagnostic-Code"].startswith("smtp; 4"), r["Diagnostic-Code"]
    assert "Subject: slow 9" in headers
    node.wait_log(r"expired after \d+ attempts")
    assert sink.messages() == []

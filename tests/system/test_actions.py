"""Actions decided by the scoring thresholds, per recipient: tag (subject
prefix + X-Spam headers), quarantine (kept, not delivered), block (554
when every recipient blocks, dropped for that recipient otherwise), and
the [QUAR]: copy for a user whose quarantine is off."""
import email
import json
import os
import sqlite3

import pytest

from conftest import maildir_messages, simple_message


@pytest.fixture
def node(make_node, workdir):
    n = make_node("n1")
    n.maildir = f"{workdir}/mail"
    for d in ("a.test", "b.test", "c.test"):
        n.add_domain(d, f"maildir:{n.maildir}")
    return n


def delivered(node, rcpt, subject_has=""):
    """Messages delivered to rcpt, leaving out rampart's own mail (the
    login link of an account made on the first quarantined message)."""
    out = []
    for who, data in maildir_messages(node.maildir):
        m = email.message_from_bytes(data)
        if who == rcpt and "quarantine account" not in (m["Subject"] or ""):
            out.append(m)
    return out


def test_tag_adds_prefix_and_headers(node):
    # every message scores >= -1: tagging for a.test only
    node.set("tag_score", "-1", scope="domain:a.test")
    node.send("s@outside.test", ["u@a.test", "u@b.test"], simple_message(subject="hello"))
    node.wait_queue_empty()
    tagged = delivered(node, "u@a.test")
    plain = delivered(node, "u@b.test")
    assert len(tagged) == 1 and len(plain) == 1
    assert tagged[0]["Subject"] == "[BULK] hello"
    assert tagged[0]["X-Spam-Flag"] == "YES"
    assert tagged[0]["X-Spam-Status"].startswith("Yes, score=")
    assert plain[0]["Subject"] == "hello" and plain[0]["X-Spam-Flag"] is None
    row = node.msglog("--rcpt", "u@a.test")["rows"][0]
    assert row["action"] == "tag"


def test_quarantine_keeps_message_per_recipient(node):
    node.set("quarantine_score", "-1", scope="domain:a.test")
    node.send("s@outside.test", ["q@a.test", "d@b.test"], simple_message(subject="q1"))
    node.wait_queue_empty()
    assert delivered(node, "q@a.test") == []
    assert len(delivered(node, "d@b.test")) == 1
    db = sqlite3.connect(os.path.join(node.data, "rampart.db"))
    rows = db.execute("SELECT rcpt, subject FROM quarantine").fetchall()
    assert rows == [("q@a.test", "q1")]
    # the quarantined copy is the whole message, safe on disk
    qfiles = os.listdir(os.path.join(node.data, "quarantine"))
    assert len(qfiles) == 1
    # the recipient's account was made, and its login mail sent
    assert any("quarantine account" in (email.message_from_bytes(d)["Subject"] or "")
               for who, d in maildir_messages(node.maildir) if who == "q@a.test")


def test_block_all_recipients_is_554(node):
    node.set("block_score", "-1", scope="domain:a.test")
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<x@a.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(to="x@a.test").encode() + b".\r\n")
        code, text = c.reply()
        assert code == 554 and text.startswith("5.7.1"), (code, text)
    assert node.msglog("--action", "block")["total"] == 1
    # nothing was accepted, nothing stays in the spool
    assert os.listdir(os.path.join(node.data, "spool", "queue")) == []


def test_block_one_recipient_delivers_the_others(node):
    node.set("block_score", "-1", scope="domain:a.test")
    refused = node.send("s@outside.test", ["x@a.test", "y@b.test"], simple_message())
    assert refused == {}  # 250: never rejected for all because of one
    node.wait_queue_empty()
    assert delivered(node, "x@a.test") == []
    assert len(delivered(node, "y@b.test")) == 1


def test_user_with_quarantine_off_gets_quar_prefix(node):
    node.set("quarantine_score", "-1")
    node.set("quarantine_enabled", "false", scope="user:off@c.test")
    node.send("s@outside.test", ["off@c.test", "on@c.test"], simple_message(subject="deal"))
    node.wait_queue_empty()
    got = delivered(node, "off@c.test")
    assert len(got) == 1 and got[0]["Subject"] == "[QUAR]: deal"
    assert delivered(node, "on@c.test") == []  # quarantined as usual


def test_user_thresholds_override_domain(node):
    node.set("block_score", "-1", scope="domain:b.test")
    node.set("block_score", "20", scope="user:vip@b.test")
    node.send("s@outside.test", ["vip@b.test", "other@b.test"], simple_message())
    node.wait_queue_empty()
    assert len(delivered(node, "vip@b.test")) == 1
    assert delivered(node, "other@b.test") == []

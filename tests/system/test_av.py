"""Virus scanning end to end: rampartd over SMTP streaming every message
to a real clamd (one per module, its own signature database, no
network). Infected -> 554 (or quarantine), a zipped attachment is
unpacked by clamd, clean mail delivered, clamd down -> 451 4.3.0 by
default (nothing lost) or accepted with a warning, and a message over
clamd's StreamMaxLength accepted unscanned."""
import base64
import io
import time
import zipfile

import pytest

from conftest import maildir_messages, simple_message, wait_for
from servers import (AV_TEST_STRING, AV_TEST_VIRUS, Clamd, last_log_row, module_dir,
                     send_from)

RCPT = "user@example.test"


@pytest.fixture(scope="module")
def clamd(module_dir):
    c = Clamd(module_dir, stream_max="1M").start()
    print(f"clamd started in {c.startup_ms:.0f} ms")
    assert c.startup_ms < 30000
    yield c
    c.cleanup()


@pytest.fixture
def node(make_node, workdir, clamd):
    n = make_node("n1", extra_conf=f"clamd = {clamd.sock}\n")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    n.maildir = f"{workdir}/mail"
    return n


def zipped_message():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("invoice.txt", f"payload {AV_TEST_STRING} payload\n" * 20)
    b64 = base64.encodebytes(buf.getvalue()).decode().replace("\n", "\r\n")
    assert AV_TEST_STRING not in b64
    return ("From: <a@outside.test>\r\nTo: <user@example.test>\r\nSubject: invoice\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
            "--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--XX\r\nContent-Type: application/zip; name=\"invoice.zip\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"invoice.zip\"\r\n\r\n"
            f"{b64}--XX--\r\n")


def test_infected_blocked_clean_delivered(node):
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(body=f"hello {AV_TEST_STRING}\r\n"))
    assert code == 554, text
    assert AV_TEST_VIRUS in text, text
    row = last_log_row(node)
    assert row["layer"] == "virus" and row["action"] == "block", row
    assert "VIRUS_RAMPART_TEST_SIGNATURE_UNOFFICIAL" in row["rules"], row
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(subject="clean"))
    assert code == 250, text
    msgs = wait_for(lambda: maildir_messages(node.maildir), what="delivery")
    assert len(msgs) == 1 and b"Subject: clean" in msgs[0][1]


def test_zipped_attachment(node):
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT], zipped_message())
    assert code == 554, text
    assert AV_TEST_VIRUS in text, text


def test_quarantine_action(node):
    node.set("av_infected_action", "quarantine")
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT], zipped_message())
    assert code == 250, text
    row = last_log_row(node)
    assert row["action"] == "quarantine" and row["layer"] == "virus", row
    time.sleep(0.5)
    # nothing delivered but rampart's own mail (null sender): the login
    # link of the account made for the recipient's first quarantined message
    assert [m for m in maildir_messages(node.maildir)
            if not m[1].startswith(b"Return-Path: <>")] == []


def test_oversize_accepted_unscanned(node):
    # 1.5 MB, over the module clamd's 1M StreamMaxLength
    body = ("x" * 998 + "\r\n") * 1500 + AV_TEST_STRING + "\r\n"
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(subject="big", body=body))
    assert code == 250, text
    node.wait_log(r"av: clamd: INSTREAM size limit exceeded.*accepted unscanned")
    node.set("av_oversize", "tempfail")
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(subject="big", body=body))
    assert code == 451, text


def test_clamd_down(make_node, workdir, module_dir):
    """clamd not running: 451 4.3.0 by default (the sender retries), or
    accepted with a warning when av_unreachable is accept."""
    n = make_node("n1", extra_conf=f"clamd = {module_dir}/no-clamd.sock\n")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    code, text = send_from(n, "127.0.0.1", "a@outside.test", [RCPT], simple_message())
    assert code == 451, text
    assert text.startswith("4.3.0"), text
    assert last_log_row(n)["action"] == "tempfail"
    n.set("av_unreachable", "accept")
    code, text = send_from(n, "127.0.0.1", "a@outside.test", [RCPT], simple_message())
    assert code == 250, text
    n.wait_log(r"av: cannot connect to clamd .*accepted unscanned")
    wait_for(lambda: maildir_messages(f"{workdir}/mail"), what="delivery")


def test_clamd_dies_and_comes_back(make_node, workdir, module_dir):
    """A clamd of our own that stops mid-life: tempfail while it is down,
    scanning again once it is back."""
    c = Clamd(module_dir).start()
    try:
        n = make_node("n1", extra_conf=f"clamd = {c.sock}\n")
        n.add_domain("example.test", f"maildir:{workdir}/mail")
        bad = simple_message(body=f"{AV_TEST_STRING}\r\n")
        assert send_from(n, "127.0.0.1", "a@outside.test", [RCPT], bad)[0] == 554
        c.stop()
        assert send_from(n, "127.0.0.1", "a@outside.test", [RCPT], bad)[0] == 451
        c.start()
        assert send_from(n, "127.0.0.1", "a@outside.test", [RCPT], bad)[0] == 554
    finally:
        c.cleanup()

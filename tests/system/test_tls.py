"""STARTTLS on the SMTP server (and the client side between two nodes):
negotiation, state reset, ESMTPS in Received, and no plaintext command
injection (CVE-2011-0411 style)."""
import re
import ssl
import subprocess

import pytest

from conftest import SMTPConn, maildir_messages, simple_message, unverified_tls, wait_for


@pytest.fixture
def node(make_node, workdir):
    n = make_node("n1")
    n.maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{n.maildir}")
    return n


def tls_wrap(c):
    """Switches an SMTPConn to TLS (after the 220 to STARTTLS)."""
    assert c.buf == b"", f"server sent data before the handshake: {c.buf!r}"
    c.sock = unverified_tls().wrap_socket(c.sock, server_hostname="n1.test")
    return c


def test_starttls_with_smtplib(node):
    with node.smtp() as s:
        code, text = s.ehlo("client.test")
        assert code == 250 and s.has_extn("starttls"), text
        code, text = s.starttls(context=unverified_tls())
        assert code == 220, text
        assert isinstance(s.sock, ssl.SSLSocket)
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, text = s.ehlo("client.test")
        assert code == 250
        assert not s.has_extn("starttls"), "STARTTLS must not be offered inside TLS"
        assert s.has_extn("size") and s.has_extn("pipelining")
        # a second STARTTLS is refused
        code, text = s.docmd("STARTTLS")
        assert code == 503, (code, text)
        assert s.sendmail("s@outside.test", ["u@example.test"],
                          simple_message(subject="over tls")) == {}
    got = wait_for(lambda: maildir_messages(node.maildir), what="delivery")
    msg = got[0][1]
    rec = re.search(rb"^Received: .*(?:\n\t.*)*", msg, re.M).group(0)
    assert b"by n1.test (rampart) with ESMTPS id" in rec, rec
    rows = node.msglog()["rows"]
    assert rows[0]["subject"] == "over tls" and rows[0]["delivery"] == "delivered"


def test_plain_session_says_esmtp(node):
    node.send("s@outside.test", ["u@example.test"], simple_message())
    msg = wait_for(lambda: maildir_messages(node.maildir), what="delivery")[0][1]
    assert b"with ESMTP id" in msg and b"ESMTPS" not in msg


def test_server_certificate(node):
    with node.smtp() as s:
        s.ehlo("client.test")
        s.starttls(context=unverified_tls())
        der = s.sock.getpeercert(binary_form=True)
    assert der
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                         input=der, capture_output=True, check=True).stdout
    assert b"n1.test" in out, out


def test_starttls_command_injection(node):
    """Commands pipelined in clear text after STARTTLS are discarded."""
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        c.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@evil.test>\r\n")
        code, text = c.reply()
        assert code == 220, (code, text)
        tls_wrap(c)
        code, text = c.cmd("EHLO client.test")
        # the first reply inside TLS answers our EHLO, not an injected RSET
        assert code == 250 and "Hello client.test" in text, (code, text)
        assert "STARTTLS" not in text
        # MAIL was not executed: a new MAIL is accepted (not 503)
        code, text = c.cmd("MAIL FROM:<good@outside.test>")
        assert code == 250 and "good@outside.test" in text, (code, text)
        assert c.cmd("RCPT TO:<u@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: after tls\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        # (QUIT inside TLS: see test_replies_before_close_inside_tls)
    msg = wait_for(lambda: maildir_messages(node.maildir), what="delivery")[0][1]
    assert msg.startswith(b"Return-Path: <good@outside.test>")
    assert b"injected" not in node.log().encode()


def test_state_before_tls_is_forgotten(node):
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        assert c.cmd("STARTTLS")[0] == 220
        tls_wrap(c)
        # RFC 3207: no EHLO yet, no transaction
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 503
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("RCPT TO:<u@example.test>")[0] == 503
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        assert c.cmd("RSET")[0] == 250


def test_starttls_errors_and_broken_handshake(node):
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("STARTTLS now")[0] == 501
        assert c.cmd("STARTTLS")[0] == 220
        # not a TLS ClientHello: the server drops the session
        c.send(b"EHLO this is not tls\r\n" * 10)
        assert c.wait_closed(10)
    with node.raw() as c:
        assert c.cmd("STARTTLS")[0] == 220
        c.close()   # client gives up mid-handshake
    node.answers()
    assert wait_for(lambda: node.status()["smtp_sessions"] == 0, timeout=5,
                    what="sessions gone")


def test_relay_between_nodes_uses_tls(make_node, workdir):
    dest = make_node("n2")
    maildir = f"{workdir}/mail2"
    dest.add_domain("example.test", f"maildir:{maildir}")
    n = make_node("n1")
    n.add_domain("example.test", f"smtp:127.0.0.1:{dest.smtp_port}")
    n.send("s@outside.test", ["u@example.test"], simple_message(subject="hop"))
    msg = wait_for(lambda: maildir_messages(maildir), what="delivery via n2")[0][1]
    recs = re.findall(rb"^Received: .*(?:\n\t.*)*", msg, re.M)
    assert b"from n1.test" in recs[0] and b"by n2.test (rampart) with ESMTPS" in recs[0], recs
    assert b"by n1.test (rampart) with ESMTP id" in recs[1]


def test_many_tls_sessions(node):
    for i in range(10):
        c = SMTPConn(node.smtp_port)
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("STARTTLS")[0] == 220
        tls_wrap(c)
        assert c.cmd("EHLO client.test")[0] == 250
        if i % 2:
            assert c.cmd("NOOP")[0] == 250
        c.close()
    node.answers()


def test_replies_before_close_inside_tls(node):
    """The last reply before the server closes (221 to QUIT, 421 for too
    many errors) must reach a TLS client too."""
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("STARTTLS")[0] == 220
        tls_wrap(c)
        assert c.cmd("EHLO client.test")[0] == 250
        c.send("NOOP\r\nQUIT\r\n")
        assert c.reply()[0] == 250
        code, text = c.reply()
        assert code == 221, (code, text)
    node.set("smtp_max_errors", "2")
    with node.raw() as c:
        assert c.cmd("STARTTLS")[0] == 220
        tls_wrap(c)
        assert c.cmd("BOGUS")[0] == 500
        c.send("BOGUS\r\n")
        assert c.reply()[0] == 500
        code, text = c.reply()
        assert code == 421 and text.startswith("4.7.0"), (code, text)

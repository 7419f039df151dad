"""The gateway's own names (BASIC -> Administration): default_hostname
(node-local) in the greeting, EHLO, Received: headers and DSNs;
default_domain for a bare <postmaster> and the MAILER-DAEMON sender of
notices; bad values refused with a clear error."""
import email
import email.policy

import pytest

from conftest import maildir_messages, simple_message, wait_for


def greeting_and_ehlo(node):
    with node.raw() as c:
        banner = c.banner
        code, lines = c.cmd("EHLO client.test")
        assert code == 250
        c.cmd("QUIT")
    return banner, lines


def test_default_hostname_names_this_node(make_node, workdir):
    n = make_node("n1")
    banner, lines = greeting_and_ehlo(n)
    assert "n1.test" in str(banner), "blank: the bootstrap file's hostname"
    n.set("default_hostname", "mx1.example.test", scope="node")
    banner, lines = greeting_and_ehlo(n)
    assert "mx1.example.test ESMTP" in str(banner), banner
    assert "mx1.example.test Hello client.test" in str(lines), lines
    # Received: of delivered mail names the new host
    maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{maildir}")
    assert n.send("a@outside.test", ["bob@example.test"], simple_message(to="bob@example.test")) == {}
    files = wait_for(lambda: n.maildir_files(maildir, "bob@example.test"), what="delivery")
    with open(files[0], "rb") as f:
        raw = f.read()
    assert b"by mx1.example.test (rampart)" in raw, raw[:400]
    # node-local: the global scope is refused with the scopes it allows
    r = n.cli("config", "set", "default_hostname", "x.example.test", check=False)
    assert r.returncode != 0 and "node" in r.stderr, r.stderr
    assert n.status()["default_hostname"] == "mx1.example.test"


@pytest.mark.parametrize("name,value", [
    ("default_hostname", "bad_host!"), ("default_hostname", "-x.example"),
    ("default_domain", "exa mple.test"), ("default_domain", "a..b"),
])
def test_bad_names_refused(make_node, name, value):
    n = make_node("n1")
    scope = ["--scope", "node"] if name == "default_hostname" else []
    r = n.cli("config", "set", name, value, *scope, check=False)
    assert r.returncode != 0
    assert f"{name}: must be a host name" in r.stderr, r.stderr
    r = n.cli("config", "get", name, *scope, json_out=True)
    assert r["value"] == "", "nothing was stored"


def test_default_domain_for_postmaster_and_dsn(make_node, make_sink, workdir):
    n = make_node("n1")
    mail = f"{workdir}/mail"
    n.add_domain("corp.test", f"maildir:{mail}")
    # a bare <postmaster> goes to the bootstrap host name's domain, which is
    # not ours: refused; with default_domain = corp.test it is accepted
    with n.raw() as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<a@outside.test>")
        assert c.cmd("RCPT TO:<postmaster>")[0] == 550
    n.set("default_domain", "corp.test")
    assert n.send("a@outside.test", ["postmaster"], simple_message(to="postmaster")) == {}
    wait_for(lambda: [r for r, _ in maildir_messages(mail) if r == "postmaster@corp.test"],
             what="delivery to postmaster@corp.test")
    # a DSN comes from MAILER-DAEMON@<default_domain>, reported by the host name
    n.set("default_hostname", "gw.corp.test", scope="node")
    sink = make_sink("-f", "RCPT")          # every RCPT gets a 5xx
    n.add_domain("example.test", f"smtp:127.0.0.1:{sink.port}")
    assert n.send("alice@corp.test", ["bob@example.test"],
                  simple_message(frm="alice@corp.test", to="bob@example.test")) == {}
    got = wait_for(lambda: [m for r, m in maildir_messages(mail) if r == "alice@corp.test"],
                   timeout=20, what="DSN")
    msg = email.message_from_bytes(got[0], policy=email.policy.default)
    assert "MAILER-DAEMON@corp.test" in msg["From"], msg["From"]
    assert b"Reporting-MTA: dns; gw.corp.test" in got[0]

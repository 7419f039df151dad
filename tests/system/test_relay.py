"""Relay control: only configured domains are accepted, every classic
trick to relay through an accepted domain is refused, domain changes
apply at once, and the CLI refuses bad input with a clear message."""
import shutil
import tempfile

import pytest

from conftest import Node, maildir_messages, simple_message, wait_for


@pytest.fixture
def node(make_node, workdir):
    n = make_node("n1")
    n.maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{n.maildir}")
    return n


@pytest.fixture(scope="module")
def shared_node():
    """One node for the many read-only probes (refusals change nothing)."""
    root = tempfile.mkdtemp(prefix="rampart-test-")
    n = Node(root, "n1").start()
    n.maildir = f"{root}/mail"
    n.add_domain("example.test", f"maildir:{n.maildir}")
    yield n
    alive = n.running()
    rc = n.stop(timeout=10)
    log = n.log()
    shutil.rmtree(root, ignore_errors=True)
    assert alive and rc == 0, f"shared node died or failed to stop (rc {rc})\n{log[-4000:]}"


def rcpt(node, addr, frm="sender@outside.test"):
    """(code, text) of RCPT TO:<addr> in a fresh session (refusals count
    as errors, so each probe gets its own session)."""
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd(f"MAIL FROM:<{frm}>")[0] == 250
        reply = c.cmd(f"RCPT TO:{addr}")
        c.cmd("QUIT")
        return reply


DENIED = [
    ("<user@foreign.test>", "foreign domain"),
    ("<user@sub.example.test>", "subdomain of an accepted domain"),
    ("<user@example.test.foreign.test>", "accepted domain as a prefix"),
    ("<user%foreign.test@example.test>", "percent hack"),
    ("<foreign.test!user@example.test>", "bang path"),
    ("<@example.test:user@foreign.test>", "source route via us"),
    ("<@foreign.test:user@example.test>", "source route to us"),
    ("<@a.test,@b.test:user@example.test>", "multi-hop source route"),
    ('<"user@foreign.test"@example.test>', "quoted local part with @"),
    ('<"user%foreign.test"@example.test>', "quoted percent hack"),
    ("<user@[127.0.0.1]>", "IPv4 address literal"),
    ("<user@[IPv6:::1]>", "IPv6 address literal"),
    ("<user@example..test>", "empty label"),
]


@pytest.mark.parametrize("addr,why", DENIED, ids=[w for _, w in DENIED])
def test_relay_denied(shared_node, addr, why):
    code, text = rcpt(shared_node, addr)
    assert code == 550, (why, code, text)
    assert text.startswith("5.7.1"), (why, text)
    assert "denied" in text.lower()


def test_accepted_domains_case_insensitive_and_delivered(node):
    for addr in ["<user@example.test>", "<USER@EXAMPLE.TEST>", "<user@Example.Test>",
                 '<"quoted user"@example.test>']:
        code, text = rcpt(node, addr)
        assert code == 250, (addr, code, text)
        assert text.startswith("2.1.5")
    # and mail to the upper-case form is really delivered
    assert node.send("s@outside.test", ["Mixed@EXAMPLE.TEST"], simple_message()) == {}
    got = wait_for(lambda: maildir_messages(node.maildir), what="delivery")
    assert [r.lower() for r, _ in got] == ["mixed@example.test"]


def test_refused_rcpt_keeps_the_transaction(node):
    """A refused recipient does not spoil the accepted ones."""
    with node.smtp() as s:
        s.ehlo("client.test")
        s.mail("s@outside.test")
        assert s.rcpt("victim@foreign.test")[0] == 550
        assert s.rcpt("good@example.test")[0] == 250
        code, _ = s.data(simple_message(to="good@example.test"))
        assert code == 250
    got = wait_for(lambda: maildir_messages(node.maildir), what="delivery")
    assert [r for r, _ in got] == ["good@example.test"]
    rows = node.msglog()["rows"]
    assert rows[0]["rcpts"] == ["good@example.test"]


def test_bare_postmaster(node, workdir):
    # hostname n1.test is not a configured domain: nowhere to deliver it
    code, text = rcpt(node, "<postmaster>")
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    # once the host name is one of our domains, <postmaster> (any case)
    # is accepted and delivered to postmaster@<hostname>
    pm_dir = f"{workdir}/pm"
    node.add_domain("n1.test", f"maildir:{pm_dir}")
    for addr in ["<postmaster>", "<POSTMASTER>", "<PostMaster>"]:
        code, text = rcpt(node, addr)
        assert code == 250, (addr, code, text)
    # bare postmaster with a source route is still a relay attempt
    code, _ = rcpt(node, "<@foreign.test:postmaster>")
    assert code in (501, 550)
    with node.smtp() as s:
        s.ehlo("client.test")
        s.mail("s@outside.test")
        assert s.docmd("RCPT TO:<postmaster>")[0] == 250
        assert s.data(simple_message(to="postmaster"))[0] == 250
    got = wait_for(lambda: maildir_messages(pm_dir), what="postmaster delivery")
    assert [r for r, _ in got] == ["postmaster@n1.test"]
    # postmaster of a foreign domain is still foreign
    assert rcpt(node, "<postmaster@foreign.test>")[0] == 550


def test_domain_add_remove_applies_at_once(node, workdir):
    md = f"{workdir}/new"
    with node.raw() as c:
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<a@new.test>")[0] == 550
        out = node.add_domain("New.Test", f"maildir:{md}")
        assert out == {"name": "new.test", "destination": f"maildir:{md}"}
        # the same open session sees the change
        assert c.cmd("RCPT TO:<a@new.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[0] == 250
        lst = node.cli("domain", "list", json_out=True)
        assert sorted(d["name"] for d in lst) == ["example.test", "new.test"]
        r = node.cli("domain", "remove", "new.test")
        assert "new.test" in r.stdout
        assert c.cmd("MAIL FROM:<s@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<b@new.test>")[0] == 550
        assert c.cmd("RCPT TO:<b@example.test>")[0] == 250
        c.cmd("QUIT")
    wait_for(lambda: maildir_messages(md), what="delivery to the added domain")
    lst = node.cli("domain", "list", json_out=True)
    assert [d["name"] for d in lst] == ["example.test"]
    assert "example.test" in node.cli("domain", "list").stdout


CLI_ERRORS = [
    (["domain", "add", "x.test", "--destination", "ftp://host"], "destination"),
    (["domain", "add", "x.test", "--destination", "smtp:127.0.0.1:70000"], "port"),
    (["domain", "add", "x.test", "--destination", "smtp:"], "host"),
    (["domain", "add", "x.test", "--destination", "maildir:relative/path"], "absolute"),
    (["domain", "add", "x.test", "--destination", "maildir:/tmp/../etc"], ".."),
    (["domain", "add", "x.test"], "--destination"),
    (["domain", "add", "-bad-.test", "--destination", "maildir:/tmp/x"], "hyphen"),
    (["domain", "add", "nodot", "--destination", "maildir:/tmp/x"], "two labels"),
    (["domain", "remove", "never-added.test"], "not configured"),
    (["config", "set", "no_such_setting", "1"], "unknown setting"),
    (["config", "get", "no_such_setting"], "unknown setting"),
    (["config", "set", "smtp_max_recipients", "0"], "between 1 and 10000"),
    (["config", "set", "smtp_max_recipients", "10001"], "between 1 and 10000"),
    (["config", "set", "smtp_max_recipients", "many"], "integer"),
    (["config", "set", "smtp_max_message_size", "3G"], "between 1K and 2G"),
    (["config", "set", "smtp_command_timeout", "1s"], "between 5s and 1h"),
    (["config", "set", "queue_lifetime", "59"], "duration"),
    (["config", "set", "smtp_helo_required", "maybe"], "true or false"),
    (["config", "set", "tag_score", "nan"], "number"),
    (["config", "set", "postmaster_address", "not an address"], "email"),
    (["config", "set", "smtp_max_recipients", "5", "--scope", "domain:example.test"],
     "cannot be set at domain scope"),
    (["config", "set", "block_score", "5", "--scope", "planet:mars"], "bad scope"),
    (["nosuchcommand"], "unknown command"),
    (["log", "--since", "yesterday-ish"], "--since"),
]


@pytest.mark.parametrize("args,needle", CLI_ERRORS, ids=[" ".join(a) for a, _ in CLI_ERRORS])
def test_cli_errors(shared_node, args, needle):
    node = shared_node
    before = node.cli("config", "list", json_out=True)
    r = node.cli(*args, check=False)
    assert r.returncode != 0, (args, r.stdout)
    assert r.stderr.startswith("rampart: "), r.stderr
    assert needle.lower() in r.stderr.lower(), (needle, r.stderr)
    # nothing changed, and the domain list is intact
    assert node.cli("config", "list", json_out=True) == before
    assert [d["name"] for d in node.cli("domain", "list", json_out=True)] == ["example.test"]

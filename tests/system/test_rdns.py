"""Our Received: header carries the client's forward-confirmed reverse DNS
name, as Postfix writes it ("from HELO (NAME [IP])"), or "unknown": a real
dnsmasq serves the PTR and A records; clients connect from chosen
loopback addresses."""
import time


from conftest import maildir_messages, simple_message, wait_for
from servers import dnsmasq_fixture, module_dir  # noqa: F401 (fixture)

RECORDS = [
    # 127.0.0.5 <-> mail5.good.test: confirmed both ways
    "--ptr-record=5.0.0.127.in-addr.arpa,mail5.good.test",
    "--address=/mail5.good.test/127.0.0.5",
    # 127.0.0.6 claims a name that points elsewhere: not confirmed
    "--ptr-record=6.0.0.127.in-addr.arpa,forged.good.test",
    "--address=/forged.good.test/127.0.0.99",
    # 127.0.0.7 has no PTR record at all
]


dns = dnsmasq_fixture(RECORDS)


def received_from(node, source, tag):
    with node.raw(source=source) as c:
        time.sleep(0.3)        # a real client's pace: the lookup runs from the connection on
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<a@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<bob@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(subject=tag, to="bob@example.test") + "\r\n.\r\n")
        assert c.reply()[0] == 250
    msgs = wait_for(lambda: [m for _, m in maildir_messages(node.maildir)
                             if f"Subject: {tag}".encode() in m], what=f"delivery of {tag}")
    line = [x for x in msgs[0].split(b"\n") if x.startswith(b"Received: from client.test")]
    return line[0].decode()


def test_received_names_confirmed_client(make_node, workdir, dns):
    n = make_node("n1", extra_conf=f"dns_servers = {dns.server}\n")
    n.maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{n.maildir}")
    assert received_from(n, "127.0.0.5", "five") == \
        "Received: from client.test (mail5.good.test [127.0.0.5])"
    assert received_from(n, "127.0.0.6", "six") == \
        "Received: from client.test (unknown [127.0.0.6])"
    assert received_from(n, "127.0.0.7", "seven") == \
        "Received: from client.test (unknown [127.0.0.7])"
    asked = [q.lower() for q in dns.queries()]
    assert "5.0.0.127.in-addr.arpa" in asked and "mail5.good.test" in asked, asked

"""Delivery end to end: Maildir and SMTP destinations (smtp-sink and a
second rampartd), headers, dot-stuffing both ways, several recipients,
the message log, status and /metrics."""
import http.client
import random
import re
import time
import urllib.error
import urllib.request

from conftest import (maildir_messages, simple_message, unverified_tls, wait_for)

# Lines that test dot-(un)stuffing: a line starting with ".", one starting
# with "..", and a line that is a lone "." (must not end the message).
DOT_BODY_RAW = b"first line\r\n..leading dot\r\n...two dots\r\n..\r\nafter lone dot\r\n"
DOT_LINES = [b".leading dot", b"..two dots", b".", b"after lone dot"]


def raw_send(node, frm, rcpts, data, helo="client.test"):
    """Sends already dot-stuffed data (ending in CRLF) by hand; returns
    the final reply."""
    with node.raw() as c:
        assert c.cmd(f"EHLO {helo}")[0] == 250
        assert c.cmd(f"MAIL FROM:<{frm}>")[0] == 250
        for r in rcpts:
            code, text = c.cmd(f"RCPT TO:<{r}>")
            assert code == 250, (r, code, text)
        assert c.cmd("DATA")[0] == 354
        c.send(data + b".\r\n")
        reply = c.reply()
        c.cmd("QUIT")
        return reply


def body_lines(msg, eol):
    """Lines of the body (after the first blank line)."""
    head, _, body = msg.partition(eol + eol)
    return head, body.split(eol)


def test_maildir_delivery_headers_and_dots(make_node, workdir):
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{maildir}")
    data = (b"From: <alice@outside.test>\r\nTo: <bob@example.test>\r\nSubject: dots\r\n"
            b"Message-ID: <dots-1@outside.test>\r\n\r\n" + DOT_BODY_RAW)
    code, text = raw_send(n, "alice@outside.test", ["bob@example.test"], data)
    assert code == 250, text
    qid = re.search(r"queued as (\S+)", text).group(1)
    files = wait_for(lambda: n.maildir_files(maildir, "bob@example.test"), what="maildir file")
    assert len(files) == 1
    msg = open(files[0], "rb").read()
    assert b"\r\n" not in msg, "maildir files use LF line ends"
    head, lines = body_lines(msg, b"\n")
    # added by delivery: Return-Path and Delivered-To, then our Received
    hl = head.split(b"\n")
    assert hl[0] == b"Return-Path: <alice@outside.test>"
    assert hl[1] == b"Delivered-To: bob@example.test"
    assert hl[2].startswith(b"Received: from client.test (unknown [127.0.0.1])")
    received = b" ".join(x.strip() for x in hl[2:6])
    assert f"by n1.test (rampart) with ESMTP id {qid}".encode() in received, received
    assert b"for <bob@example.test>;" in received
    assert b"Subject: dots" in head and b"Message-ID: <dots-1@outside.test>" in head
    # dot-unstuffing on the way in: each stuffed line lost exactly one dot
    assert lines[:5] == [b"first line"] + DOT_LINES, lines


def test_smtplib_dots_and_case_insensitive_domain(make_node, workdir):
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{maildir}")
    # smtplib does the stuffing itself here
    msg = simple_message(body=".a\r\n..b\r\n.\r\nz\r\n", to="Carol@EXAMPLE.Test")
    assert n.send("x@outside.test", ["Carol@EXAMPLE.Test"], msg) == {}
    got = wait_for(lambda: maildir_messages(maildir), what="delivery")
    assert len(got) == 1
    rcpt_dir, data = got[0]
    assert rcpt_dir.lower() == "carol@example.test"
    _, lines = body_lines(data, b"\n")
    assert lines[:4] == [b".a", b"..b", b".", b"z"]


def test_smtp_sink_destination_multiple_recipients(make_node, make_sink):
    sink = make_sink()
    n = make_node("n1")
    n.add_domain("sink.test", f"smtp:127.0.0.1:{sink.port}")
    rcpts = ["a@sink.test", "b@sink.test", "c@sink.test"]
    data = (b"From: <s@outside.test>\r\nTo: <a@sink.test>\r\nSubject: three\r\n\r\n"
            + DOT_BODY_RAW)
    code, text = raw_send(n, "s@outside.test", rcpts, data)
    assert code == 250, text
    msgs = wait_for(lambda: sink.messages(), what="smtp-sink dump")
    n.wait_queue_empty()
    msgs = sink.messages()
    assert len(msgs) == 1, "three recipients of one destination go in one transaction"
    m = msgs[0]
    assert b"X-Mail-Args: <s@outside.test>" in m
    for r in rcpts:
        assert f"X-Rcpt-Args: <{r}>".encode() in m
    assert b"X-Helo-Args: n1.test" in m
    # our Received header arrived; with several recipients it has no "for"
    assert re.search(rb"Received: from client\.test \(unknown \[127\.0\.0\.1\]\)\n\tby n1\.test "
                     rb"\(rampart\) with ESMTP id \w+;", m), m
    # dot-stuffing on the way out: smtp-sink unstuffs, so the lines must be
    # exactly what the client meant (a lone "." would have cut the message)
    _, lines = body_lines(m, b"\n")
    assert lines[:5] == [b"first line"] + DOT_LINES, lines
    st = n.status()
    assert st["delivered"] == 3
    assert st["queue_messages"] == 0


def test_second_rampartd_destination(make_node, workdir):
    dest = make_node("n2")
    maildir = f"{workdir}/mail2"
    dest.add_domain("example.test", f"maildir:{maildir}")
    n = make_node("n1")
    n.add_domain("example.test", f"smtp:127.0.0.1:{dest.smtp_port}")
    data = (b"From: <s@outside.test>\r\nTo: <u1@example.test>\r\nSubject: relay\r\n\r\n"
            + DOT_BODY_RAW)
    code, text = raw_send(n, "s@outside.test", ["u1@example.test", "u2@example.test"], data)
    assert code == 250, text
    got = wait_for(lambda: len(maildir_messages(maildir)) == 2 and maildir_messages(maildir),
                   what="both recipients delivered through n2")
    assert sorted(r for r, _ in got) == ["u1@example.test", "u2@example.test"]
    for rcpt, m in got:
        head, lines = body_lines(m, b"\n")
        assert head.startswith(f"Return-Path: <s@outside.test>\nDelivered-To: {rcpt}".encode())
        recs = re.findall(rb"^Received: .*(?:\n\t.*)*", head, re.M)
        assert len(recs) == 2, head
        assert b"from n1.test" in recs[0] and b"by n2.test (rampart)" in recs[0]
        assert b"from client.test" in recs[1] and b"by n1.test (rampart)" in recs[1]
        # stuffed by n1's client, unstuffed by n2's server
        assert lines[:5] == [b"first line"] + DOT_LINES, lines
    n.wait_queue_empty()
    dest.wait_queue_empty()
    # n2 logged the relayed message with n1 as client
    rows = dest.msglog()["rows"]
    assert len(rows) == 1 and rows[0]["helo"] == "n1.test"
    assert sorted(rows[0]["rcpts"]) == ["u1@example.test", "u2@example.test"]


def test_message_log(make_node, workdir):
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{maildir}")
    n.add_domain("blocked.test", f"maildir:{maildir}")
    # every message to blocked.test scores above its block threshold
    n.set("block_score", "-1", scope="domain:blocked.test")
    for i in range(5):
        msg = simple_message(subject=f"report {i}", frm=f"sender{i}@outside.test",
                             to=f"user{i}@example.test")
        assert n.send(f"sender{i}@outside.test", [f"user{i}@example.test"], msg,
                      helo=f"helo{i}.test") == {}
    with n.smtp() as s:
        s.ehlo("spammer.test")
        s.mail("spam@outside.test")
        assert s.rcpt("victim@blocked.test")[0] == 250
        code, text = s.data(simple_message(subject="buy now", to="victim@blocked.test"))
        assert code == 554 and b"5.7.1" in text, (code, text)
    wait_for(lambda: len(maildir_messages(maildir)) == 5, what="5 deliveries")
    wait_for(lambda: [r["delivery"] for r in n.msglog("--action", "allow")["rows"]]
             == ["delivered"] * 5, what="delivery status in the message log")

    res = n.msglog()
    assert res["total"] == 6 and len(res["rows"]) == 6
    rows = res["rows"]
    # newest first
    assert rows[0]["subject"] == "buy now"
    assert [r["time_ms"] for r in rows] == sorted((r["time_ms"] for r in rows), reverse=True)
    r = next(r for r in rows if r["subject"] == "report 3")
    assert r["mail_from"] == "sender3@outside.test"
    assert r["rcpts"] == ["user3@example.test"]
    assert r["client_ip"] == "127.0.0.1"
    assert r["helo"] == "helo3.test"
    assert r["node"] == "n1.test"
    assert r["action"] == "allow"
    assert r["delivery"] == "delivered"
    assert r["size"] > 100
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time"])
    assert r["queue_id"] and r["queue_id"] in r["reason"]
    assert r["message_id"].endswith("@outside.test>")
    assert isinstance(r["score"], float) and isinstance(r["rules"], list)
    b = rows[0]
    assert b["action"] == "block" and b["mail_from"] == "spam@outside.test"
    assert b["delivery"] == "n/a" and b["layer"] == "scoring"

    # filters
    f = n.msglog("--sender", "sender2@")
    assert f["total"] == 1 and f["rows"][0]["subject"] == "report 2"
    f = n.msglog("--rcpt", "user4@example.test")
    assert f["total"] == 1 and f["rows"][0]["mail_from"] == "sender4@outside.test"
    f = n.msglog("--subject", "report")
    assert f["total"] == 5
    f = n.msglog("--action", "block")
    assert f["total"] == 1 and f["rows"][0]["rcpts"] == ["victim@blocked.test"]
    f = n.msglog("--action", "allow", "--sender", "sender1")
    assert f["total"] == 1
    assert n.msglog("--sender", "nobody-like-this")["total"] == 0
    # LIKE wildcards in the filter are literal
    assert n.msglog("--subject", "%")["total"] == 0
    assert n.msglog("--client-ip", "127.0.0.0/8")["total"] == 6
    assert n.msglog("--client-ip", "10.0.0.0/8")["total"] == 0
    # time windows: ISO dates and epoch seconds
    assert n.msglog("--since", "2000-01-01")["total"] == 6
    assert n.msglog("--until", "2000-01-01T00:00:00Z")["total"] == 0
    future = str(int(time.time()) + 3600)
    assert n.msglog("--since", future)["total"] == 0
    assert n.msglog("--until", future, "--action", "block")["total"] == 1
    assert n.msglog("--min-score", "-1")["total"] == 6
    assert n.msglog("--min-score", "50")["total"] == 0

    # paging: total stays, rows are windows of the same ordering
    p1 = n.msglog("--limit", "2")
    p2 = n.msglog("--limit", "2", "--offset", "2")
    p4 = n.msglog("--limit", "2", "--offset", "6")
    assert p1["total"] == p2["total"] == p4["total"] == 6
    assert [r["id"] for r in p1["rows"]] == [r["id"] for r in rows[0:2]]
    assert [r["id"] for r in p2["rows"]] == [r["id"] for r in rows[2:4]]
    assert p4["rows"] == []
    # the plain-text form works too
    text = n.cli("log", "--subject", "report 0").stdout
    assert "sender0@outside.test" in text and "(1 of 1 shown)" in text
    # bad paging values are refused
    bad = n.cli("log", "--limit", "0", check=False)
    assert bad.returncode != 0 and "limit" in bad.stderr


def test_status_json(make_node, workdir):
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    st = n.status()
    for key, typ in [("hostname", str), ("version", str), ("uptime_seconds", int),
                     ("smtp_sessions", int), ("queue_messages", int),
                     ("messages_received", int), ("delivered", int),
                     ("config_version", int), ("data_free_mb", float),
                     ("domains", int)]:
        assert isinstance(st[key], typ), (key, st)
    assert st["hostname"] == "n1.test"
    assert st["domains"] == 0 and st["messages_received"] == 0 and st["delivered"] == 0
    v0 = st["config_version"]
    n.add_domain("example.test", f"maildir:{maildir}")
    n.send("a@outside.test", ["u@example.test", "v@example.test"], simple_message())
    wait_for(lambda: n.status()["delivered"] == 2, what="2 deliveries in status")
    st = n.status()
    assert st["domains"] == 1
    assert st["config_version"] > v0
    assert st["messages_received"] == 1
    assert st["messages_allowed"] == 1
    assert st["queue_messages"] == 0
    assert st["draining"] in (0, False)
    # the plain form is readable key/value text
    text = n.cli("status").stdout
    assert re.search(r"^hostname\s+n1\.test$", text, re.M), text


def test_metrics_over_https(make_node, workdir):
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{maildir}")
    m0 = n.metrics()
    for name in ["rampart_smtp_connections_total", "rampart_messages_received_total",
                 'rampart_messages_total{action="allow"}',
                 'rampart_delivery_results_total{result="delivered"}',
                 "rampart_recipients_rejected_total", "rampart_queue_messages",
                 "rampart_smtp_connections_active"]:
        assert name in m0, (name, sorted(m0))
    for i in range(3):
        n.send("a@outside.test", ["u@example.test"], simple_message(subject=f"m{i}"))
    with n.smtp() as s:
        s.ehlo("x.test")
        s.mail("a@outside.test")
        assert s.rcpt("victim@elsewhere.test")[0] == 550
    wait_for(lambda: len(maildir_messages(maildir)) == 3, what="deliveries")
    m1 = wait_for(lambda: (lambda m: m['rampart_delivery_results_total{result="delivered"}']
                           - m0['rampart_delivery_results_total{result="delivered"}'] == 3
                           and m)(n.metrics()), what="delivered counter")
    assert m1["rampart_messages_received_total"] - m0["rampart_messages_received_total"] == 3
    assert (m1['rampart_messages_total{action="allow"}']
            - m0['rampart_messages_total{action="allow"}']) == 3
    assert m1["rampart_smtp_connections_total"] - m0["rampart_smtp_connections_total"] >= 4
    assert m1["rampart_recipients_rejected_total"] - m0["rampart_recipients_rejected_total"] == 1
    assert m1["rampart_delivery_attempts_total"] >= 3
    assert m1["rampart_queue_messages"] == 0
    # plain HTTP is not served on the HTTPS port, and the API needs auth
    try:
        urllib.request.urlopen(f"https://127.0.0.1:{n.http_port}/api/v1/status",
                               context=unverified_tls(), timeout=10)
        raise AssertionError("API answered without authentication")
    except urllib.error.HTTPError as e:
        assert e.code == 401
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{n.http_port}/metrics", timeout=5)
        raise AssertionError("metrics served over plain HTTP")
    except (OSError, http.client.HTTPException):
        pass


def test_pipelined_transactions(make_node, workdir):
    """PIPELINING: two whole transactions and QUIT in one write."""
    n = make_node("n1")
    maildir = f"{workdir}/mail"
    n.add_domain("example.test", f"maildir:{maildir}")
    with n.raw() as c:
        c.send(b"EHLO client.test\r\nMAIL FROM:<a@outside.test>\r\nRCPT TO:<u@example.test>\r\n"
               b"DATA\r\nSubject: p1\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@outside.test>\r\n"
               b"RCPT TO:<nobody@foreign.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\n"
               b"Subject: p2\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        codes = [c.reply()[0] for _ in range(11)]
        assert codes == [250, 250, 250, 354, 250, 250, 550, 250, 354, 250, 221], codes
        assert c.wait_closed(5)
    got = wait_for(lambda: len(maildir_messages(maildir)) == 2 and maildir_messages(maildir),
                   what="2 deliveries")
    assert sorted(r for r, _ in got) == ["u@example.test", "v@example.test"]


def test_large_message_relayed_intact(make_node, workdir):
    """6 MB of varied lines (a third starting with '.', some 8-bit) through
    n1 -> n2 -> Maildir arrives byte for byte: stuffing and unstuffing
    survive every buffer boundary."""
    dest = make_node("n2")
    maildir = f"{workdir}/mail2"
    dest.add_domain("example.test", f"maildir:{maildir}")
    n = make_node("n1")
    n.add_domain("example.test", f"smtp:127.0.0.1:{dest.smtp_port}")
    rnd = random.Random(5)
    lines, size = [], 0
    alphabet = "abc.xyz \u00e9\u20ac"
    pool = "".join(rnd.choice(alphabet) for _ in range(100000))
    while size < 6_000_000:
        at, length = rnd.randrange(99000), rnd.randint(0, 300)
        line = ("." if rnd.random() < 0.3 else "") + pool[at:at + length]
        lines.append(line.encode())
        size += len(lines[-1]) + 2
    body = b"\r\n".join(lines) + b"\r\n"
    msg = b"Subject: big\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" \
          b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    with n.smtp() as s:
        s.ehlo("client.test")
        assert s.sendmail("s@outside.test", ["u@example.test"], msg,
                          mail_options=["BODY=8BITMIME"]) == {}
    got = wait_for(lambda: maildir_messages(maildir), timeout=60, what="big delivery")
    _, _, delivered = got[0][1].partition(b"\n\n")
    assert len(delivered) == len(body) - len(lines)
    assert delivered == body.replace(b"\r\n", b"\n")


def test_recipients_split_by_destination(make_node, make_sink, workdir):
    """One message for three domains with three destinations: each
    destination gets exactly its own recipients."""
    s1, s2 = make_sink(), make_sink()
    maildir = f"{workdir}/mail"
    n = make_node("n1")
    n.add_domain("one.test", f"smtp:127.0.0.1:{s1.port}")
    n.add_domain("two.test", f"smtp:127.0.0.1:{s2.port}")
    n.add_domain("three.test", f"maildir:{maildir}")
    rcpts = ["a@one.test", "b@two.test", "c@three.test", "d@one.test", "e@three.test"]
    assert n.send("s@outside.test", rcpts, simple_message(subject="fan-out")) == {}
    n.wait_queue_empty()
    m1, m2 = s1.messages(), s2.messages()
    assert len(m1) == 1 and len(m2) == 1
    assert re.findall(rb"X-Rcpt-Args: <(\S+)>", m1[0]) == [b"a@one.test", b"d@one.test"]
    assert re.findall(rb"X-Rcpt-Args: <(\S+)>", m2[0]) == [b"b@two.test"]
    assert sorted(r for r, _ in maildir_messages(maildir)) == ["c@three.test", "e@three.test"]
    assert n.status()["delivered"] == 5

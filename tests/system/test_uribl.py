"""URI blocklists end to end: rampartd over SMTP, URLs in text and HTML
parts (plain, obfuscated, percent-encoded, quoted-printable, numeric
hosts) looked up in URIBL zones served by a real dnsmasq. Listed ->
the zone's action; clean URLs -> delivered; DNS timeouts -> skipped."""
import time

import pytest

from conftest import maildir_messages, simple_message, wait_for
from servers import (SilentDns, api, dnsmasq_fixture, last_log_row, module_dir,  # noqa: F401
                     send_from, set_zone)

ZONE = [
    "--address=/spammer.test.uribl.test/127.0.0.2",
    "--address=/phish.test.uribl.test/127.0.0.4",
    "--address=/9.3.0.192.uribl.test/127.0.0.2",
]

RCPT = "user@example.test"


dns = dnsmasq_fixture(ZONE)


@pytest.fixture
def node(make_node, workdir, dns):
    n = make_node("n1", extra_conf=f"dns_servers = {dns.server}\n")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    n.maildir = f"{workdir}/mail"
    set_zone(n, "uribl", "uribl.test", action="block")
    return n


def html_message(html):
    return ("From: <a@outside.test>\r\nTo: <user@example.test>\r\nSubject: news\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + html + "\r\n")


@pytest.mark.parametrize("body", [
    "Cheap pills at http://www.spammer.test/buy now\r\n",
    "Cheap pills at hxxp://shop.spammer.test/buy (copy into your browser)\r\n",
    "Write to mailto:orders@spammer.test today\r\n",
    "Numeric: http://3221226249/login\r\n",  # 192.0.3.9
])
def test_listed_url_blocked(node, body):
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(body=body))
    assert code == 554, text
    assert "uribl.test" in text, text
    row = last_log_row(node)
    assert row["layer"] == "uribl" and "URIBL_URIBL_TEST" in row["rules"], row


def test_html_encoded_url_blocked(node):
    # percent-encoded host inside a quoted-printable href
    html = '<p>Your account: <a href=3D"https://%70hish.test/verify">verify</a></p>'
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT], html_message(html))
    assert code == 554, text
    assert "phish.test" in text, text


def test_clean_urls_delivered(node):
    body = "See http://www.example.test/ and https://docs.clean.test/page\r\n"
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(body=body))
    assert code == 250, text
    wait_for(lambda: maildir_messages(node.maildir), what="delivery")
    assert "URIBL_URIBL_TEST" not in last_log_row(node)["rules"]


def test_score_action(node):
    set_zone(node, "uribl", "uribl.test", action="score", score=5)
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(body="http://spammer.test/\r\n"))
    assert code == 250, text
    row = last_log_row(node)
    assert row["score"] >= 5 and "URIBL_URIBL_TEST" in row["rules"], row
    assert row["action"] == "tag", row
    assert api(node, "GET", "/uribl") == (200, [{"zone": "uribl.test", "action": "score",
                                                  "score": 5.0}])


def test_dns_timeout_skips_uribl(make_node, workdir):
    silent = SilentDns()
    try:
        n = make_node("n1", extra_conf=f"dns_servers = {silent.server}\n")
        n.add_domain("example.test", f"maildir:{workdir}/mail")
        set_zone(n, "uribl", "uribl.test", action="block")
        n.set("dns_timeout_ms", "500")
        t0 = time.monotonic()
        code, text = send_from(n, "127.0.0.1", "a@outside.test", [RCPT],
                               simple_message(body="http://www.spammer.test/\r\n"))
        assert code == 250, text
        assert time.monotonic() - t0 < 5
        n.wait_log(r"uribl: zone uribl\.test: \d+ lookup\(s\) failed \(timeout\)")
    finally:
        silent.close()

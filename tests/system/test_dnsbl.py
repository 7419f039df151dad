"""DNS blocklists end to end: rampartd over SMTP, a real dnsmasq serving
the test zones, clients connecting from chosen loopback addresses.
Listed client blocked (554) or scored, unlisted client accepted, the
Received: trail, operator error codes, the zone API, and DNS timeouts:
the layer is skipped and the message accepted within the timeout."""
import time

import pytest

from conftest import maildir_messages, simple_message, wait_for
from servers import (SilentDns, api, dnsmasq_fixture, last_log_row, module_dir,  # noqa: F401
                     send_from, set_zone)

ZONES = [
    # bl.test lists 127.0.0.2 (RFC 5782's test entry) and 127.0.0.3
    "--address=/2.0.0.127.bl.test/127.0.0.2",
    "--address=/3.0.0.127.bl.test/127.0.0.3",
    # an operator error answer ("query refused"), never a listing
    "--address=/4.0.0.127.bl.test/127.255.255.254",
    # score.test lists 127.0.0.5
    "--address=/5.0.0.127.score.test/127.0.0.2",
]

RCPT = "user@example.test"


dns = dnsmasq_fixture(ZONES)


@pytest.fixture
def node(make_node, workdir, dns):
    n = make_node("n1", extra_conf=f"dns_servers = {dns.server}\n")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    n.maildir = f"{workdir}/mail"
    return n


def test_listed_client_blocked_unlisted_accepted(node):
    set_zone(node, "dnsbl", "bl.test", action="block")
    code, text = send_from(node, "127.0.0.2", "a@outside.test", [RCPT],
                           simple_message(subject="from a listed host"))
    assert code == 554, text
    assert "127.0.0.2" in text and "bl.test" in text, text
    row = last_log_row(node)
    assert row["layer"] == "dnsbl" and row["action"] == "block", row
    assert "DNSBL_BL_TEST" in row["rules"], row
    # the same message from an unlisted address goes through
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT],
                           simple_message(subject="from a clean host"))
    assert code == 250, text
    wait_for(lambda: maildir_messages(node.maildir), what="delivery")


def test_quarantine_and_score_actions(node):
    set_zone(node, "dnsbl", "bl.test", action="quarantine")
    set_zone(node, "dnsbl", "score.test", action="score", score=4)
    code, text = send_from(node, "127.0.0.3", "a@outside.test", [RCPT],
                           simple_message(subject="quarantine me"))
    assert code == 250, text
    row = last_log_row(node)
    assert row["action"] == "quarantine" and row["layer"] == "dnsbl", row
    # listed only in the score zone: 4 points, over the tag threshold (3.5)
    code, text = send_from(node, "127.0.0.5", "a@outside.test", [RCPT],
                           simple_message(subject="score me"))
    assert code == 250, text
    row = last_log_row(node)
    assert "DNSBL_SCORE_TEST" in row["rules"], row
    assert row["score"] >= 4.0 and row["action"] == "tag", row
    msgs = wait_for(lambda: maildir_messages(node.maildir), what="delivery")
    assert b"[BULK]" in msgs[-1][1], msgs[-1][1][:300]


def test_error_code_is_not_a_listing(node):
    set_zone(node, "dnsbl", "bl.test", action="block")
    code, text = send_from(node, "127.0.0.4", "a@outside.test", [RCPT], simple_message())
    assert code == 250, text
    assert "DNSBL_BL_TEST" not in last_log_row(node)["rules"]


def test_received_trail(node):
    set_zone(node, "dnsbl", "bl.test", action="block")
    msg = simple_message(subject="relayed", extra_headers=(
        "Received: from relay.outside.test (relay.outside.test [127.0.0.3])\r\n"
        "\tby mx.outside.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"))
    # off by default: only the client address counts
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT], msg)
    assert code == 250, text
    node.set("dnsbl_scan_received", "true")
    code, text = send_from(node, "127.0.0.1", "a@outside.test", [RCPT], msg)
    assert code == 554 and "127.0.0.3" in text, text


def test_zone_api(node):
    status, resp = api(node, "PUT", "/dnsbl/bl.test", {"action": "drop"})
    assert status == 400 and "action" in resp["error"], resp
    status, resp = api(node, "PUT", "/dnsbl/Bad Zone", {"action": "block"})
    assert status == 400, resp
    status, resp = api(node, "PUT", "/dnsbl/BL.Test", {"action": "score", "score": 2})
    assert status == 201, resp
    assert resp == {"zone": "bl.test", "action": "score", "score": 2.0}, resp
    status, resp = api(node, "PUT", "/dnsbl/bl.test", {"action": "block", "codes": ["127.0.0.2"]})
    assert status == 200, resp
    status, resp = api(node, "GET", "/dnsbl")
    assert status == 200 and resp == [{"zone": "bl.test", "action": "block",
                                       "codes": ["127.0.0.2"]}], resp
    # codes restrict what counts: 127.0.0.3 answers 127.0.0.3, not listed now
    code, text = send_from(node, "127.0.0.3", "a@outside.test", [RCPT], simple_message())
    assert code == 250, text
    code, text = send_from(node, "127.0.0.2", "a@outside.test", [RCPT], simple_message())
    assert code == 554, text
    assert api(node, "DELETE", "/dnsbl/bl.test")[0] == 200
    assert api(node, "DELETE", "/dnsbl/bl.test")[0] == 404
    assert api(node, "GET", "/dnsbl") == (200, [])
    code, text = send_from(node, "127.0.0.2", "a@outside.test", [RCPT], simple_message())
    assert code == 250, text


def test_zone_survives_restart(node):
    set_zone(node, "dnsbl", "bl.test", action="block")
    node.restart()
    code, text = send_from(node, "127.0.0.2", "a@outside.test", [RCPT], simple_message())
    assert code == 554, text


def test_dns_timeout_skips_the_layer(make_node, workdir):
    """A DNS server that never answers: the message is accepted (the
    layer is skipped and logged), within the configured timeout."""
    silent = SilentDns()
    try:
        n = make_node("n1", extra_conf=f"dns_servers = {silent.server}\n")
        n.add_domain("example.test", f"maildir:{workdir}/mail")
        set_zone(n, "dnsbl", "bl.test", action="block")
        n.set("dns_timeout_ms", "700")
        t0 = time.monotonic()
        code, text = send_from(n, "127.0.0.2", "a@outside.test", [RCPT], simple_message())
        elapsed = time.monotonic() - t0
        assert code == 250, text
        assert elapsed < 5, elapsed
        n.wait_log(r"dnsbl: zone bl\.test: 1 lookup\(s\) failed \(timeout\)")
        wait_for(lambda: maildir_messages(f"{workdir}/mail"), what="delivery")
    finally:
        silent.close()

"""SPF end to end: rampartd over SMTP, libspf2 asking our resolver, a real
dnsmasq serving the senders' SPF records, clients on chosen loopback
addresses (rampart checks loopback clients like any other; only the
trusted forwarders, 127.0.0.1 and ::1 by default, are exempt).
pass/fail/softfail/none with their configured actions, trusted
forwarders, and a DNS server that never answers (SPF skipped)."""
import time

import pytest

from conftest import simple_message
from servers import (SilentDns, dnsmasq_fixture, last_log_row, module_dir,  # noqa: F401
                     send_from)

RECORDS = [
    "--txt-record=good.test,v=spf1 ip4:127.0.0.2 -all",
    "--txt-record=soft.test,v=spf1 ip4:127.0.0.2 ~all",
    "--txt-record=viamx.test,v=spf1 mx -all",
    "--mx-host=viamx.test,mx.viamx.test,10",
    "--host-record=mx.viamx.test,127.0.0.6",
    "--host-record=nospf.test,127.0.0.7",
]

RCPT = "user@example.test"


dns = dnsmasq_fixture(RECORDS)


@pytest.fixture
def node(make_node, workdir, dns):
    n = make_node("n1", extra_conf=f"dns_servers = {dns.server}\n")
    n.add_domain("example.test", f"maildir:{workdir}/mail")
    return n


def rules_of(node, source, sender, helo="client.test"):
    code, text = send_from(node, source, sender, [RCPT], simple_message(frm=sender), helo=helo)
    assert code == 250, text
    return last_log_row(node)


def test_default_actions_score(node):
    # fail scores 3, softfail 1, pass and none nothing
    row = rules_of(node, "127.0.0.3", "alice@good.test")
    assert "SPF_FAIL" in row["rules"] and row["score"] >= 3.0, row
    row = rules_of(node, "127.0.0.3", "bob@soft.test")
    assert "SPF_SOFTFAIL" in row["rules"] and row["score"] >= 1.0, row
    row = rules_of(node, "127.0.0.2", "alice@good.test")
    assert not any(r.startswith("SPF_") for r in row["rules"]), row
    row = rules_of(node, "127.0.0.2", "carol@nospf.test")
    assert not any(r.startswith("SPF_") for r in row["rules"]), row
    # the mx mechanism: answered through MX and A lookups
    row = rules_of(node, "127.0.0.6", "x@viamx.test")
    assert not any(r.startswith("SPF_") for r in row["rules"]), row
    row = rules_of(node, "127.0.0.2", "x@viamx.test")
    assert "SPF_FAIL" in row["rules"], row


def test_fail_blocks_when_configured(node):
    node.set("spf_fail_action", "block")
    code, text = send_from(node, "127.0.0.3", "alice@good.test", [RCPT],
                           simple_message(frm="alice@good.test"))
    assert code == 554, text
    assert "SPF fail" in text and "good.test" in text, text
    row = last_log_row(node)
    assert row["layer"] == "spf" and row["action"] == "block", row
    # from a permitted address the same sender passes
    code, text = send_from(node, "127.0.0.2", "alice@good.test", [RCPT],
                           simple_message(frm="alice@good.test"))
    assert code == 250, text


def test_none_and_softfail_actions(node):
    node.set("spf_none_action", "quarantine")
    node.set("spf_softfail_action", "tag")
    row = rules_of(node, "127.0.0.2", "carol@nospf.test")
    assert row["action"] == "quarantine" and "SPF_NONE" in row["rules"], row
    row = rules_of(node, "127.0.0.3", "bob@soft.test")
    assert row["action"] == "tag" and "SPF_SOFTFAIL" in row["rules"], row


def test_null_sender_checks_helo(node):
    node.set("spf_fail_action", "block")
    code, text = send_from(node, "127.0.0.3", "", [RCPT], simple_message(), helo="good.test")
    assert code == 554, text
    code, text = send_from(node, "127.0.0.2", "", [RCPT], simple_message(), helo="good.test")
    assert code == 250, text


def test_trusted_forwarders_skipped(node):
    node.set("spf_fail_action", "block")
    # 127.0.0.1 is trusted by default (local injection)
    code, text = send_from(node, "127.0.0.1", "alice@good.test", [RCPT],
                           simple_message(frm="alice@good.test"))
    assert code == 250, text
    node.set("spf_trusted_forwarders", "127.0.0.1, 127.0.0.3/32")
    code, text = send_from(node, "127.0.0.3", "alice@good.test", [RCPT],
                           simple_message(frm="alice@good.test"))
    assert code == 250, text
    code, text = send_from(node, "127.0.0.4", "alice@good.test", [RCPT],
                           simple_message(frm="alice@good.test"))
    assert code == 554, text


def test_dns_timeout_skips_spf(make_node, workdir):
    silent = SilentDns()
    try:
        n = make_node("n1", extra_conf=f"dns_servers = {silent.server}\n")
        n.add_domain("example.test", f"maildir:{workdir}/mail")
        n.set("spf_fail_action", "block")
        n.set("dns_timeout_ms", "600")
        t0 = time.monotonic()
        code, text = send_from(n, "127.0.0.3", "alice@good.test", [RCPT],
                               simple_message(frm="alice@good.test"))
        assert code == 250, text
        assert time.monotonic() - t0 < 5
        n.wait_log(r"spf: good\.test from 127\.0\.0\.3: DNS failed or timed out.*SPF skipped")
    finally:
        silent.close()

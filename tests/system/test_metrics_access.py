"""/metrics carries no credentials: it answers only the client ranges of
metrics_allowed_ips (loopback by default); others get 403."""
import http.client

from conftest import unverified_tls


def get_metrics(node, source="127.0.0.1"):
    c = http.client.HTTPSConnection("127.0.0.1", node.http_port, timeout=10,
                                    context=unverified_tls(), source_address=(source, 0))
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def test_metrics_only_for_allowed_ranges(make_node):
    n = make_node("n1")
    status, body = get_metrics(n)
    assert status == 200 and "rampart_smtp_connections_total" in body, body[:300]
    n.set("metrics_allowed_ips", "127.0.0.2/32")
    status, body = get_metrics(n, "127.0.0.1")
    assert status == 403 and "metrics_allowed_ips" in body, (status, body)
    assert "rampart_" not in body
    status, body = get_metrics(n, "127.0.0.2")
    assert status == 200 and "rampart_" in body
    # a bad range is refused and changes nothing
    r = n.cli("config", "set", "metrics_allowed_ips", "300.0.0.0/8", check=False)
    assert r.returncode != 0 and "metrics_allowed_ips" in r.stderr, r.stderr
    assert get_metrics(n, "127.0.0.2")[0] == 200
    n.set("metrics_allowed_ips", "")           # blank: any client
    assert get_metrics(n, "127.0.0.1")[0] == 200

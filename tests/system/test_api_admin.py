"""Administrator endpoints (docs/api.md §0, §3-5): dashboard, settings and
domains over HTTPS, backup, Bayes, message log details and buttons,
static files, and the generic error rules (bad JSON, sizes, methods)."""
import json
import os
import socket

from apiclient import (Api, admin, admin_password, make_user, quarantine_node, send,
                       user_api, wait_mail, wait_quarantined)
from conftest import unverified_tls, wait_for


def test_status_and_stats(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    send(n, "rita@example.test")
    wait_quarantined(n, "rita@example.test")
    s = a.get("/status").json
    for k in ("hostname", "uptime_seconds", "queue_messages", "queue_recipients",
              "messages_received", "messages_quarantined", "data_free_mb", "data_total_mb",
              "scan_latency_ms", "data_latency_ms", "domains"):
        assert k in s, k
    assert s["messages_received"] >= 1 and s["scan_latency_ms"]["avg"] > 0
    st = a.get("/stats").json
    assert len(st["hourly"]) == 24 and len(st["daily"]) == 25
    assert st["hourly"][-1]["quarantine"] >= 1 and st["quarantine_messages"] == 1
    assert st["users"] == 1


def test_settings_validation_over_https(make_node):
    n = make_node()
    a = admin(n)
    r = a.put("/config/block_score", {"value": 7.5})
    assert r.status == 200 and r.json["value"] == 7.5
    for body, field in [({"value": 500}, "value"), ({"value": "abc"}, "value"),
                        ({"value": [1]}, "value"), ({}, "value"),
                        ({"value": 5, "scope": "planet:x"}, "value")]:
        r = a.put("/config/block_score", body)
        assert r.status == 400 and r.json["field"] == field, (body, r)
    assert a.put("/config/no_such_setting", {"value": 1}).status == 404
    r = a.put("/config/quarantine_summary", {"value": "hourly"})
    assert r.status == 400 and "never, daily, weekly" in r.json["error"]
    r = a.put("/config/admin_allowed_ips", {"value": "10.0.0.0/33"})
    assert r.status == 400
    names = {x["name"] for x in a.get("/config").json}
    assert {"quarantine_enabled", "quarantine_retention_days", "admin_allowed_ips",
            "web_session_idle", "login_max_failures"} <= names
    r = a.post("/domains", {"name": "Example.ORG", "destination": "smtp:127.0.0.1:2525"})
    assert r.status == 201 and r.json["name"] == "example.org"
    assert a.post("/domains", {"name": "bad_domain", "destination": "smtp:x:1"}).status == 400
    assert a.delete("/domains/example.org").status == 200
    assert a.delete("/domains/example.org").status == 404


def test_backup_export_import(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "sam@example.test")
    a.put("/config/tag_score", {"value": 4.25})
    a.post("/domains", {"name": "example.test", "destination": "maildir:/tmp/x"})
    r = a.get("/config/export")
    assert r.status == 200 and r.json["version"] == 1
    doc = r.json
    assert doc["keys"]["setting/global/tag_score"] == "4.25"
    assert "user/sam@example.test" in doc["keys"] and "web/admin" in doc["keys"]
    m = make_node("restore")
    b = admin(m)
    r = b.post("/config/import", doc)
    assert r.status == 200 and r.json["imported"] == len(doc["keys"])
    assert b.get("/config/tag_score").json["value"] == 4.25
    user_api(m, "sam@example.test")
    # the admin password came with the backup
    Api(m).login("admin", admin_password(n))
    # invalid documents change nothing
    for bad in ({}, {"version": 2, "keys": {}}, {"version": 1, "keys": {"setting/global/tag_score": "999"}},
                {"version": 1, "keys": {"user/UPPER@example.test": "{}"}},
                {"version": 1, "keys": {"nonsense/key": "1"}}):
        r = b.post("/config/import", bad)
        assert r.status == 400, (bad, r)
    assert b.get("/config/tag_score").json["value"] == 4.25
    # the CLI: export to a file and import it
    path = os.path.join(n.dir, "backup.json")
    n.cli("config", "export", path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with open(path) as f:
        assert json.load(f)["keys"]["setting/global/tag_score"] == "4.25"
    a.put("/config/tag_score", {"value": 2})
    assert "imported" in n.cli("config", "import", path).stdout
    assert a.get("/config/tag_score").json["value"] == 4.25


def test_bayes_endpoints(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    b = a.get("/bayes").json
    assert b["nspam"] == 0 and b["active"] is False and b["min_spam"] == 200
    make_user(a, "tom@example.test")
    send(n, "tom@example.test", subject="cheap pills", body="cheap pills viagra offer\r\n")
    wait_quarantined(n, "tom@example.test")
    qid = a.get("/quarantine").json["rows"][0]["id"]
    a.post(f"/quarantine/{qid}/classify", {"as": "spam"})
    assert a.get("/bayes").json["nspam"] == 1
    r = a.get("/bayes/export")
    assert r.status == 200 and r.header("Content-Type") == "application/x-ndjson"
    lines = r.body.decode().splitlines()
    assert json.loads(lines[0])["format"] == "rampart-bayes"
    assert a.post("/bayes/reset").json == {"reset": True}
    assert a.get("/bayes").json["nspam"] == 0
    r = a.post("/bayes/import", {"data": r.body.decode()})
    assert r.status == 200 and r.json["nspam"] == 1
    assert a.post("/bayes/import", {"data": "not json\n"}).status == 400
    assert a.post("/bayes/import", {"data": 5}).status == 400
    assert a.post("/rules/reload").json == {"reloaded": True}


def test_message_log_details_and_buttons(make_node, workdir):
    n = quarantine_node(make_node, workdir)
    a = admin(n)
    make_user(a, "uma@example.test")
    send(n, "uma@example.test", subject="log me", frm="boss@partner.example")
    wait_quarantined(n, "uma@example.test")
    row = a.get("/log?rcpt=uma").json["rows"][0]
    lid = row["id"]
    d = a.get(f"/log/{lid}").json
    assert d["stored"] is True and len(d["quarantine_ids"]) == 1 and d["action"] == "quarantine"
    v = a.get(f"/log/{lid}/message").json
    assert v["headers"]["subject"] == "log me" and "text" in v
    assert b"Subject: log me" in a.get(f"/log/{lid}/source").body
    assert a.get(f"/log/{lid}/html").status == 404
    assert a.post(f"/log/{lid}/classify", {"as": "ham"}).json["learned"] is True
    r = a.post(f"/log/{lid}/whitelist")
    assert r.json == {"whitelisted": "boss@partner.example"}
    assert "list/sender_allow/boss@partner.example" in a.get("/config/export").json["keys"]
    r = a.post(f"/log/{lid}/deliver")
    assert r.status == 200 and len(r.json["delivered"]) == 1
    wait_mail(n.maildir, "uma@example.test", lambda m: m["Subject"] == "log me")
    assert a.post(f"/log/{lid}/deliver").status == 404
    # delivered and gone from this node: 410
    wait_for(lambda: a.get(f"/log/{lid}").json["stored"] is False, what="spool cleaned")
    assert a.get(f"/log/{lid}/message").status == 410
    assert a.post(f"/log/{lid}/classify", {"as": "spam"}).status == 410
    for bad in ("0", "x", "99999999", f"{lid}/nope"):
        assert a.get(f"/log/{bad}").status == 404, bad


def test_static_files(make_node, workdir):
    root = os.path.join(workdir, "www")
    os.makedirs(os.path.join(root, "user"))
    os.makedirs(os.path.join(root, "js"))
    files = {"index.html": "<!DOCTYPE html>admin", "user/index.html": "user page",
             "js/app.js": "export const x = 1;", "style.css": "body{}", "data.bin": "\x00\x01",
             ".secret": "no"}
    for p, text in files.items():
        with open(os.path.join(root, p), "w") as f:
            f.write(text)
    secret = os.path.join(workdir, "outside.txt")
    with open(secret, "w") as f:
        f.write("outside the root")
    os.symlink(secret, os.path.join(root, "link.txt"))
    n = make_node(extra_conf=f"web_root = {root}\n")
    c = Api(n)
    r = c.raw("GET", "/")
    assert r.status == 200 and r.body == b"<!DOCTYPE html>admin"
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in r.header("Content-Security-Policy")
    assert c.raw("GET", "/user/").body == b"user page"
    r = c.raw("GET", "/user")
    assert r.status == 301 and r.header("Location") == "/user/"
    assert c.raw("GET", "/js/app.js").header("Content-Type").startswith("text/javascript")
    assert c.raw("GET", "/style.css").header("Content-Type").startswith("text/css")
    assert c.raw("GET", "/data.bin").header("Content-Type") == "application/octet-stream"
    assert c.raw("HEAD", "/style.css").status == 200
    for bad in ("/../outside.txt", "/%2e%2e/outside.txt", "/js/..%2f..%2foutside.txt",
                "/.secret", "/link.txt", "/nope.html", "/js//app.js", "/js\\app.js",
                "/%00index.html", "/user/../../outside.txt"):
        r = c.raw("GET", bad)
        assert r.status in (400, 404), (bad, r)
        assert b"outside the root" not in r.body and b"no" != r.body
    assert c.raw("POST", "/index.html").status == 405
    # a raw request line with dot segments (no client normalisation)
    with socket.create_connection(("127.0.0.1", n.http_port)) as s:
        with unverified_tls().wrap_socket(s) as t:
            t.sendall(b"GET /../../../etc/passwd HTTP/1.0\r\n\r\n")
            data = t.recv(4096)
    assert b"root:" not in data and (b" 404 " in data or b" 400 " in data)


def test_generic_api_errors(make_node):
    n = make_node()
    a = admin(n)
    r = a.get("/nonexistent")
    assert r.status == 404 and "error" in r.json
    r = a.call("PATCH", "/status", {})
    assert r.status in (405, 501)
    r = a.delete("/status")
    assert r.status == 405 and r.json["error"] == "method not allowed"
    assert a.raw("GET", "/api/v2/status").status == 404
    r = a.call("POST", "/users", raw_body=b"{not json")
    assert r.status == 400 and "malformed JSON" in r.json["error"]
    r = a.call("POST", "/users", raw_body=b"[1,2]")
    assert r.status == 400
    r = a.call("POST", "/users", raw_body=b"\xff\xfe")
    assert r.status == 400
    r = a.post("/users", {"address": "x@example.test", "pad": "a" * (1 << 20)})
    assert r.status == 413
    r = a.get("/log?limit=abc")
    assert r.status == 400 and r.json["field"] == "limit"
    r = a.get("/users?limit=%zz")
    assert r.status in (200, 400)
    # deep nesting does not crash the parser
    deep = b"[" * 100000 + b"]" * 100000
    r = a.call("POST", "/users", raw_body=deep)
    assert r.status in (400, 413)
    assert n.running() and a.get("/status").status == 200

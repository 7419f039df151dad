"""User accounts (docs/api.md §7): admin CRUD with validation, feature
switches, list filters and paging, CSV export/import, per-user settings
and lists for the user and the admin, the CLI user commands."""
import json
import time

from apiclient import Api, admin, make_user, user_api


def test_user_crud_and_validation(make_node):
    n = make_node()
    a = admin(n)
    r = a.post("/users", {"address": "Alice@Example.TEST", "password": "alice-password"})
    assert r.status == 201, r
    u = r.json
    assert u["address"] == "alice@example.test" and u["source"] == "admin"
    assert u["has_password"] is True and u["quarantine_count"] == 0
    assert u["features"] == {"quarantine": True, "scanning": True, "settings": True}
    assert a.post("/users", {"address": "alice@example.test"}).status == 409
    bad = [
        ({}, "address"),
        ({"address": 7}, "address"),
        ({"address": "no-at-sign"}, "address"),
        ({"address": "a@b"}, "address"),
        ({"address": "x/y@example.test"}, "address"),
        ({"address": "a b@example.test"}, "address"),
        ({"address": "b@example.test", "password": "short"}, "password"),
        ({"address": "b@example.test", "password": "x" * 300}, "password"),
        ({"address": "b@example.test", "password": "bad\x01password"}, "password"),
        ({"address": "b@example.test", "password": 12345678}, "password"),
        ({"address": "b@example.test", "features": {"quarantine": "no"}}, "features"),
        ({"address": "b@example.test", "features": {"nope": True}}, "features"),
        ({"address": "b@example.test", "features": []}, "features"),
        ({"address": "b@example.test", "send_link": "yes"}, "send_link"),
    ]
    for body, field in bad:
        r = a.post("/users", body)
        assert r.status == 400 and r.json.get("field") == field, (body, r)
    assert a.get("/users/b%40example.test").status == 404
    # read, update features, password, delete
    r = a.get("/users/alice%40example.test")
    assert r.status == 200 and r.json["address"] == "alice@example.test"
    assert {s["name"] for s in r.json["settings"]["settings"]} >= {"tag_score", "quarantine_score",
                                                                    "block_score"}
    assert r.json["lists"] == {"whitelist": [], "blacklist": []}
    r = a.put("/users/alice%40example.test", {"features": {"scanning": False}})
    assert r.status == 200 and r.json["features"]["scanning"] is False
    assert r.json["features"]["quarantine"] is True
    user_api(n, "alice@example.test", "alice-password")
    r = a.put("/users/alice%40example.test/password", {"password": "new-alice-pass"})
    assert r.status == 200
    Api(n).login("alice@example.test", "alice-password", expect=401)
    user_api(n, "alice@example.test", "new-alice-pass")
    assert a.put("/users/alice%40example.test/password", {"password": "1"}).status == 400
    assert a.put("/users/nobody%40example.test/password", {"password": "12345678"}).status == 404
    assert a.delete("/users/alice%40example.test").status == 200
    assert a.delete("/users/alice%40example.test").status == 404
    assert a.get("/users/alice%40example.test").status == 404


def test_user_list_filters_paging_sort(make_node):
    n = make_node()
    a = admin(n)
    for i in range(12):
        body = {"address": f"user{i:02d}@example.test"}
        if i % 3 == 0:
            body["password"] = "some-password"
        if i % 4 == 0:
            body["features"] = {"quarantine": False}
        assert a.post("/users", body).status == 201
    r = a.get("/users?limit=5&offset=0").json
    assert r["total"] == 12 and len(r["rows"]) == 5
    assert [x["address"] for x in r["rows"]] == sorted(x["address"] for x in r["rows"])
    r2 = a.get("/users?limit=5&offset=10").json
    assert len(r2["rows"]) == 2
    assert a.get("/users?q=user0").json["total"] == 10
    assert a.get("/users?q=USER1").json["total"] == 2
    assert a.get("/users?feature=quarantine_off").json["total"] == 3
    assert a.get("/users?has_password=true").json["total"] == 4
    assert a.get("/users?has_password=false").json["total"] == 8
    created = [x["created_ms"] for x in a.get("/users?sort=created&limit=100").json["rows"]]
    assert created == sorted(created)
    for q in ("limit=0", "limit=1001", "limit=x", "offset=-1", "feature=bogus",
              "has_password=maybe", "sort=size"):
        r = a.get("/users?" + q)
        assert r.status == 400 and r.json["field"], (q, r)


def test_csv_export_import(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "one@example.test", features={"settings": False})
    assert a.post("/users", {"address": "two@example.test"}).status == 201
    r = a.get("/users/export")
    assert r.status == 200 and r.header("Content-Type").startswith("text/csv")
    lines = r.body.decode().splitlines()
    assert lines[0] == "address,created_ms,source,quarantine,scanning,settings,password_hash"
    one = [x for x in lines if x.startswith("one@")][0].split(",", 6)
    assert one[5] == "false" and one[6].startswith('"$argon2id$'), one
    # a second node imports the export: accounts and passwords survive
    m = make_node("other")
    b = admin(m)
    r = b.post("/users/import", {"csv": r.body.decode()})
    assert r.status == 200 and r.json["created"] == 2 and r.json["error_count"] == 0, r
    user_api(m, "one@example.test")
    assert b.get("/users/one%40example.test").json["features"]["settings"] is False
    # plain passwords, partial columns, quoting, bad lines reported
    csv = ('Address,Password,Quarantine\r\n'
           'new@example.test,new-password-1,no\r\n'
           '"two@example.test",,yes\r\n'
           'broken-address,,\r\n'
           'short@example.test,abc,\r\n'
           'q@example.test,,maybe\r\n'
           '"unterminated@example.test,,\r\n'
           '\r\n')
    r = b.post("/users/import", {"csv": csv})
    assert r.status == 200, r
    assert r.json["created"] == 1 and r.json["updated"] == 1 and r.json["error_count"] == 4, r.json
    assert sorted(e["line"] for e in r.json["errors"]) == [4, 5, 6, 7]
    user_api(m, "new@example.test", "new-password-1")
    assert b.get("/users/new%40example.test").json["features"]["quarantine"] is False
    assert b.post("/users/import", {"csv": "email,password\r\nx@example.test,\r\n"}).status == 400
    assert b.post("/users/import", {"csv": 5}).status == 400
    assert b.post("/users/import", {}).status == 400
    # CLI
    out = m.workdir_file = m.dir + "/users.csv"
    m.cli("user", "export", out)
    text = open(out).read()
    assert "new@example.test" in text
    with open(out, "w") as f:
        f.write("address\nfrom-cli@example.test\n")
    r = m.cli("user", "import", out)
    assert "1 created" in r.stdout


def test_user_settings_and_bounds(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "carol@example.test")
    u = user_api(n, "carol@example.test")
    s = u.get("/me/settings").json
    assert s["use_defaults"] is True
    names = {x["name"]: x for x in s["settings"]}
    assert set(names) == {"quarantine_enabled", "quarantine_summary", "tag_score",
                          "quarantine_score", "block_score"}
    assert names["quarantine_summary"]["value"] == "daily"
    assert names["block_score"]["set"] is False
    # what an unset value falls back to: domain, then global
    a.put("/config/block_score", {"value": 8.5})
    a.put("/config/block_score", {"value": 7.5, "scope": "domain:example.test"})
    names = {x["name"]: x for x in u.get("/me/settings").json["settings"]}
    assert names["block_score"]["inherited"] == 7.5 and names["block_score"]["value"] == 7.5
    dom = {x["name"]: x for x in a.get("/config?scope=domain:example.test").json}
    assert dom["block_score"]["inherited"] == 8.5 and dom["block_score"]["set"] is True
    assert {x["name"]: x for x in a.get("/config").json}["block_score"]["inherited"] == 9.0
    r = u.put("/me/settings", {"tag_score": 4.0, "quarantine_score": 6, "quarantine_summary": "weekly",
                              "quarantine_enabled": False})
    assert r.status == 200, r
    got = {x["name"]: x for x in r.json["settings"]}
    assert got["tag_score"]["value"] == 4.0 and got["tag_score"]["set"] is True
    assert got["quarantine_summary"]["value"] == "weekly"
    assert got["quarantine_enabled"]["value"] is False
    assert r.json["use_defaults"] is False
    # the same values through the admin's view and the settings API
    v = a.get("/config/quarantine_score?scope=user:carol@example.test").json
    assert v["value"] == 6.0 and v["set"] is True
    assert a.get("/users/carol%40example.test/settings").json["use_defaults"] is False
    # validation: everything checked before anything is written
    bad = [
        ({"tag_score": 101}, "tag_score"),
        ({"tag_score": "abc"}, "tag_score"),
        ({"tag_score": [1]}, "tag_score"),
        ({"quarantine_summary": "hourly"}, "quarantine_summary"),
        ({"quarantine_enabled": "perhaps"}, "quarantine_enabled"),
        ({"smtp_banner": "x"}, "smtp_banner"),
        ({"block_score": 5, "tag_score": -1000}, "tag_score"),
        ({"use_defaults": "yes"}, "use_defaults"),
    ]
    for body, field in bad:
        r = u.put("/me/settings", body)
        assert r.status == 400 and r.json["field"] == field, (body, r)
    assert a.get("/config/block_score?scope=user:carol@example.test").json["set"] is False
    # null = back to the default; use_defaults drops every own score
    r = u.put("/me/settings", {"tag_score": None})
    assert {x["name"]: x for x in r.json["settings"]}["tag_score"]["set"] is False
    r = u.put("/me/settings", {"use_defaults": True})
    assert r.json["use_defaults"] is True
    assert {x["name"]: x for x in r.json["settings"]}["quarantine_summary"]["value"] == "weekly"
    # the admin switches the user's right to change settings off
    a.put("/users/carol%40example.test", {"features": {"settings": False}})
    r = u.put("/me/settings", {"tag_score": 4})
    assert r.status == 403
    assert u.post("/me/lists/whitelist", {"entry": "a@b.example"}).status == 403
    assert u.get("/me/settings").status == 200
    # ... but the admin still can
    r = a.put("/users/carol%40example.test/settings", {"tag_score": 4})
    assert r.status == 200


def test_user_lists(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "dave@example.test")
    u = user_api(n, "dave@example.test")
    r = u.post("/me/lists/whitelist", {"entry": "Friend@Partner.EXAMPLE"})
    assert r.status == 201 and r.json == {"list": "whitelist", "entry": "friend@partner.example"}
    assert u.post("/me/lists/whitelist", {"entry": "@Trusted.example"}).json["entry"] == "trusted.example"
    assert u.post("/me/lists/blacklist", {"entry": "spam.example"}).status == 201
    lists = u.get("/me/lists").json
    assert [x["entry"] for x in lists["whitelist"]] == ["friend@partner.example", "trusted.example"]
    assert [x["entry"] for x in lists["blacklist"]] == ["spam.example"]
    for entry in ("", "not a domain", "a@", "@", "x" * 300, "a/b.example", 5):
        r = u.post("/me/lists/whitelist", {"entry": entry})
        assert r.status == 400 and r.json["field"] == "entry", (entry, r)
    assert u.post("/me/lists/greylist", {"entry": "a.example"}).status == 404
    assert u.delete("/me/lists/whitelist/trusted.example").status == 200
    assert u.delete("/me/lists/whitelist/trusted.example").status == 404
    assert u.delete("/me/lists/blacklist/nothere.example").status == 404
    # the admin sees and edits the same lists
    r = a.get("/users/dave%40example.test/lists").json
    assert [x["entry"] for x in r["whitelist"]] == ["friend@partner.example"]
    assert a.post("/users/dave%40example.test/lists/blacklist", {"entry": "x.example"}).status == 201
    assert [x["entry"] for x in u.get("/me/lists").json["blacklist"]] == ["spam.example", "x.example"]
    # propagated config: the keys are in the configuration export
    keys = a.get("/config/export").json["keys"]
    assert "ulist/dave@example.test/whitelist/friend@partner.example" in keys
    assert "user/dave@example.test" in keys


def test_me_and_own_password(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "erin@example.test")
    u = user_api(n, "erin@example.test")
    me = u.get("/me").json
    assert me["address"] == "erin@example.test" and "password_hash" not in json.dumps(me)
    other = user_api(n, "erin@example.test")
    r = u.put("/me/password", {"password": "erin-new-password"})
    assert r.status == 400 and r.json["field"] == "current_password"
    r = u.put("/me/password", {"password": "erin-new-password", "current_password": "wrong-one"})
    assert r.status == 400
    r = u.put("/me/password", {"password": "tiny", "current_password": "correct horse battery"})
    assert r.status == 400 and r.json["field"] == "password"
    r = u.put("/me/password", {"password": "erin-new-password",
                               "current_password": "correct horse battery"})
    assert r.status == 200
    assert u.get("/me").status == 200
    assert other.get("/me").status == 401, "other sessions end with a password change"
    user_api(n, "erin@example.test", "erin-new-password")


def test_set_password_link(make_node):
    n = make_node()
    a = admin(n)
    assert a.post("/users", {"address": "fay@example.test"}).status == 201
    Api(n).login("fay@example.test", "", expect=401)
    r = a.post("/users/fay%40example.test/link", {})
    assert r.status == 200 and r.json["mailed"] is False
    link = r.json["link"]
    assert "/user/?setpw=" in link
    token = link.split("setpw=")[1]
    v = Api(n)
    r = v.post("/auth/set-password", {"token": token, "password": "short"})
    assert r.status == 400 and r.json["field"] == "password"
    r = v.post("/auth/set-password", {"token": token[:-3] + "AAA", "password": "fay-password-1"})
    assert r.status == 400 and r.json["field"] == "token"
    r = v.post("/auth/set-password", {"token": "garbage", "password": "fay-password-1"})
    assert r.status == 400 and r.json["field"] == "token"
    r = v.post("/auth/set-password", {"token": token, "password": "fay-password-1"})
    assert r.status == 200 and r.json["role"] == "user" and v.cookie
    assert v.get("/me").status == 200
    # single use
    r = Api(n).post("/auth/set-password", {"token": token, "password": "fay-password-2"})
    assert r.status == 400
    user_api(n, "fay@example.test", "fay-password-1")
    # forgot: same answer for existing and unknown accounts
    assert Api(n).post("/auth/forgot", {"address": "fay@example.test"}).status == 202
    assert Api(n).post("/auth/forgot", {"address": "nobody@example.test"}).status == 202
    assert Api(n).post("/auth/forgot", {"address": "bad"}).status == 400


def test_cli_user_commands(make_node):
    n = make_node()
    r = n.cli("user", "add", "Gus@Example.test", "--password", "gus-password-1", json_out=True)
    assert r["address"] == "gus@example.test"
    r = n.cli("user", "add", "gus@example.test", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = n.cli("user", "add", "bad-address", check=False)
    assert r.returncode == 1
    lst = n.cli("user", "list", json_out=True)
    assert [x["address"] for x in lst] == ["gus@example.test"]
    assert "gus@example.test" in n.cli("user", "list").stdout
    user_api(n, "gus@example.test", "gus-password-1")
    import subprocess
    from conftest import RAMPART
    p = subprocess.run([RAMPART, "-c", n.conf, "user", "passwd", "gus@example.test"],
                       input="gus-password-2\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    user_api(n, "gus@example.test", "gus-password-2")
    assert "removed" in n.cli("user", "delete", "gus@example.test").stdout
    assert n.cli("user", "delete", "gus@example.test", check=False).returncode == 1
    # offline: the daemon stopped, users still managed in the config store
    n.stop()
    r = n.cli("user", "add", "offline@example.test", "--password", "offline-pass-1", json_out=True)
    assert r["address"] == "offline@example.test"
    n.start()
    user_api(n, "offline@example.test", "offline-pass-1")


def test_many_users_body_limits(make_node):
    """Oversized bodies: 1 MiB for ordinary endpoints (413), imports more."""
    n = make_node()
    a = admin(n)
    big = {"address": "x@example.test", "pad": "y" * (1100 * 1024)}
    r = a.post("/users", big)
    assert r.status == 413, r
    # over 1 MiB of CSV is fine for the import endpoint
    csv = "address,comment-column-ignored\n" + "".join(
        f"bulk{i}@example.test,{'c' * 40}\n" for i in range(20000))
    assert len(csv) > 1 << 20
    t0 = time.time()
    r = a.post("/users/import", {"csv": csv}, timeout=300)
    print(f"imported 20000 users in {time.time() - t0:.1f} s")
    assert r.status == 200 and r.json["created"] == 20000, r
    assert a.get("/users?limit=1").json["total"] == 20000
    # beyond the import limit (16 MiB): refused from the headers on
    assert raw_status(n, "POST", "/api/v1/users/import", 17 << 20, a) == 413
    assert n.running()


def raw_status(node, method, path, length, api):
    """Status of a request announcing `length` body bytes without sending
    them (the server must answer from the headers alone)."""
    import socket
    from conftest import unverified_tls
    with socket.create_connection(("127.0.0.1", node.http_port), timeout=10) as s:
        with unverified_tls().wrap_socket(s) as t:
            t.sendall((f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                       f"Cookie: rampart_session={api.cookie}\r\nX-CSRF-Token: {api.csrf}\r\n"
                       "Content-Type: application/json\r\n\r\n").encode())
            data = t.recv(200)
    return int(data.split()[1])

"""API authentication and security rules (docs/api.md §1-2, §4): first
start admin password, login, cookies, CSRF, expired sessions, lockout,
admin IP ranges, API tokens, admin password changes."""
import json

from apiclient import Api, admin, admin_password, db, make_user, user_api


def test_first_start_prints_admin_password_once(make_node):
    n = make_node()
    pw = admin_password(n)
    assert len(pw) >= 16
    assert n.log().count("initial admin password") == 1
    n.restart()
    assert n.log().count("initial admin password") == 1, "printed again after a restart"
    a = Api(n)
    r = a.login("admin", pw)
    assert r.json["role"] == "admin" and r.json["user"] == "admin"
    assert len(r.json["csrf_token"]) >= 32


def test_bootstrap_admin_password_is_used(make_node):
    n = make_node(extra_conf="admin_password = bootstrap-secret-1\n")
    assert "initial admin password" not in n.log()
    Api(n).login("admin", "bootstrap-secret-1")
    Api(n).login("admin", "wrong-password", expect=401)


def test_login_cookie_attributes_and_session(make_node):
    n = make_node()
    a = Api(n)
    r = a.login("admin", admin_password(n))
    cookie = r.header("Set-Cookie")
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attr in cookie, cookie
    s = a.get("/session")
    assert s.status == 200 and s.json["role"] == "admin"
    assert s.json["csrf_token"] == a.csrf
    # the session cookie is what authenticates
    b = Api(n)
    assert b.get("/session").status == 401
    assert b.get("/status").status == 401
    b.cookie = a.cookie
    assert b.get("/status").status == 200


def test_login_bad_input(make_node):
    n = make_node()
    a = Api(n)
    cases = [
        ({"username": "admin"}, "password"),
        ({"password": "x"}, "username"),
        ({"username": 5, "password": "x"}, "username"),
        ({"username": "admin", "password": ["x"]}, "password"),
        ({"username": "a" * 400, "password": "x"}, "username"),
    ]
    for body, field in cases:
        r = a.post("/auth/login", body)
        assert r.status == 400 and r.json["field"] == field, (body, r)
    r = a.call("POST", "/auth/login", raw_body=b'{"username": "admin", ')
    assert r.status == 400 and "malformed JSON" in r.json["error"]
    r = a.call("POST", "/auth/login", raw_body=b'["admin"]')
    assert r.status == 400
    r = a.call("POST", "/auth/login", raw_body=b'{"username":"a","username":"b","password":"x"}')
    assert r.status == 400, "duplicate keys are refused"
    r = a.post("/auth/login", {"username": "admin", "password": "nope-nope"})
    assert r.status == 401 and r.json["error"] == "wrong username or password"
    r = a.post("/auth/login", {"username": "nobody@example.test", "password": "nope-nope"})
    assert r.status == 401 and r.json["error"] == "wrong username or password"


def test_cross_site_form_posts_are_refused(make_node):
    """A cross-site HTML form can send text/plain or form bodies, never
    application/json: such bodies are refused (login CSRF too)."""
    n = make_node()
    a = Api(n)
    body = json.dumps({"username": "admin", "password": admin_password(n)}).encode()
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        h = {"Content-Type": ct} if ct else {}
        r = a.raw("POST", "/api/v1/auth/login", body, h)
        assert r.status == 415, (ct, r)
        assert "rampart_session" not in (r.header("Set-Cookie") or "")
    r = a.raw("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 200


def test_csrf_required_on_state_changes(make_node):
    n = make_node()
    a = admin(n)
    r = a.post("/tokens", {"name": "t1"}, csrf=False)
    assert r.status == 403 and r.json["field"] == "X-CSRF-Token"
    r = a.post("/tokens", {"name": "t1"}, headers={"X-CSRF-Token": "0" * 64}, csrf=False)
    assert r.status == 403
    r = a.call("PUT", "/config/tag_score", {"value": 4}, csrf=False)
    assert r.status == 403
    r = a.delete("/domains/example.test", csrf=False)
    assert r.status == 403
    assert a.post("/tokens", {"name": "t1"}).status == 201
    # GET needs none
    assert a.get("/tokens", csrf=False).status == 200


def test_expired_and_logged_out_sessions(make_node):
    n = make_node()
    a = admin(n)
    assert a.get("/status").status == 200
    # age the session past the idle timeout (30 min default)
    with db(n) as c:
        c.execute("UPDATE web_session SET last_ms = last_ms - 31 * 60 * 1000")
    r = a.get("/status")
    assert r.status == 401 and "expired" in r.json["error"]
    assert "Max-Age=0" in (r.header("Set-Cookie") or "")
    # absolute lifetime: 12 h even when used
    a = admin(n)
    with db(n) as c:
        c.execute("UPDATE web_session SET created_ms = created_ms - 13 * 3600 * 1000")
    assert a.get("/status").status == 401
    # logout ends the session on the server, not only the cookie
    a = admin(n)
    saved = a.cookie
    r = a.post("/auth/logout")
    assert r.status == 200 and "Max-Age=0" in r.header("Set-Cookie")
    b = Api(n)
    b.cookie = saved
    assert b.get("/status").status == 401


def test_login_lockout_and_retry_after(make_node):
    n = make_node()
    pw = admin_password(n)
    a = Api(n)
    for _ in range(5):
        a.login("admin", "wrong-password", expect=401)
    r = a.post("/auth/login", {"username": "admin", "password": pw})
    assert r.status == 429, r
    assert int(r.header("Retry-After")) > 0
    # lockout is per user name: another account still logs in
    adm_token = n.cli("token", "add", "t", json_out=True)["token"]
    t = Api(n)
    t.token = adm_token
    assert t.post("/users", {"address": "u@example.test", "password": "user-password-1"}).status == 201
    user_api(n, "u@example.test", "user-password-1")
    # when the lock ends, the right password works again
    with db(n) as c:
        c.execute("UPDATE web_login_fail SET locked_until_ms = 0")
    Api(n).login("admin", pw)


def test_login_lockout_setting(make_node):
    n = make_node()
    n.set("login_max_failures", "2")
    a = Api(n)
    make_user_via_cli = n.cli("user", "add", "x@example.test", "--password", "xx-password-1")
    assert make_user_via_cli.returncode == 0
    a.login("x@example.test", "bad-password", expect=401)
    a.login("x@example.test", "bad-password", expect=401)
    a.login("x@example.test", "xx-password-1", expect=429)


def test_admin_ip_ranges(make_node):
    n = make_node()
    a = admin(n)
    tok = a.post("/tokens", {"name": "script"}).json["token"]
    n.cli("user", "add", "u@example.test", "--password", "user-password-1")
    # over the web an admin cannot exclude their own address
    r = a.put("/config/admin_allowed_ips", {"value": "10.0.0.0/8"})
    assert r.status == 400 and r.json["field"] == "value"
    assert a.put("/config/admin_allowed_ips", {"value": "10.0.0.0/8 127.0.0.1/32"}).status == 200
    # a range that excludes 127.0.0.1 (the CLI may set it)
    n.set("admin_allowed_ips", "10.0.0.0/8, 192.0.2.0/24")
    assert a.get("/status").status == 403
    b = Api(n)
    r = b.post("/auth/login", {"username": "admin", "password": admin_password(n)})
    assert r.status == 403, r
    t = Api(n)
    t.token = tok
    assert t.get("/status").status == 403
    # users are not administrators: they still log in
    user_api(n, "u@example.test", "user-password-1")
    # the CLI (unix socket) is never restricted
    assert n.cli("status").returncode == 0
    n.set("admin_allowed_ips", "127.0.0.0/8")
    assert a.get("/status").status == 200
    n.set("admin_allowed_ips", "")
    assert t.get("/status").status == 200


def test_api_tokens(make_node):
    n = make_node()
    a = admin(n)
    r = a.post("/tokens", {"name": "backup script"})
    assert r.status == 201
    tok, tid = r.json["token"], r.json["id"]
    assert tok.startswith("rpt_") and tid in tok
    t = Api(n)
    t.token = tok
    assert t.get("/status").status == 200
    # no CSRF token needed with a bearer token
    assert t.put("/config/tag_score", {"value": 4.5}).status == 200
    s = t.get("/session")
    assert s.json["role"] == "admin" and s.json["csrf_token"] is None
    lst = a.get("/tokens").json
    row = [x for x in lst if x["id"] == tid][0]
    assert row["name"] == "backup script" and row["uses"] >= 3 and "token" not in row
    assert tok.split(".")[1] not in json.dumps(n.cli("config", "export", "-").stdout)
    # a wrong secret or an unknown id
    bad = Api(n)
    bad.token = tok[:-4] + ("0000" if not tok.endswith("0000") else "1111")
    assert bad.get("/status").status == 401
    bad.token = "rpt_nonsense"
    assert bad.get("/status").status == 401
    assert a.post("/tokens", {"name": ""}).status == 400
    assert a.post("/tokens", {"name": "x" * 101}).status == 400
    assert a.post("/tokens", {}).json["field"] == "name"
    assert a.delete(f"/tokens/{tid}").status == 200
    assert t.get("/status").status == 401
    assert a.delete(f"/tokens/{tid}").status == 404
    assert a.delete("/tokens/../../etc").status == 404


def test_admin_password_changes(make_node):
    n = make_node()
    old = admin_password(n)
    a = admin(n)
    other = admin(n)
    r = a.put("/admin/password", {"password": "new-admin-pass"})
    assert r.status == 400 and r.json["field"] == "current_password"
    r = a.put("/admin/password", {"password": "new-admin-pass", "current_password": "wrong"})
    assert r.status == 400 and r.json["field"] == "current_password"
    r = a.put("/admin/password", {"password": "short", "current_password": old})
    assert r.status == 400 and r.json["field"] == "password"
    r = a.put("/admin/password", {"password": "new-admin-pass", "current_password": old})
    assert r.status == 200
    # the caller stays logged in, other admin sessions end
    assert a.get("/status").status == 200
    assert other.get("/status").status == 401
    Api(n).login("admin", old, expect=401)
    Api(n).login("admin", "new-admin-pass")
    # the CLI: rampart admin passwd (no current password over the socket)
    r = n.cli("admin", "passwd", "--password", "cli-admin-pass")
    assert "password changed" in r.stdout
    Api(n).login("admin", "cli-admin-pass")
    r = n.cli("admin", "passwd", "--password", "short", check=False)
    assert r.returncode != 0 and "8" in r.stderr
    # stdin when not a terminal
    import subprocess
    from conftest import RAMPART
    p = subprocess.run([RAMPART, "-c", n.conf, "admin", "passwd"], input="piped-admin-pass\n",
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    Api(n).login("admin", "piped-admin-pass")


def test_roles_users_cannot_use_admin_endpoints(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "alice@example.test")
    u = user_api(n, "alice@example.test")
    for method, path in [("GET", "/status"), ("GET", "/users"), ("GET", "/config"),
                         ("GET", "/log"), ("GET", "/quarantine"), ("POST", "/tokens"),
                         ("PUT", "/admin/password"), ("GET", "/config/export"),
                         ("DELETE", "/users/alice%40example.test")]:
        r = u.call(method, path, {} if method != "GET" else None)
        assert r.status == 403, (method, path, r)
    # and administrators have no personal /me
    assert a.get("/me").status == 403
    assert a.get("/me/quarantine").status == 403
    # nobody without a session
    anon = Api(n)
    for path in ("/me", "/me/quarantine", "/users", "/status"):
        assert anon.get(path).status == 401
    s = u.get("/session").json
    assert s["role"] == "user" and s["user"] == "alice@example.test"
    assert s["features"] == {"quarantine": True, "scanning": True, "settings": True}


def test_deleted_user_loses_session(make_node):
    n = make_node()
    a = admin(n)
    make_user(a, "gone@example.test")
    u = user_api(n, "gone@example.test")
    assert u.get("/me").status == 200
    assert a.delete("/users/gone%40example.test").status == 200
    assert u.get("/me").status == 401


def test_security_headers(make_node):
    n = make_node()
    a = Api(n)
    for r in (a.get("/session"), a.raw("GET", "/"), a.raw("GET", "/nope.js")):
        csp = r.header("Content-Security-Policy")
        assert csp and "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, r.headers
        assert r.header("X-Content-Type-Options") == "nosniff"
        assert r.header("X-Frame-Options") == "DENY"
        assert "max-age" in r.header("Strict-Transport-Security")


def test_plain_http_is_refused(make_node):
    """HTTPS only: a plain HTTP request on the web port gets no HTTP answer."""
    import socket
    n = make_node()
    with socket.create_connection(("127.0.0.1", n.http_port), timeout=5) as s:
        s.sendall(b"GET /api/v1/session HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
    assert not data.startswith(b"HTTP/"), data

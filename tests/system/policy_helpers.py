"""Helpers of the policy system tests (lists, attachments, content filters,
fingerprints): the JSON API over the node's unix socket, SMTP from a
chosen loopback address with per-recipient replies, MIME messages with
attachments, zip archives (plain and encrypted) and the message log."""
import base64
import email.utils
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import zipfile

from conftest import SMTPConn, wait_for

# A body rule worth 20 points: a message carrying the marker is blocked by
# score (block_score 9) unless something lets it skip scoring.
SPAM_MARKER = "xyzzy-policy-spam-marker"
RULES_CF = f"""body     POLICY_TEST_SPAM  /{SPAM_MARKER}/
score    POLICY_TEST_SPAM  20
describe POLICY_TEST_SPAM  marker of the policy system tests
"""


def rules_conf(workdir):
    """Bootstrap lines that load the marker rule (plus nothing else)."""
    d = os.path.join(workdir, "policy-rules")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "policy.cf"), "w") as f:
        f.write(RULES_CF)
    return f"rules = {d}\n"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(node, method, path, body=None, expect=None):
    """One API call as the CLI makes it (unix socket, full admin). Returns
    (status, parsed JSON); asserts the status when expect is given."""
    conn = UnixHTTPConnection(os.path.join(node.data, "rampart.sock"))
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, "/api/v1" + path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    if expect is not None:
        assert r.status == expect, f"{method} {path}: {r.status} {parsed}"
    return r.status, parsed


def q(s):
    return urllib.parse.quote(s, safe="")


def list_add(node, name, entry, comment=None, action=None):
    body = {"entry": entry}
    if comment is not None:
        body["comment"] = comment
    if action is not None:
        body["action"] = action
    return api(node, "POST", f"/lists/{name}", body, expect=201)[1]


def list_remove(node, name, entry):
    return api(node, "DELETE", f"/lists/{name}/{q(entry)}", expect=200)[1]


def filter_add(node, target, pattern, action, fid=None, comment=""):
    body = {"target": target, "pattern": pattern, "action": action, "comment": comment}
    if fid:
        body["id"] = fid
    return api(node, "POST", "/filters", body, expect=201)[1]


def set_setting(node, name, value):
    return api(node, "PUT", f"/config/{name}", {"value": value}, expect=200)[1]


def smtp_send(node, frm, rcpts, data, source=None, helo="client.test"):
    """One transaction from a chosen loopback address. Returns
    (rcpt_replies, final_reply); final_reply is None when no recipient
    was accepted."""
    if isinstance(data, str):
        data = data.encode()
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    stuffed = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln
                           for ln in data.split(b"\r\n"))
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    with SMTPConn(node.smtp_port, timeout=60, source=source) as c:
        assert c.banner[0] == 220, c.banner
        assert c.cmd(f"EHLO {helo}")[0] == 250
        code, text = c.cmd(f"MAIL FROM:<{frm}>")
        assert code == 250, text
        replies = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        if not any(code == 250 for code, _ in replies):
            c.cmd("QUIT")
            return replies, None
        assert c.cmd("DATA")[0] == 354
        c.send(stuffed + b".\r\n")
        final = c.reply()
        c.cmd("QUIT")
        return replies, final


def message(subject="policy test", body="Hello,\nthis is a perfectly normal message.\n",
            frm="alice@outside.test", to="bob@example.test", headers=None,
            attachments=()):
    """A MIME message; attachments = [(filename, content_type, bytes)]."""
    mid = f"<{time.time_ns()}.{os.getpid()}@outside.test>"
    head = [f"From: <{frm}>", f"To: <{to}>", f"Subject: {subject}", f"Message-ID: {mid}",
            f"Date: {email.utils.formatdate()}", "MIME-Version: 1.0"]
    head += list(headers or ())
    if not attachments:
        head.append("Content-Type: text/plain; charset=utf-8")
        return "\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")
    b = "policy-boundary-42"
    head.append(f'Content-Type: multipart/mixed; boundary="{b}"')
    parts = [f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             + body.replace("\n", "\r\n")]
    for name, ctype, data in attachments:
        enc = base64.encodebytes(data).decode().replace("\n", "\r\n")
        parts.append(f"--{b}\r\nContent-Type: {ctype}; name=\"{name}\"\r\n"
                     f"Content-Transfer-Encoding: base64\r\n"
                     f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{enc}")
    return "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(parts) + f"\r\n--{b}--\r\n"


def zip_bytes(entries, compress=True):
    """A real zip archive (Python's zipfile) of [(name, bytes)]."""
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return out.getvalue()


def encrypted_zip(workdir, name, data, password="secret"):
    """A password-protected zip made by Info-ZIP's `zip -P` (traditional
    PKWARE encryption); without the zip tool, the same structure written
    by zipfile with the encryption flag set in both headers."""
    d = os.path.join(workdir, f"ezip-{time.time_ns()}")
    os.makedirs(d)
    if shutil.which("zip"):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        subprocess.run(["zip", "-q", "-P", password, "out.zip", name], cwd=d, check=True)
        with open(os.path.join(d, "out.zip"), "rb") as f:
            return f.read()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo(name)
        info.flag_bits |= 0x1
        z.writestr(info, os.urandom(12) + data)
    return out.getvalue()


def log_rows(node, **query):
    qs = urllib.parse.urlencode(dict(query, limit=100))
    return api(node, "GET", f"/log?{qs}", expect=200)[1]["rows"]


def log_of(node, subject):
    """The message-log row of the message with this subject (waits)."""
    def find():
        rows = [r for r in log_rows(node, subject=subject) if r["subject"] == subject]
        return rows[0] if rows else None
    return wait_for(find, what=f"message log row for {subject!r}")


def delivered(maildir):
    """{recipient directory: [message bytes]} delivered so far."""
    out = {}
    if not os.path.isdir(maildir):
        return out
    for rcpt in sorted(os.listdir(maildir)):
        new = os.path.join(maildir, rcpt, "new")
        for f in sorted(os.listdir(new)) if os.path.isdir(new) else []:
            with open(os.path.join(new, f), "rb") as fh:
                out.setdefault(rcpt, []).append(fh.read())
    return out


def delivered_subjects(maildir):
    """{recipient: [Subject header values]}."""
    out = {}
    for rcpt, msgs in delivered(maildir).items():
        for m in msgs:
            head = m.split(b"\n\n", 1)[0].decode(errors="replace")
            subj = [ln[9:] for ln in head.split("\n") if ln.lower().startswith("subject: ")]
            out.setdefault(rcpt, []).append(subj[0] if subj else "")
    return out

"""Cluster lab: rampart nodes (or plain corosync processes) each in its own
network namespace and mount namespace, linked by a bridge that lives in a
namespace of its own.

Nothing here touches the host's interfaces, routes or files outside the
lab's temporary directory: the bridge is created inside `<prefix>-br`, each
node gets one veth end in its namespace, addresses come from a private
10.213.X.0/24 (X random per lab) and there is no default route, so no packet
can leave the lab. Inside each node's mount namespace a fresh tmpfs covers
/run, /var/lib/corosync, /var/log/corosync, /etc/corosync and /dev/shm, so
several corosync instances (one per node) never share a pid file, state
dir, config or libqb ring; corosync's IPC uses abstract unix sockets, which
are per network namespace.

Namespace names carry the pytest process id (`rpl<PID>-...`), so parallel
test files never collide and cleanup.sh can remove leftovers whose owner is
dead. Lab.close() (called by the fixtures even when a test fails) kills
every process inside the lab's namespaces and deletes them.

Requires root (ip netns, mount)."""
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time

PREFIX = "rpl"
HERE = os.path.dirname(os.path.abspath(__file__))

# The single-node harness (tests/system/conftest.py) is loaded under its own
# module name: tests/cluster has a conftest of its own.
_spec = importlib.util.spec_from_file_location(
    "rampart_system_conftest", os.path.join(HERE, "..", "system", "conftest.py"))
sysconf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sysconf)

RAMPARTD = sysconf.RAMPARTD
RAMPART = sysconf.RAMPART
wait_for = sysconf.wait_for
retry_exec = sysconf.retry_exec
CRASH_MARKERS = sysconf.CRASH_MARKERS

# Run inside the node's fresh mount namespace before exec'ing the daemon.
# Debian's /var/run is a symlink to /run; other layouts get their own tmpfs.
NODE_MOUNTS = r"""
set -e
mount -t tmpfs -o mode=0755,size=64m lab-run /run
[ -L /var/run ] || mount -t tmpfs -o mode=0755,size=16m lab-varrun /var/run
for d in /var/lib/corosync /var/log/corosync /etc/corosync; do
	[ -d "$d" ] || mkdir -p "$d"
	mount -t tmpfs -o mode=0755,size=16m lab-cs "$d"
done
mount -t tmpfs -o mode=1777,size=256m lab-shm /dev/shm
if [ -n "$LAB_HOSTS" ]; then mount --bind "$LAB_HOSTS" /etc/hosts; fi
exec "$@"
"""


def sh(*argv, check=True, timeout=30):
    """Runs a command; raises with its stderr on failure (when check)."""
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: "
                           f"{r.stderr.strip()}")
    return r


def ns_list():
    r = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def ns_pids(ns):
    r = sh("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def ns_kill_all(ns, timeout=5.0):
    """SIGKILL to every process in a namespace, until none is left."""
    end = time.time() + timeout
    while True:
        pids = ns_pids(ns)
        if not pids:
            return True
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.time() > end:
            return False
        time.sleep(0.05)


class LabNode(sysconf.Node):
    """One rampartd in its own namespaces. Inherits the CLI helpers of the
    single-node harness (cli, set, status, log, wait_log, stop)."""

    def __init__(self, lab, index, name, extra_conf="", hosts=None):
        self.lab = lab
        self.index = index
        self.name = name
        self.ns = f"{lab.prefix}-{name}"
        self.addr = lab.addr(index)
        self.dir = os.path.join(lab.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.smtp_port = 25
        self.http_port = 443
        self.conf = os.path.join(self.dir, "rampart.conf")
        self.log_path = os.path.join(self.dir, "rampartd.log")
        self.hostname = f"{name}.lab.test"
        self.hosts_file = None
        if hosts is not None:
            self.set_hosts(hosts)
        # inside the netns nothing listens on 127.0.0.1:53: lookups fail
        # at once and nothing is ever sent off the lab
        if "dns_servers" not in extra_conf:
            extra_conf = "dns_servers = 127.0.0.1:53\n" + extra_conf
        # a one-rule set: a node starts in well under a second even under
        # ASan (the full rules/ set compiles for 10+ s per node there)
        if "rules" not in extra_conf:
            extra_conf = f"rules = {os.path.join(HERE, 'rules')}\n" + extra_conf
        with open(self.conf, "w") as f:
            f.write(f"data_dir = {self.data}\n"
                    f"smtp_listen = {self.addr}:{self.smtp_port}\n"
                    f"http_listen = {self.addr}:{self.http_port}\n"
                    f"hostname = {self.hostname}\n"
                    f"log_level = debug\n" + extra_conf)
        self.proc = None
        self.logf = None
        self.expect_exit = False

    def set_hosts(self, entries):
        """A private /etc/hosts for this node (applies from its next start):
        entries is {name: address}."""
        self.hosts_file = os.path.join(self.dir, "hosts")
        with open(self.hosts_file, "w") as f:
            f.write("127.0.0.1 localhost\n")
            for name, addr in entries.items():
                f.write(f"{addr} {name}\n")

    # -- process control --
    def argv(self):
        return [RAMPARTD, "-c", self.conf]

    def start(self, wait=True, timeout=90):
        if getattr(self, "crashed", False):
            self.lab.reconnect(self)
            self.crashed = False
        self.expect_exit = False
        self.logf = open(self.log_path, "a")
        self.proc = self.lab.spawn(self, self.argv(), stdout=self.logf)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=90):
        wait_for(lambda: self.proc.poll() is not None or
                 self.cli("status", check=False).returncode == 0,
                 timeout=timeout, interval=0.1, what=f"{self.name}'s control socket")
        assert self.proc.poll() is None, f"{self.name} exited:\n{self.log()[-4000:]}"

    def kill9(self):
        """A machine crash: SIGKILL to every process of the node (rampartd
        and its corosync), then the node's namespace is empty."""
        assert ns_kill_all(self.ns), f"processes left in {self.ns}"
        if self.proc:
            self.proc.wait()
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    def crash(self):
        """A silent death (power loss): the node's cable is pulled first, so
        nothing it had open says goodbye (no TCP FIN/RST, no corosync leave
        message), then every process is SIGKILLed. The link comes back at
        the next start()."""
        self.lab.isolate(self)
        self.crashed = True
        self.kill9()

    def kill9_daemon_only(self):
        """SIGKILL to rampartd alone (its corosync child is orphaned)."""
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        rc = super().stop(sig, timeout)
        # whatever the daemon left behind in its namespace (corosync)
        ns_kill_all(self.ns)
        return rc

    def pids(self):
        return ns_pids(self.ns)

    def exec(self, *argv, timeout=30, check=True):
        """Runs a command inside the node's network namespace *and* the
        daemon's mount namespace (corosync-cfgtool, corosync-quorumtool,
        a browser pointed at the node's address)."""
        assert self.running(), f"{self.name} is not running"
        return sh("nsenter", "-t", self.proc.pid, "-m", "-n", *argv,
                  timeout=timeout, check=check)

    def netexec(self, *argv, timeout=30, check=True):
        """Runs a command in the node's network namespace only."""
        return sh("ip", "netns", "exec", self.ns, *argv, timeout=timeout, check=check)

    def api(self):
        """The node's JSON API over its control socket (full admin)."""
        return UnixAPI(os.path.join(self.data, "rampart.sock"))


class CorosyncNode(LabNode):
    """A plain corosync (no rampartd) in the same namespaces: proves the lab."""

    def __init__(self, lab, index, name, conf_text, authkey):
        self.lab = lab
        self.index = index
        self.name = name
        self.ns = f"{lab.prefix}-{name}"
        self.addr = lab.addr(index)
        self.dir = os.path.join(lab.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "corosync.conf")
        self.log_path = os.path.join(self.dir, "corosync.log")
        self.hosts_file = None
        key = os.path.join(self.dir, "authkey")
        with open(self.conf, "w") as f:
            f.write(conf_text.replace("@KEYFILE@", key))
        shutil.copy(authkey, key)
        os.chmod(key, 0o400)
        self.proc = None
        self.logf = None
        self.expect_exit = False

    def argv(self):
        return ["corosync", "-f", "-c", self.conf]

    def wait_ready(self, timeout=30):
        wait_for(lambda: self.proc.poll() is not None or
                 self.exec("corosync-cfgtool", "-s", check=False).returncode == 0,
                 timeout=timeout, interval=0.1, what=f"{self.name}'s corosync")
        assert self.proc.poll() is None, f"{self.name} exited:\n{self.log()}"

    def members(self):
        """Node ids of the current membership as this node sees it."""
        r = self.exec("corosync-cmapctl", "-b", "runtime.members", check=False)
        ids = set()
        for line in r.stdout.splitlines():
            m = re.match(r"runtime\.members\.(\d+)\.status \(str\) = joined", line)
            if m:
                ids.add(int(m.group(1)))
        return ids


class Lab:
    """A bridge namespace plus one namespace per node. Use as a context
    manager or call close(); close() is safe to call twice."""

    def __init__(self, workdir=None, tag=None):
        self.owner = os.getpid()
        self.prefix = f"{PREFIX}{self.owner}" + (f"{tag}" if tag else "")
        self.dir = workdir or tempfile.mkdtemp(prefix=f"rampart-lab-{self.owner}-")
        self.own_dir = workdir is None
        self.net = random.randint(1, 254)
        self.bridge_ns = f"{self.prefix}-br"
        self.nodes = []
        self.bridges = []
        self.port = {}  # node index -> the bridge its port is on (None: cut)
        self.closed = False
        try:
            sh("ip", "netns", "add", self.bridge_ns)
            self._bridge("br0")
        except Exception:
            self.close()
            raise

    def _bridge(self, name):
        """A bridge (segment) in the bridge namespace."""
        sh("ip", "-n", self.bridge_ns, "link", "add", name, "type", "bridge")
        # no STP/forward delay: a veth is forwarding as soon as it is up
        sh("ip", "-n", self.bridge_ns, "link", "set", name, "type", "bridge",
           "forward_delay", "0", "stp_state", "0")
        sh("ip", "-n", self.bridge_ns, "link", "set", name, "up")
        self.bridges.append(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def addr(self, index):
        return f"10.213.{self.net}.{10 + index}"

    def _netns(self, name):
        """Creates node namespace `name` with its veth on the bridge."""
        ns = f"{self.prefix}-{name}"
        idx = len(self.nodes) + 1
        peer = f"p{idx}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth",
           "peer", "name", peer, "netns", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "set", peer, "master", "br0")
        sh("ip", "-n", self.bridge_ns, "link", "set", peer, "up")
        self.port[idx] = "br0"
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", f"{self.addr(idx)}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        return idx

    def add_node(self, name=None, extra_conf="", hosts=None, start=True):
        """A rampartd node (started unless start=False)."""
        name = name or f"n{len(self.nodes) + 1}"
        idx = self._netns(name)
        node = LabNode(self, idx, name, extra_conf, hosts)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def add_corosync(self, name, conf_text, authkey, start=True):
        idx = self._netns(name)
        node = CorosyncNode(self, idx, name, conf_text, authkey)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def spawn(self, node, argv, stdout):
        env = dict(os.environ)
        env["LAB_HOSTS"] = node.hosts_file or ""
        return retry_exec(subprocess.Popen,
                          ["ip", "netns", "exec", node.ns,
                           "unshare", "--mount", "--propagation", "private",
                           "sh", "-c", NODE_MOUNTS, "lab-node", *argv],
                          stdout=stdout, stderr=subprocess.STDOUT, env=env)

    # -- faults --
    #
    # Every fault is made in the bridge's namespace, like a switch losing
    # a port or splitting into segments: a node's own interface, address
    # and routes never change, so its sends still succeed and the packets
    # are lost on the way, silently, as in a real partition. Faults made
    # inside the node (blackhole routes, its link down) make every send
    # fail at once (EINVAL, ENETUNREACH) instead, and knet cannot recover
    # from that: a PMTUD probe that fails that way marks the peer's link
    # "no valid MTU", so knet stops sending data to the peer ("host: host:
    # N has no active links") while the heartbeat keeps the link
    # "connected"; only the link going down and up again, or the next
    # periodic PMTUD (knet_pmtud_interval, 30 s), clears it. When a heal
    # came before the pong timeout had taken the link down, the ring
    # stayed split for up to 30 s (test_partition_and_heal timed out in
    # 1 run of 8 to 1 of 2).

    def _attach(self, nodes, bridge):
        """Moves the nodes' bridge ports to `bridge` (created when new;
        None: no bridge at all, the cable pulled), in one `ip -batch`."""
        if not nodes:
            return
        if bridge and bridge not in self.bridges:
            self._bridge(bridge)
        lines = [f"link set p{n.index} {'master ' + bridge if bridge else 'nomaster'}"
                 for n in nodes]
        r = subprocess.run(["ip", "-n", self.bridge_ns, "-batch", "-"],
                           input="\n".join(lines) + "\n", capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"ip -batch {lines}: {r.stderr.strip()}")
        for n in nodes:
            self.port[n.index] = bridge

    def partition(self, *groups):
        """Cuts traffic between the groups (lists of nodes): each group
        gets a bridge of its own (segment `brK`), so packets between groups
        are lost in the bridge's namespace; nodes in no group stay on br0."""
        for k, g in enumerate(groups, 1):
            self._attach(g, f"br{k}")

    def heal(self):
        """Every node of a partition back on br0 (an isolated node stays
        cut until reconnect)."""
        self._attach([n for n in self.nodes if self.port.get(n.index) not in
                      ("br0", None)], "br0")

    def isolate(self, node):
        """The node's cable pulled: its bridge port leaves the bridge, so
        what it sends goes nowhere and nothing reaches it."""
        self._attach([node], None)

    def reconnect(self, node):
        self._attach([node], "br0")

    # -- teardown --
    def problems(self):
        """Crashes: nodes that died without being told, sanitizer reports."""
        out = []
        for n in self.nodes:
            if n.proc and n.proc.poll() is not None and not n.expect_exit:
                out.append(f"{n.name} died during the test (exit {n.proc.returncode})")
            log = n.log()
            for marker in CRASH_MARKERS:
                if marker in log:
                    out.append(f"{n.name}: '{marker}' in its log")
        return out

    def close(self):
        if self.closed:
            return
        self.closed = True
        # all nodes are told at once (a graceful stop lets the sanitizers
        # report leaks); plain corosync is simply killed
        live = [n for n in self.nodes if n.proc and n.proc.poll() is None]
        for n in live:
            n.expect_exit = True
            n.proc.send_signal(signal.SIGKILL if isinstance(n, CorosyncNode) else signal.SIGTERM)
        end = time.time() + 15
        for n in live:
            try:
                n.proc.wait(max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                n.proc.kill()
        for ns in [f"{self.prefix}-{n.name}" for n in self.nodes] + [self.bridge_ns]:
            ns_kill_all(ns)
            sh("ip", "netns", "del", ns, check=False)
        for n in self.nodes:
            if n.proc:
                try:
                    n.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            if n.logf:
                n.logf.close()

    def remove(self):
        """Deletes the lab's directory (logs, data) unless LAB_KEEP is set."""
        self.close()
        if self.own_dir and not os.environ.get("LAB_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def cleanup_stale(prefix=PREFIX, everything=False):
    """Removes lab namespaces whose owner process is gone (or all of them);
    returns their names. Same as cleanup.sh."""
    removed = []
    for ns in ns_list():
        m = re.match(rf"{prefix}(\d+)", ns)
        if not m:
            continue
        if not everything and os.path.exists(f"/proc/{m.group(1)}"):
            continue
        ns_kill_all(ns)
        sh("ip", "netns", "del", ns, check=False)
        removed.append(ns)
    return removed


def corosync_conf(lab, names, token=1000, cluster_name="lab", totem_extra="", extra=""):
    """corosync.conf for plain-corosync nodes `names` (indexes 1..n in the
    order the lab will create them): knet, aes256 + sha256, authkey in
    the config's directory (the lab copies it there)."""
    nodes = "".join(
        f"\tnode {{\n\t\tring0_addr: {lab.addr(i + 1)}\n\t\tnodeid: {i + 1}\n"
        f"\t\tname: {n}\n\t}}\n" for i, n in enumerate(names))
    return ("totem {\n\tversion: 2\n\tcluster_name: " + cluster_name + "\n"
            "\ttransport: knet\n\tcrypto_cipher: aes256\n\tcrypto_hash: sha256\n"
            f"\ttoken: {token}\n\tkeyfile: @KEYFILE@\n{totem_extra}}}\n"
            "nodelist {\n" + nodes + "}\n"
            "quorum {\n\tprovider: corosync_votequorum\n}\n"
            "logging {\n\tto_stderr: yes\n\tto_syslog: no\n\tto_logfile: no\n\ttimestamp: hires\n}\n"
            + extra)



def require_cluster_cli(node):
    """Fails (never skips) with a clear message while the cluster code is
    missing: `rampart cluster status --json` must answer."""
    r = node.cli("cluster", "status", check=False, json_out=False)
    if r.returncode != 0:
        raise AssertionError(
            "cluster CLI not available yet: `rampart cluster status` exited "
            f"{r.returncode}: {(r.stderr or r.stdout).strip().splitlines()[0][:300]} "
            "(see /work/notes/cluster-lab.md)")


# -- the daemon's API over its unix socket (what the CLI does, without a
# process per call: the bench and tight polls use this) --

class UnixAPI:
    """HTTP/1.0 JSON requests to a node's control socket (full admin)."""

    def __init__(self, sock_path, timeout=10):
        self.path = sock_path
        self.timeout = timeout

    def request(self, method, path, body=None):
        import socket
        data = json.dumps(body).encode() if body is not None else b""
        req = (f"{method} /api/v1{path} HTTP/1.0\r\nHost: localhost\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
               ).encode() + data
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            s.connect(self.path)
            s.sendall(req)
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        raw = b"".join(chunks)
        head, _, payload = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        try:
            out = json.loads(payload) if payload else None
        except ValueError:
            out = payload.decode(errors="replace")
        return status, out

    def get(self, path):
        return self.request("GET", path)

    def put(self, path, body):
        return self.request("PUT", path, body)

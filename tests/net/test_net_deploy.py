# tests/net/test_net_deploy.py: `ssdk deploy` against real sshd. Three host namespaces,
# each with Debian's sshd on its management address and a data interface where ssdk
# serves, bridged in a client namespace where the deploy runs and a client requests
# every host without pause, checking every body by sha256. Through one fleet's life:
# the first deploy; a content-only deploy (swapped in: no failed, mixed or dropped
# request); a code deploy (host by host: never all down at once); a release whose
# health check fails (put back, the other hosts untouched, exit 1); `ssdk rollback`, to
# the release before and to a named one; a held lock and an unreachable host (one line
# naming the host). Then HTTPS through deploy, on two hosts: the fleet file's
# certificate and the fleet's own ticket key on each, answers byte-exact from each, a
# TLS 1.2 session resumed across hosts, nothing re-sent, a new certificate restarting
# host by host. Keys are made here (ssh-keygen); everything is removed afterwards, also
# on failure.
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nethelpers import CI, REPO, require_net

from ssdk.tools.netns import Lan, lan, ns_exec

pytestmark = pytest.mark.net

SSHD = "/usr/sbin/sshd"
BIG = "/files/big.bin"


def _need_tools(*more: str) -> None:
    require_net()
    tools = (SSHD, "ssh-keygen", "setsid", "sha256sum", *more)
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"tools missing: {', '.join(missing)} (apt-get install openssh-server curl)"
        if CI:
            pytest.fail(f"CI=true and {msg}", pytrace=False)
        pytest.skip(msg)


def _project(tmp: Path) -> Path:
    """The site the tests deploy: a pyproject naming APP_PY."""
    project = tmp / "site"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "site"\n[tool.ssdk]\napp = "app.py"\n'
    )
    (project / "app.py").write_text(APP_PY)
    return project


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["XDG_CACHE_HOME"] = str(tmp / "cache")  # the wheel is built once, for this run
    return env


APP_PY = """\
import ssdk
from pathlib import Path

HERE = Path(__file__).parent
app = ssdk.App()
app.static("/files", "public/")


@app.page("/")
def index() -> ssdk.Response:
    return ssdk.html((HERE / "content.html").read_text())
"""


def write_version(project: Path, version: int) -> dict[str, bytes]:
    """The project's content at `version`; path -> body."""
    html = f"<h1>release content v{version}</h1>\n" + "x" * 3000 * version
    big = random.Random(f"deploy-{version}").randbytes(300_000)
    (project / "content.html").write_text(html)
    (project / "public").mkdir(parents=True, exist_ok=True)
    (project / "public" / "big.bin").write_bytes(big)
    return {"/": html.encode(), BIG: big}


# The client: one keep-alive connection per host, a request to each host in turn,
# every response's body checked against the versions that may be served. A request that
# had to open a new connection (other than the first) is a dropped connection.
CLIENT = r"""
import hashlib, http.client, json, signal, sys, time
hosts = sys.argv[1].split(",")
allowed = json.load(open(sys.argv[2]))  # path -> {sha256: version}
out = open(sys.argv[3], "w", buffering=1)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
conns, used = {}, set()
paths = sorted(allowed)
rnd = 0
while not stop:
    for h in hosts:
        path = paths[rnd % len(paths)]
        rec = {"t": time.time(), "round": rnd, "host": h, "path": path}
        c = conns.get(h)
        rec["reopened"] = c is None and h in used
        try:
            if c is None:
                c = conns[h] = http.client.HTTPConnection(h, 80, timeout=2)
                used.add(h)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            sha = hashlib.sha256(body).hexdigest()
            version = allowed[path].get(sha)
            rec.update(status=r.status, version=version,
                       kind="ok" if r.status == 200 and version else "mixed")
            if (r.getheader("connection") or "").lower() == "close":
                conns.pop(h).close()
        except Exception as e:
            rec.update(kind="fail", err=f"{type(e).__name__}: {e}"[:120])
            old = conns.pop(h, None)
            if old is not None:
                old.close()
        out.write(json.dumps(rec) + "\n")
    rnd += 1
    time.sleep(0.01)
"""


@dataclass
class Rig:
    lan: Lan
    tmp: Path
    project: Path
    fleet: Path
    roots: list[Path]
    log: Path
    bodies: dict[int, dict[str, bytes]]

    def ssdk(self, *argv: str, fleet: Path | None = None, timeout: float = 600) -> tuple[
        subprocess.CompletedProcess[str], float, float, float
    ]:
        """Run `ssdk ARGV --fleet FLEET` in the client namespace; (result, t0, t1, s)."""
        cmd = [sys.executable, "-m", "ssdk", *argv, "--fleet", str(fleet or self.fleet)]
        t0 = time.time()
        proc = subprocess.run(
            ns_exec(self.lan.client_ns, cmd),
            cwd=self.tmp,
            env=_env(self.tmp),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        t1 = time.time()
        print(f"$ ssdk {' '.join(argv)} ({t1 - t0:.2f} s, exit {proc.returncode})")
        print(proc.stdout + proc.stderr, end="")
        return proc, t0, t1, t1 - t0

    def records(self, t0: float, t1: float) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if t0 <= rec["t"] <= t1:
                    out.append(rec)
        return out

    def settle(self, timeout: float = 30) -> None:
        """Wait until the client has had an answer from every host since now (after a
        restart, its connections are open again and its timeouts are over)."""
        since = time.time()
        deadline = time.monotonic() + timeout
        ips = {h.data_ip for h in self.lan.hosts}
        while time.monotonic() < deadline:
            seen = {r["host"] for r in self.records(since, time.time()) if r["kind"] == "ok"}
            if seen == ips:
                return
            time.sleep(0.1)
        raise AssertionError(f"the client got no answer from every host in {timeout} s")

    def health(self, host: int) -> str:
        """What host i's health route answers now (from the client namespace)."""
        ip = self.lan.hosts[host].data_ip
        code = (
            "import urllib.request,sys\ntry:\n"
            f" print(urllib.request.urlopen('http://{ip}/healthz', timeout=2).read().decode())\n"
            "except Exception as e:\n print('none', type(e).__name__)"
        )
        proc = subprocess.run(
            ns_exec(self.lan.client_ns, [sys.executable, "-c", code]),
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return proc.stdout.strip()


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return path.with_suffix(".pub").read_text().strip()


def _wait_port(ns: str, ip: str, port: int, timeout: float = 20) -> None:
    code = (
        f"import socket,sys,time\nd=time.time()+{timeout!r}\nwhile time.time()<d:\n"
        f" try:\n  socket.create_connection(({ip!r},{port}),1).close(); sys.exit(0)\n"
        " except OSError: time.sleep(0.1)\nsys.exit(1)"
    )
    proc = subprocess.run(ns_exec(ns, [sys.executable, "-c", code]), timeout=timeout + 10)
    assert proc.returncode == 0, f"nothing listens on {ip}:{port} after {timeout} s"


@contextlib.contextmanager
def _sshd(rig_tmp: Path, net: Lan) -> Iterator[list[subprocess.Popen[bytes]]]:
    """sshd in each host namespace on its management address, with keys made here."""
    keys = rig_tmp / "keys"
    keys.mkdir()
    client_pub = _keygen(keys / "id_ed25519")
    (keys / "authorized_keys").write_text(client_pub + "\n")
    known: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation
    try:
        for i, h in enumerate(net.hosts, 1):
            hostkey = keys / f"host{i}_ed25519"
            pub = _keygen(hostkey).split()
            known.append(f"{h.mgmt_ip} {pub[0]} {pub[1]}")
            cfg = keys / f"sshd{i}.conf"
            cfg.write_text(
                f"ListenAddress {h.mgmt_ip}\nPort 22\nHostKey {hostkey}\n"
                f"AuthorizedKeysFile {keys}/authorized_keys\nPermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                f"StrictModes no\nPidFile {keys}/sshd{i}.pid\nSubsystem sftp internal-sftp\n"
                "LogLevel ERROR\n"
            )
            check = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
            # Its log (probes of the port, closed sessions) goes to a file beside its keys.
            with (keys / f"sshd{i}.log").open("wb") as log:
                argv = ns_exec(h.ns, [SSHD, "-D", "-e", "-f", str(cfg)])
                procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        (keys / "known_hosts").write_text("\n".join(known) + "\n")
        for h in net.hosts:
            _wait_port(net.client_ns, h.mgmt_ip, 22)
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)


def write_fleet(tmp_path: Path, net: Lan, roots: list[Path], extra: str) -> Path:
    """tmp_path/fleet.toml: the rig's hosts (one per root, process-supervised, the
    test's SSH key), with ``extra`` keys in [fleet]."""
    hosts = "".join(
        f'[[host]]\nname = "h{i}"\nssh = "root@{h.mgmt_ip}:22"\niface = "{h.data_if}"\n'
        f'ip = "{h.data_ip}/15"\nroot = "{roots[i - 1]}"\n\n'
        for i, h in enumerate(net.hosts, 1)
    )
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[fleet]\nbackend = "af_packet"\nservice = "process"\n'
        'identity = "keys/id_ed25519"\nknown_hosts = "keys/known_hosts"\n'
        f'python = "{sys.executable}"\n{extra}\n' + hosts
    )
    return fleet


def _stop_services(roots: list[Path]) -> None:
    """Stop what the deploys started (SIGTERM to each supervisor: ssdk serve stops its
    workers and removes its counters), before the namespaces go."""
    pids = []
    for root in roots:
        with contextlib.suppress(OSError, ValueError):
            pid = int((root / "run" / "supervise.pid").read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
    deadline = time.monotonic() + 15
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    _need_tools()
    with lan("deploy", hosts=3) as net, _sshd(tmp_path, net):
        project = _project(tmp_path)
        roots = [tmp_path / "hosts" / f"h{i}" for i in range(1, 4)]
        fleet = write_fleet(tmp_path, net, roots,
                            'health = "/healthz"\nhealth_timeout = 8\nkeep = 2\n')  # fmt: skip
        bodies = {v: write_version(project, v) for v in (2, 1)}  # leaves v1 in place
        allowed: dict[str, dict[str, int]] = {}
        for v, b in bodies.items():
            for path, body in b.items():
                allowed.setdefault(path, {})[hashlib.sha256(body).hexdigest()] = v
        (tmp_path / "allowed.json").write_text(json.dumps(allowed))
        log = tmp_path / "client.jsonl"
        client = subprocess.Popen(
            ns_exec(net.client_ns, [sys.executable, "-c", CLIENT,
                                    ",".join(h.data_ip for h in net.hosts),
                                    str(tmp_path / "allowed.json"), str(log)])
        )  # fmt: skip
        try:
            yield Rig(net, tmp_path, project, fleet, roots, log, bodies)
        finally:
            client.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(5)
            _stop_services(roots)


def _summary(recs: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "requests": len(recs),
        "failed": sum(r["kind"] == "fail" for r in recs),
        "mixed": sum(r["kind"] == "mixed" for r in recs),
        "reopened": sum(bool(r["reopened"]) for r in recs),
    }


def _never_all_down(recs: list[dict[str, Any]], hosts: int) -> None:
    by_round: dict[int, list[str]] = {}
    for r in recs:
        by_round.setdefault(r["round"], []).append(r["kind"])
    down = [n for n, kinds in by_round.items() if len(kinds) == hosts and set(kinds) == {"fail"}]
    assert not down, f"every host failed at once in rounds {down[:5]}"


def _ok(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, f"{what} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"


def test_deploy_swap_restart_fail_rollback(rig: Rig) -> None:
    measured: dict[str, Any] = {}
    ips = [h.data_ip for h in rig.lan.hosts]

    # Nothing deployed yet: status reaches every host over SSH and finds nothing.
    proc, *_ = rig.ssdk("status")
    _ok(proc, "status")
    assert proc.stdout.count("current -") == 3, proc.stdout

    # ssdk's wheel, built once per change of ssdk's sources (the C core compiles): timed
    # apart from the first deploy, which would otherwise include it.
    code = (
        "from ssdk.tools.release import build_wheel, ssdk_checkout, ssdk_sources\n"
        "top = ssdk_checkout(); print(build_wheel(top, ssdk_sources(top), lambda m: None))"
    )
    t = time.monotonic()
    pre = subprocess.run([sys.executable, "-c", code], env=_env(rig.tmp), capture_output=True,
                         text=True, timeout=900, check=False)  # fmt: skip
    assert pre.returncode == 0, pre.stderr
    measured["wheel_build_s"] = round(time.monotonic() - t, 2)

    # 1. The first deploy: makes the release, installs it with its venv, starts.
    proc, t0, t1, took = rig.ssdk("deploy", str(rig.project))
    _ok(proc, "first deploy")
    v1 = proc.stdout.split("release ", 1)[1].split()[0]
    assert all(rig.health(i) == v1 for i in range(3)), proc.stdout
    recs = rig.records(t0, t1)
    assert not [r for r in recs if r["kind"] == "mixed"]
    measured["first"] = {"seconds": round(took, 2), **_summary(recs)}
    rig.settle()

    # 2. Content only: swapped into the running servers, no request lost or mixed.
    write_version(rig.project, 2)
    proc, t0, t1, took = rig.ssdk("deploy", str(rig.project))
    _ok(proc, "content deploy")
    v2 = proc.stdout.split("release ", 1)[1].split()[0]
    assert v2 != v1
    assert proc.stdout.count("(content only)") == 3, proc.stdout
    assert "restarted" not in proc.stdout, proc.stdout
    time.sleep(1.0)
    recs = rig.records(t0 - 0.5, time.time())
    summary = _summary(recs)
    measured["content"] = {"seconds": round(took, 2), **summary}
    assert summary["failed"] == 0 and summary["mixed"] == 0 and summary["reopened"] == 0, (
        summary, [r for r in recs if r["kind"] != "ok" or r["reopened"]][:5])  # fmt: skip
    after = [r for r in rig.records(t1 + 0.5, time.time()) if r["kind"] == "ok"]
    assert after and all(r["version"] == 2 for r in after), after[:3]
    assert all(rig.health(i) == v2 for i in range(3))

    # 3. New code: one host at a time, each checked; never all down at once.
    new_page = '\n\n@app.page("/code")\ndef code() -> ssdk.Response:\n    return ssdk.text("v3")\n'
    (rig.project / "app.py").write_text(APP_PY + new_page)
    proc, t0, t1, took = rig.ssdk("deploy", str(rig.project), "--canary", "1", "--batch", "1")
    _ok(proc, "code deploy")
    v3 = proc.stdout.split("release ", 1)[1].split()[0]
    assert proc.stdout.count("restarted on") == 3 and "canary: h1" in proc.stdout, proc.stdout
    recs = rig.records(t0, t1)
    _never_all_down(recs, 3)
    measured["code"] = {"seconds": round(took, 2), **_summary(recs)}
    assert not [r for r in recs if r["kind"] == "mixed"]
    assert all(rig.health(i) == v3 for i in range(3))
    # keep = 2: the first release is gone from every host; its virtual environment,
    # which the others share, stays.
    for root in rig.roots:
        assert sorted(p.name for p in (root / "releases").iterdir()) == sorted([v2, v3])
        assert len(list((root / "venvs").iterdir())) == 1
    rig.settle()

    # 4. A release whose health check fails (its servers lose every frame): the canary
    # is put back, the others never leave v3, the deploy fails naming the host.
    bad = rig.tmp / "fleet-bad.toml"
    lossy = 'keep = 2\nserve = ["--impair-both", "loss=100%"]'
    bad.write_text(rig.fleet.read_text().replace("keep = 2", lossy))
    proc, t0, t1, took = rig.ssdk("deploy", str(rig.project), fleet=bad)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "h1" in err[0] and "health" in err[0], proc.stderr
    assert "h1: back: restarted on " + v3 in proc.stdout, proc.stdout
    recs = rig.records(t0, t1)
    others = [r for r in recs if r["host"] != ips[0]]
    assert others and all(r["kind"] == "ok" for r in others), _summary(others)
    assert all(rig.health(i) == v3 for i in range(3))
    measured["failed_release"] = {"seconds": round(took, 2), **_summary(recs)}

    # releases: each host holds v2 to v4 (a failed deploy prunes nothing); v3 is
    # current and serving.
    proc, *_ = rig.ssdk("releases")
    _ok(proc, "releases")
    assert proc.stdout.count(v3) == 3, proc.stdout
    assert proc.stdout.count("current serving") == 3, proc.stdout

    # 5. Rollback: to the release before v3, which is v2 (the failed one does not count).
    proc, t0, t1, took = rig.ssdk("rollback")
    _ok(proc, "rollback")
    assert f"rolled back to {v2}" in proc.stdout, proc.stdout
    recs = rig.records(t0, t1)
    _never_all_down(recs, 3)
    assert not [r for r in recs if r["kind"] == "mixed"]
    assert all(rig.health(i) == v2 for i in range(3))
    measured["rollback"] = {"seconds": round(took, 2), **_summary(recs)}
    rig.settle()

    # A lock another deploy holds: refused, naming the host and the owner; no host
    # changes, and the locks this run took are given back.
    (rig.roots[1] / "deploy.lock").write_text("someone@elsewhere pid 1 since then\n")
    proc, *_ = rig.ssdk("deploy", str(rig.project))
    assert proc.returncode == 1 and "h2" in proc.stderr and "someone@elsewhere" in proc.stderr
    assert not (rig.roots[0] / "deploy.lock").exists()
    assert (rig.roots[1] / "deploy.lock").exists()
    (rig.roots[1] / "deploy.lock").unlink()
    assert all(rig.health(i) == v2 for i in range(3))

    # An unreachable host: one line naming it, exit 1.
    down = rig.tmp / "fleet-down.toml"
    h3 = f"root@{rig.lan.hosts[2].mgmt_ip}"
    down.write_text(rig.fleet.read_text().replace(f"{h3}:22", f"{h3}:2222"))
    proc, *_ = rig.ssdk("status", fleet=down)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "h3" in proc.stderr and "cannot connect" in proc.stderr

    # Rollback to a named release (by the first characters of its id), and one the
    # hosts no longer hold: refused, naming the host.
    rig.settle()
    proc, t0, t1, _ = rig.ssdk("rollback", "--to", v3[:8])
    _ok(proc, "rollback --to")
    assert f"rolled back to {v3}" in proc.stdout
    recs = rig.records(t0, t1)
    _never_all_down(recs, 3)
    assert not [r for r in recs if r["kind"] == "mixed"]
    proc, *_ = rig.ssdk("rollback", "--to", v1)
    assert proc.returncode == 1 and "h1: has no release" in proc.stderr, proc.stderr

    # Status over SSH still answers for every host, with the process and its counters.
    proc, *_ = rig.ssdk("status")
    _ok(proc, "status")
    assert proc.stdout.count(f"serving {v3}") == 3 and proc.stdout.count("1 worker") == 3
    print("\ndeploy measurements:", json.dumps(measured, indent=1))
    (rig.tmp.parent / "deploy-measured.json").write_text(json.dumps(measured, indent=1))


# HTTPS through deploy: the fleet file's certificate, key and the fleet's own ticket
# key go to each host's tls/ folder, and the serve command takes them. Two hosts: each
# answers HTTPS byte-exact; a TLS 1.2 session begun on one is resumed on the other (the
# shared ticket key does that: without it each server has a random key of its own); a
# deploy with the same files sends none of them; a new certificate restarts each host
# (a swap could not load it) and the old one's files go.

NAME = "site.test"

# Resumes on host 2 the TLS 1.2 session begun on host 1 (in 1.2 the ticket comes in
# the handshake); prints what each answered and whether the server took the ticket.
CROSS_RESUME = r"""
import hashlib, json, socket, ssl, sys
ca, name, first_ip, second_ip = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
def fetch(ip, session):
    raw = socket.create_connection((ip, 443), timeout=20)
    s = ctx.wrap_socket(raw, server_hostname=name, session=session)
    s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
    data = bytearray()
    while chunk := s.recv(65536):
        data += chunk
    seen = (s.session, s.version(), s.session_reused)
    s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return seen, head.split(b"\r\n")[0].decode(), hashlib.sha256(body).hexdigest()
a, status_a, sha_a = fetch(first_ip, None)
b, status_b, sha_b = fetch(second_ip, a[0])
print(json.dumps({"status": [status_a, status_b], "sha": [sha_a, sha_b],
                  "version": [a[1], b[1]], "first_resumed": a[2], "resumed": b[2]}))
"""


@dataclass
class TlsRig:
    lan: Lan
    tmp: Path
    project: Path
    fleet: Path
    roots: list[Path]
    cert: Path
    key: Path
    bodies: dict[str, bytes]

    def ssdk(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "ssdk", *argv, "--fleet", str(self.fleet)]
        t0 = time.monotonic()
        proc = subprocess.run(ns_exec(self.lan.client_ns, cmd), cwd=self.tmp, env=_env(self.tmp),
                              capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
        print(f"$ ssdk {' '.join(argv)} ({time.monotonic() - t0:.2f} s, exit {proc.returncode})")
        print(proc.stdout + proc.stderr, end="")
        return proc

    def client(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(ns_exec(self.lan.client_ns, argv), capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip

    def curl(self, host: int, out: Path, paths: list[str]) -> None:
        """Every path from host i over HTTPS (one connection), verified against the
        certificate as the only authority; each body byte-exact."""
        ip = self.lan.hosts[host].data_ip
        argv = ["curl", "-sS", "--fail", "--max-time", "60", "--cacert", str(self.cert),
                "--resolve", f"{NAME}:443:{ip}", "-w", "%{ssl_verify_result}\n"]  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(paths):
            argv += ["-o", str(out / str(i)), f"https://{NAME}{p}"]
        proc = self.client(argv)
        assert proc.returncode == 0, f"curl from h{host + 1}: {proc.stderr}"
        assert set(proc.stdout.split()) == {"0"}, proc.stdout  # the chain verified
        for i, p in enumerate(paths):
            got = (out / str(i)).read_bytes()
            assert got == self.bodies[p], (host, p, len(got), len(self.bodies[p]))

    def tls_folder(self, host: int) -> dict[str, tuple[int, int, int]]:
        """Host i's tls/ folder: name -> (inode, mtime ns, mode)."""
        folder = self.roots[host] / "tls"
        return {
            p.name: (st.st_ino, st.st_mtime_ns, st.st_mode & 0o777)
            for p in sorted(folder.iterdir())
            for st in [p.stat()]
        }


@pytest.fixture
def tls_rig(tmp_path: Path) -> Iterator[TlsRig]:
    from ssdk.core.runtime.tls import write_selfsigned

    _need_tools("curl")
    with lan("deploytls", hosts=2) as net, _sshd(tmp_path, net):
        project = _project(tmp_path)
        bodies = write_version(project, 1)
        cert, key = tmp_path / "keys" / "site.crt", tmp_path / "keys" / "site.key"
        write_selfsigned(cert, key, [NAME, *(h.data_ip for h in net.hosts)], 2)
        roots = [tmp_path / "hosts" / f"h{i}" for i in range(1, 3)]
        fleet = write_fleet(tmp_path, net, roots, 'health_timeout = 15\n'
                            'tls_cert = "keys/site.crt"\ntls_key = "keys/site.key"\n')  # fmt: skip
        try:
            yield TlsRig(net, tmp_path, project, fleet, roots, cert, key, bodies)
        finally:
            _stop_services(roots)


def test_deploy_carries_tls_files_and_shares_the_ticket_key(tls_rig: TlsRig) -> None:
    rig = tls_rig
    ips = [h.data_ip for h in rig.lan.hosts]
    made = rig.tmp / "keys" / "fleet.ticket.key"
    assert not made.exists()

    # 1. The first deploy writes the fleet's ticket key and sends each host its files.
    proc = rig.ssdk("deploy", str(rig.project))
    _ok(proc, "first deploy")
    assert f"wrote the fleet's session-ticket key to {made}" in proc.stdout
    assert len(made.read_bytes()) == 64 and made.stat().st_mode & 0o777 == 0o600
    assert proc.stdout.count("TLS files: sent 3, had 0") == 2, proc.stdout
    local = {p: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in (rig.cert, rig.key, made)}
    want = {f"{local[rig.cert]}.crt": 0o644, f"{local[rig.key]}.key": 0o600,
            f"{local[made]}.ticket": 0o600}  # fmt: skip
    for i, root in enumerate(rig.roots):
        files = rig.tls_folder(i)
        assert {n: m for n, (_, _, m) in files.items()} == want, files
        assert (root / "tls").stat().st_mode & 0o777 == 0o700
        assert (root / "tls" / f"{local[made]}.ticket").read_bytes() == made.read_bytes()
        serve = (root / "bin" / "serve").read_text()
        assert f"--tls-ticket-key {root}/tls/{local[made]}.ticket" in serve, serve
        assert "--tls-port 443" in serve

    # 2. HTTPS from each host, byte-exact (the health check stayed on HTTP).
    for i in range(2):
        rig.curl(i, rig.tmp / f"got{i}", ["/", BIG, "/"])

    # 3. A TLS 1.2 session begun on h1 resumes on h2: the hosts share the ticket key.
    proc = rig.client([sys.executable, "-c", CROSS_RESUME, str(rig.cert), NAME, *ips])
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["status"] == ["HTTP/1.1 200 OK"] * 2, res
    assert res["sha"] == [hashlib.sha256(rig.bodies["/"]).hexdigest()] * 2, res
    assert res["version"] == ["TLSv1.2"] * 2, res
    assert not res["first_resumed"] and res["resumed"], res
    # And the other way round.
    proc = rig.client([sys.executable, "-c", CROSS_RESUME, str(rig.cert), NAME, *ips[::-1]])
    assert proc.returncode == 0 and json.loads(proc.stdout)["resumed"], proc.stdout + proc.stderr

    # 4. The same files again: none is sent, none rewritten, nothing restarts.
    before = [rig.tls_folder(i) for i in range(2)]
    proc = rig.ssdk("deploy", str(rig.project))
    _ok(proc, "second deploy")
    assert proc.stdout.count("TLS files: sent 0, had 3") == 2, proc.stdout
    assert proc.stdout.count("already serves") == 2 and "restarted" not in proc.stdout
    assert [rig.tls_folder(i) for i in range(2)] == before

    # 5. A new certificate (and key): the same release, but a new serve command, so each
    # host restarts, one at a time behind the health check, and serves the new one; the
    # old certificate's files are removed, the ticket key stays.
    from ssdk.core.runtime.tls import write_selfsigned

    write_selfsigned(rig.cert, rig.key, [NAME, *ips], 2)
    proc = rig.ssdk("deploy", str(rig.project))
    _ok(proc, "certificate deploy")
    assert proc.stdout.count("TLS files: sent 2, had 1") == 2, proc.stdout
    assert proc.stdout.count("its serve command changes") == 2, proc.stdout
    assert proc.stdout.count("restarted on") == 2 and "canary: h1" in proc.stdout, proc.stdout
    new = {p: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in (rig.cert, rig.key)}
    for i in range(2):
        assert set(rig.tls_folder(i)) == {
            f"{new[rig.cert]}.crt", f"{new[rig.key]}.key", f"{local[made]}.ticket"
        }
        rig.curl(i, rig.tmp / f"new{i}", ["/", BIG])  # verified by the new certificate
    proc = rig.client([sys.executable, "-c", CROSS_RESUME, str(rig.cert), NAME, *ips])
    assert proc.returncode == 0 and json.loads(proc.stdout)["resumed"], proc.stdout + proc.stderr

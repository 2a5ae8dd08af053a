# bench/https_vs_nginx.py: `sudo python3 -m bench.https_vs_nginx [--duration S]
# [--conns N,...] [--only server=NAME,...] [--profile] [--profile-client] [--attempts N]
# [--quiet-wait S]`, from the repository's root. Issue 19's benchmark: HTTPS served by
# ssdk (serve/https.c: GnuTLS's handshake, ssdk's own record layer) against nginx with
# its ssl module (OpenSSL), one after the other in one run, on bench/wrk_vs_nginx.py's
# topology and with its measurements (imported, not copied): two namespaces joined by one
# veth pair, the server pinned to one core and the client to the other, each veth end's
# receive processing steered by RPS to its own side's core, the same congestion control
# on both servers, and per run requests/s, the server core's busy fraction and requests
# per busy server-core second, errors, and ssdk's counters (tls_handshakes,
# tls_records_sealed ...).
#
# Both servers get the same self-signed ECDSA P-256 certificate (made here with the
# openssl command) on port 443, TLS 1.3 and 1.2 allowed, session tickets on (ssdk always
# issues them, with a random key per serve; nginx's default, ssl_session_tickets on).
# Workloads: wrk over https:// with the 1 KiB and 64 KiB files kept alive; the 1 KiB file
# on a new TLS connection per request with wrk -H "Connection: close", which resumes
# sessions (wrk keeps each connection's session for its next connection: a TLS 1.3
# ticket, so a PSK with a new X25519 exchange, no certificate); and new connections with
# a full handshake each, from `openssl s_time -new` (N processes for N connections, one
# HTTP/1.0 GET each), whose requests/s is full handshakes per second. Which handshakes
# were full is checked: ssdk's tls_handshakes and tls_resumed counters, s_time's own
# marks, and for nginx a short run of each client with an access log of
# $ssl_session_reused. Before the runs: each file once through curl --cacert, compared by
# sha256, and one `openssl s_client` for the negotiated version, cipher and key exchange
# (TLS 1.2 too). Prints a table, the ratios and issue 19's goals as measured (with the
# core that limited each case's runs), and writes bench/results/https_vs_nginx.json. It
# reports; it never asserts.
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    NGINX_CONF,
    RESULTS_DIR,
    cannot_run,
    fmt,
    pick_cpus,
    pin,
    unwind_on_term,
)
from bench.wrk_vs_nginx import (
    PER_SERVER_CORE,
    SIZES,
    Ctx,
    ServeRejected,
    ServerSpec,
    ethtool_state,
    file_name,
    host_info,
    measure_around,
    measure_quiet,
    new_row,
    nginx_server,
    perf_profile,
    print_ending,
    print_table,
    run_text,
    server_record,
    set_offloads,
    setup_lines,
    ssdk_server,
    steer_and_cc,
    write_site,
    wrk_argv,
)
from ssdk.tools.netns import Topology, ns_exec, veth_pair

RESULTS = RESULTS_DIR / "https_vs_nginx.json"
TLS_PORT = 443
CERT_NAME = "bench.ssdk.test"

Workload = tuple[str, str, int]  # size label, mode, connections
# Issue 19's workloads: 1 KiB and 64 KiB keep-alive (wrk), a new connection per request
# with a resumed session (wrk, Connection: close) and with a full handshake (s_time).
WORKLOADS: tuple[tuple[str, str], ...] = (
    ("1KiB", "keepalive"),
    ("64KiB", "keepalive"),
    ("1KiB", "close"),
    ("1KiB", "handshake"),
)
VERIFY_SIZES = ("1KiB", "64KiB")
PROFILE_RUNS: tuple[Workload, ...] = (
    ("1KiB", "keepalive", 16),
    ("64KiB", "keepalive", 16),
    ("1KiB", "handshake", 16),
)
# A core at least this busy over a run is taken as the one that limited it.
SATURATED = 0.95

# nginx as bench/wrk_vs_nginx.py runs it (NGINX_CONF: one worker, keep-alive with
# keepalive_requests 1000000, open_file_cache, sendfile, which TLS without kernel TLS
# does not use), with the same certificate on 443: TLS 1.3 and 1.2, session tickets on
# (nginx's default, said here), no server-side session cache (its default), the
# client's cipher order (its default, as ssdk takes it).
_PLAIN_LISTEN = "        listen {ip}:80;\n"
_TLS_LINES = (
    "        listen {ip}:443 ssl;\n"
    "        ssl_certificate {tmp}/tls/server.crt;\n"
    "        ssl_certificate_key {tmp}/tls/server.key;\n"
    "        ssl_protocols TLSv1.2 TLSv1.3;\n"
    "        ssl_session_tickets on;\n"
)
NGINX_TLS_CONF = NGINX_CONF.replace(_PLAIN_LISTEN, _PLAIN_LISTEN + _TLS_LINES)
# The resumption check's nginx: the same, every request logged with whether its TLS
# session was resumed ("r") or new (".").
NGINX_TLS_LOG_CONF = NGINX_TLS_CONF.replace(
    "    access_log off;\n",
    "    log_format reuse '$ssl_session_reused $ssl_protocol $ssl_cipher';\n"
    "    access_log {tmp}/tls-access.log reuse;\n",
)

# The counters of ssdk's TLS layer shown per run (docs/tls.md, "On a connection").
TLS_COUNTERS = (
    "tls_handshakes",
    "tls_resumed",
    "tls_handshake_failed",
    "tls_failed",
    "tls_records_in",
    "tls_records_sealed",
    "tls_no_buffer",
)


def servers(cert: Path, key: Path) -> list[ServerSpec]:
    """The rows: ssdk on both backends (veth offloads off, as ssdk serves without GSO),
    nginx with the offloads off and on (on is nginx's best on a veth)."""
    tls = ("--tls-cert", str(cert), "--tls-key", str(key), "--tls-port", str(TLS_PORT))
    return [
        ServerSpec("ssdk-af_xdp", "ssdk", "af_xdp", False, tls),
        ServerSpec("ssdk-af_packet", "ssdk", "af_packet", False, tls),
        ServerSpec("nginx-offloads-off", "nginx", None, False),
        ServerSpec("nginx-offloads-on", "nginx", None, True),
    ]


def make_cert(folder: Path, ip: str) -> tuple[Path, Path, str]:
    """One self-signed ECDSA P-256 certificate for CERT_NAME and the server's address
    (subjectAltName both), for both servers; returns it, its key and the command."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "server.crt", folder / "server.key"
    san = f"subjectAltName=DNS:{CERT_NAME},IP:{ip}"
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", f"/CN={CERT_NAME}", "-addext", san,
            "-keyout", str(key), "-out", str(cert)]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True)
    return cert, key, shlex.join(argv)


# ---------------------------------------------------------------- TLS checks


def curl_https(topo: Topology, cert: Path, path: str, out: str, timeout: float) -> list[str]:
    return ns_exec(
        topo.client_ns,
        ["curl", "-sS", "--cacert", str(cert), "--max-time", str(timeout), "-o", out]
        + ["-w", "%{http_code} %{ssl_verify_result} %{size_download}"]
        + [f"https://{topo.server_ip}{path}"],
    )


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (neither gone nor a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def wait_https(topo: Topology, cert: Path, timeout: float, pid: int) -> None:
    """Until the server answers 200 over HTTPS, the certificate verified."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError("the server exited before HTTPS answered")
        argv = curl_https(topo, cert, f"/files/{file_name('64B')}", "/dev/null", 2)
        got = subprocess.run(argv, capture_output=True, text=True, check=False)
        if got.stdout.startswith("200 0 "):
            return
        last = (got.stdout + got.stderr).strip()
        time.sleep(0.2)
    raise RuntimeError(f"https://{topo.server_ip}/ did not answer 200 within {timeout} s: {last}")


def verify_https(ctx: Ctx, cert: Path) -> dict[str, Any]:
    """Each of VERIFY_SIZES' files once through curl --cacert, its sha256 against the
    file's."""
    out: dict[str, Any] = {}
    for label in VERIFY_SIZES:
        name = file_name(label)
        dest = ctx.tmp / f"fetched-{name}"
        dest.unlink(missing_ok=True)
        argv = curl_https(ctx.topo, cert, f"/files/{name}", str(dest), 20)
        got = subprocess.run(argv, capture_output=True, text=True, check=False)
        want = hashlib.sha256((ctx.tmp / "www" / "files" / name).read_bytes()).hexdigest()
        have = hashlib.sha256(dest.read_bytes()).hexdigest() if dest.exists() else None
        code, verify, size = (got.stdout.split() + ["", "", ""])[:3]
        out[label] = {
            "ok": got.returncode == 0 and code == "200" and have == want,
            "curl_exit": got.returncode,
            "http_code": code,
            "ssl_verify_result": verify,
            "bytes": int(size) if size.isdigit() else None,
            "sha256_match": have == want,
            "stderr": got.stderr.strip(),
        }
        dest.unlink(missing_ok=True)
    out["command"] = "curl -sS --cacert CERT -o FILE https://SERVER/files/NAME (sha256 compared)"
    return out


def s_client(topo: Topology, cert: Path, version: str) -> dict[str, Any]:
    """One `openssl s_client` handshake (``version``: -tls1_3 or -tls1_2): the protocol,
    cipher, key exchange and whether the certificate verified."""
    argv = ["openssl", "s_client", "-connect", f"{topo.server_ip}:{TLS_PORT}", version]
    argv += ["-CAfile", str(cert), "-servername", CERT_NAME]
    got = subprocess.run(
        ns_exec(topo.client_ns, argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    text = got.stdout + got.stderr

    def grab(pattern: str) -> str | None:
        m = re.search(pattern, text, re.M)
        return m.group(1).strip() if m else None

    return {
        "command": " ".join(argv),
        "exit": got.returncode,
        "protocol": grab(r"^\s*Protocol\s*:\s*(\S+)") or grab(r"^New, (TLSv[\d.]+),"),
        "cipher": grab(r"^New, \S+, Cipher is (\S+)") or grab(r"^\s*Cipher\s*:\s*(\S+)"),
        "key_exchange": grab(r"^Server Temp Key: (.*)$"),
        "signature": grab(r"^Peer signature type: (.*)$"),
        "verify": grab(r"Verify return code: (.*)$"),
        "alpn": grab(r"^ALPN protocol: (.*)$") or grab(r"^(No ALPN negotiated)"),
        "session_tickets_received": len(re.findall(r"Post-Handshake New Session Ticket", text)),
    }


def tls_facts(topo: Topology, cert: Path) -> dict[str, Any]:
    return {v: s_client(topo, cert, f"-{v}") for v in ("tls1_3", "tls1_2")}


def nginx_resumption_check(ctx: Ctx, cert: Path, conns: int) -> dict[str, Any]:
    """Which handshakes do the clients make, full or resumed? nginx (offloads as the
    phase before left them) with an access log of $ssl_session_reused, a one-second run
    of each client (wrk with Connection: close, s_time -new), and the log counted: "r"
    resumed, "." a full handshake."""
    spec = ServerSpec("nginx-resumption-check", "nginx", None, False)
    phase: dict[str, Any] = {}
    log = ctx.tmp / "tls-access.log"
    log.unlink(missing_ok=True)
    path = f"/files/{file_name('1KiB')}"
    clients = {
        "wrk": wrk_argv(ctx.topo, path, "close", conns, 1, "https"),
        "s_time": stime_argv(ctx.topo, path, 1),
    }
    out: dict[str, Any] = {}
    with nginx_server(ctx, spec, phase, NGINX_TLS_LOG_CONF) as (pid, _):
        wait_https(ctx.topo, cert, 30, pid)
        for name, argv in clients.items():
            before = len(log.read_text().splitlines()) if log.exists() else 0
            got = subprocess.run(
                ns_exec(ctx.topo.client_ns, pin(ctx.client_cpu, argv)),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            time.sleep(0.5)
            lines = log.read_text().splitlines()[before:] if log.exists() else []
            kinds: dict[str, int] = {}
            for line in lines:
                kinds[line] = kinds.get(line, 0) + 1
            out[name] = {
                "command": " ".join(argv).replace(ctx.topo.server_ip, "SERVER"),
                "exit": got.returncode,
                "logged": len(lines),
                "resumed": sum(1 for ln in lines if ln.startswith("r ")),
                "full_handshakes": sum(1 for ln in lines if ln.startswith(". ")),
                "log_lines": kinds,
            }
    return out


# ---------------------------------------------------------------- full handshakes

_STIME_USER = re.compile(
    r"(\d+) connections in ([\d.]+)s; [\d.]+ connections/user sec, bytes read (\d+)"
)
# s_time's progress: a character per connection, "r" where the session was resumed, "*"
# (or "t", "3" for old versions) where it was new.
_STIME_MARKS = re.compile(r"^[*rt3]+$", re.M)


def stime_argv(topo: Topology, path: str, duration: int) -> list[str]:
    """One openssl s_time client: a new TLS session on every connection (-new), one
    HTTP/1.0 GET of ``path`` on each, read to the server's close, for ``duration`` s.
    It verifies no certificate, so it loads no CA store either (-no-CAfile, -no-CApath,
    -no-CAstore): with the default store, OpenSSL 3 read the certificate directory on
    every connection, and s_time made 30% fewer connections in the same time on one
    core (3,611 against 5,176 in 3 s, on loopback, against nginx)."""
    return ["openssl", "s_time", "-connect", f"{topo.server_ip}:{TLS_PORT}", "-new"] + [
        "-time",
        str(duration),
        "-www",
        path,
        "-no-CAfile",
        "-no-CApath",
        "-no-CAstore",
    ]


def measure_handshakes(
    ctx: Ctx,
    spec: ServerSpec,
    pid: int,
    size_label: str,
    mode: str,
    conns: int,
    stats_file: Path | None,
) -> dict[str, Any]:
    """``conns`` openssl s_time -new clients at once on the client core for ctx.duration
    seconds, everything measured around them as around a wrk run (measure_around). Each
    connection is a full handshake and one request: requests/s is full handshakes per
    second, counted from s_time's own totals over the wall time from the first start
    to the last exit."""
    argv = stime_argv(ctx.topo, f"/files/{file_name(size_label)}", ctx.duration)
    row = new_row(ctx, spec, size_label, mode, conns)
    row["client"] = f"{conns} x " + " ".join(argv).replace(ctx.topo.server_ip, "SERVER")

    def run() -> dict[str, Any]:
        t0 = time.monotonic()
        procs = [
            subprocess.Popen(
                ns_exec(ctx.topo.client_ns, pin(ctx.client_cpu, argv)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(conns)
        ]
        outs = [p.communicate(timeout=ctx.duration + 60) for p in procs]
        secs = time.monotonic() - t0
        per: list[dict[str, Any]] = []
        for p, (out, err) in zip(procs, outs, strict=True):
            m = _STIME_USER.search(out)
            marks = "".join(_STIME_MARKS.findall(out))
            per.append(
                {
                    "exit": p.returncode,
                    "connections": int(m.group(1)) if m else 0,
                    "bytes_read": int(m.group(3)) if m else 0,
                    "new_sessions": len(marks) - marks.count("r"),
                    "reused_sessions": marks.count("r"),
                    "stderr": err.strip()[-300:],
                }
            )
        total = sum(x["connections"] for x in per)
        nbytes = sum(x["bytes_read"] for x in per)
        failed = sum(1 for x in per if x["exit"] != 0 or not x["connections"])
        return {
            "requests": total,
            "requests_per_s": total / secs if secs > 0 else None,
            "client_seconds": secs,
            "bytes_read_per_connection": nbytes / total if total else None,
            "full_handshakes": sum(x["new_sessions"] for x in per),
            "resumed_handshakes": sum(x["reused_sessions"] for x in per),
            "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}
            | ({"client_failed": failed} if failed else {}),
            # s_time reads no status line: a short response shows in the bytes per
            # connection (at least the file's), not here
            "non_2xx": 0,
            "latency_p50_us": None,
            "latency_p99_us": None,
            "s_time": per,
        }

    measure_around(ctx, spec, pid, row, stats_file, run, "s_time")
    return row


# ---------------------------------------------------------------- a phase


def run_phase(
    ctx: Ctx, spec: ServerSpec, plan: list[Workload], cert: Path, profile: tuple[bool, bool]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Set the offloads, start the server (HTTP and HTTPS), check the files' bytes over
    HTTPS, one s_client each way, the plan's runs (and the profile runs), stop."""
    phase: dict[str, Any] = {
        "server": spec.name,
        "offloads": "on" if spec.offloads else "off",
        "started": time.strftime("%H:%M:%S"),
        "ethtool": set_offloads(ctx.topo, spec.offloads),
    }
    rows: list[dict[str, Any]] = []
    profs: list[dict[str, Any]] = []
    starter = (
        ssdk_server(ctx, spec, phase)
        if spec.kind == "ssdk"
        else nginx_server(ctx, spec, phase, NGINX_TLS_CONF)
    )
    with starter as (pid, stats):
        wait_https(ctx.topo, cert, 60, pid)
        phase["verified"] = verify_https(ctx, cert)
        phase["tls"] = tls_facts(ctx.topo, cert)
        for v in ("tls1_3", "tls1_2"):
            t = phase["tls"][v]
            print(f"  {v}: {t['protocol']} {t['cipher']} ({t['key_exchange']}; {t['verify']})")
        bad = [k for k in VERIFY_SIZES if not phase["verified"][k]["ok"]]
        print(f"  curl --cacert: {'byte-exact' if not bad else 'MISMATCH ' + ', '.join(bad)}")
        for size, mode, conns in plan:
            print(f"  {spec.name:<19} {size:>5} {mode:<9} c{conns:<3} ...", end="", flush=True)
            how = measure_handshakes if mode == "handshake" else None
            row = measure_quiet(ctx, spec, pid, size, mode, conns, stats, how)
            row["scheme"] = "https"
            rows.append(row)
            tries = len(row["attempts"])
            again = f" ({tries} attempts: other work)" if tries > 1 else ""
            errs = sum(row["socket_errors"].values()) + row["non_2xx"]
            again += f" ({errs} errors)" if errs else ""
            print(f" {fmt(row['requests_per_s'], ',.0f')} req/s{again}", flush=True)
        cores = [c for c, on in zip((False, True), profile, strict=True) if on]
        for run in PROFILE_RUNS if cores else ():
            if run not in plan:
                continue
            how = measure_handshakes if run[1] == "handshake" else None
            for client in cores:
                core = "client" if client else "server"
                print(f"  {spec.name}: perf record ({core} core) during {run} ...", flush=True)
                profs.append(perf_profile(ctx, spec, pid, stats, run, how, client))
    phase["ethtool_after"] = {
        "client": ethtool_state(ctx.topo.client_ns, ctx.topo.client_if),
        "server": ethtool_state(ctx.topo.server_ns, ctx.topo.server_if),
    }
    return phase, rows, profs


# ---------------------------------------------------------------- report


def positive(row: dict[str, Any] | None, key: str) -> float | None:
    v = row.get(key) if row else None
    return float(v) if isinstance(v, int | float) and v > 0 else None


def ratios(rows: list[dict[str, Any]], plan: list[Workload]) -> list[dict[str, Any]]:
    """ssdk / nginx for every pair of rows of one workload: requests/s and per busy
    server-core second."""
    out = []
    for w in plan:
        here = [r for r in rows if (r["size"], r["mode"], r["conns"]) == w]
        for s in (r for r in here if r["server"].startswith("ssdk")):
            for n in (r for r in here if r["server"].startswith("nginx")):
                item: dict[str, Any] = {
                    "workload": list(w),
                    "ssdk": s["server"],
                    "nginx": n["server"],
                }
                for key in ("requests_per_s", "per_server_core"):
                    a, b = positive(s, key), positive(n, key)
                    item[key] = a / b if a and b else None
                out.append(item)
    return out


def judge(rows: list[dict[str, Any]], conns: int) -> list[dict[str, Any]]:
    """Issue 19's goals: 1 KiB keep-alive per busy server-core second at least 1.5x
    nginx's, and full handshakes per second (s_time) at least nginx's; each ssdk row
    against the stronger nginx row of the case (named). Each case also says which core
    limited the runs: where the client's core was saturated and the server's was not,
    requests/s is the client's rate on both sides, and the per-core ratio (also given)
    is the comparison of the servers."""
    goals = (
        ("HTTPS 1 KiB keep-alive, per busy server-core second", ("1KiB", "keepalive", conns),
         "per_server_core", 1.5),
        ("new TLS connections (full handshakes) per second", ("1KiB", "handshake", conns),
         "requests_per_s", 1.0),
    )  # fmt: skip
    out = []
    for what, w, key, target in goals:
        here = [r for r in rows if (r["size"], r["mode"], r["conns"]) == w]
        refs = [r for r in here if r["server"].startswith("nginx") and positive(r, key)]
        ref = max(refs, key=lambda r: positive(r, key) or 0.0, default=None)
        for s in (r for r in here if r["server"].startswith("ssdk")):
            a, b = positive(s, key), positive(ref, key)
            ratio = a / b if a and b else None
            verdict = "not measured" if ratio is None else "met" if ratio >= target else "missed"
            pa, pb = positive(s, "per_server_core"), positive(ref, "per_server_core")
            limited = [bound(r) for r in (s, ref) if r is not None]
            out.append(
                {
                    "goal": what,
                    "workload": list(w),
                    "key": key,
                    "server": s["server"],
                    "against": ref["server"] if ref else None,
                    "ssdk": a,
                    "nginx": b,
                    "ratio": ratio,
                    "target": f">= {target:g}x",
                    "verdict": verdict,
                    "per_server_core_ratio": pa / pb if pa and pb else None,
                    "bound": limited,
                }
            )
        if not any(g["goal"] == what for g in out):
            out.append({"goal": what, "workload": list(w), "key": key, "verdict": "not measured"})
    return out


def bound(row: dict[str, Any]) -> str:
    """Which core limited a run: "client" where the client's core was busy (at least
    SATURATED) and the server's was not, "server" the other way, "both" or "neither"."""
    cli = (row.get("client_core_busy_fraction") or 0.0) >= SATURATED
    srv = (row.get("server_core_busy_fraction") or 0.0) >= SATURATED
    return {(True, False): "client", (False, True): "server", (True, True): "both"}.get(
        (cli, srv), "neither"
    )


def print_tls_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'ssdk counters per request':<26}{'size':>6} {'mode':<10}{'c':>4}"
        f"{'handshakes':>11}{'resumed':>9}{'sealed':>8}{'rec in':>8}{'hs fail':>8}"
        f"{'failed':>7}{'no buf':>7}"
    )
    for r in rows:
        c = r.get("ssdk_counters")
        reqs = r.get("requests") or 0
        if c is None or not reqs:
            continue

        def per(k: str, c: dict[str, int] = c, reqs: int = reqs) -> str:
            return f"{c.get(k, 0) / reqs:.3f}"

        print(
            f"{r['server']:<26}{r['size']:>6} {r['mode']:<10}{r['conns']:>4}"
            f"{per('tls_handshakes'):>11}{per('tls_resumed'):>9}{per('tls_records_sealed'):>8}"
            f"{per('tls_records_in'):>8}{c.get('tls_handshake_failed', 0):>8}"
            f"{c.get('tls_failed', 0):>7}{c.get('tls_no_buffer', 0):>7}"
        )


def print_goals(goals: list[dict[str, Any]]) -> None:
    print("\nissue 19's goals:")
    for g in goals:
        if g.get("ratio") is None:
            print(f"  {g['goal']} ({'/'.join(map(str, g['workload']))}): {g['verdict'].upper()}")
            continue
        per = g.get("per_server_core_ratio")
        print(
            f"  {g['goal']}: {g['server']} {g['ssdk']:,.0f} against {g['against']} "
            f"{g['nginx']:,.0f} = {g['ratio']:.2f}x (target {g['target']}): "
            f"{g['verdict'].upper()}; per busy server-core second {fmt(per, '.2f')}x; "
            f"bound by: {', '.join(g['bound'])}"
        )


def tool_versions() -> dict[str, Any]:
    return {
        "openssl": run_text(["openssl", "version"]),
        "curl": run_text(["curl", "-V"]).splitlines()[0],
        "gnutls": run_text(["pkg-config", "--modversion", "gnutls"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="HTTPS: ssdk against nginx (ssl module), by wrk")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--conns", default="16", help="wrk connections, comma-separated (default 16)")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="server=NAME,...",
        help="keep only these servers (ssdk-af_xdp, ssdk-af_packet, nginx-offloads-off, "
        "nginx-offloads-on)",
    )
    ap.add_argument("--attempts", type=int, default=3, help="runs at most while disturbed")
    ap.add_argument("--quiet-wait", type=float, default=30.0, help="seconds to wait for idle")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="perf record the server core in the c16 runs of 1 KiB and 64 KiB keep-alive "
        "and of full handshakes",
    )
    ap.add_argument(
        "--profile-client",
        action="store_true",
        help="the same on the client core (wrk, s_time and the client's kernel)",
    )
    ap.add_argument("--ssdk-cc", default="cubic", help="ssdk serve --cc (default cubic)")
    ap.add_argument(
        "--kernel-cc",
        default="cubic",
        help="the server namespace's congestion control, nginx's (default cubic, as "
        "ssdk's; 'default' leaves the kernel's)",
    )
    ap.add_argument("--no-rps", action="store_true", help="leave RPS off on both veth ends")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    conns = [int(c) for c in args.conns.split(",") if c]
    plan: list[Workload] = [(s, m, c) for c in conns for s, m in WORKLOADS]
    keep: list[str] = []
    for item in args.only:
        key, _, vals = item.partition("=")
        if key != "server" or not vals:
            raise SystemExit(f"--only {item!r}: want server=NAME,...")
        keep += vals.split(",")
    if _TLS_LINES not in NGINX_TLS_CONF:
        print("bench/common.py's NGINX_CONF has no 'listen {ip}:80;' line to add HTTPS to")
        return 2
    why = cannot_run(("ip", "ethtool", "curl", "wrk", "nginx", "taskset", "openssl"))
    if why:
        print(why, file=sys.stderr)
        return 2
    server_cpu, client_cpu = pick_cpus()

    unwind_on_term()  # the namespaces are always removed

    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": False,
        "command": shlex.join(["python3", "-m", "bench.https_vs_nginx", *sys.argv[1:]]),
        "host": host_info() | tool_versions(),
        "setup": {
            "topology": "bench/wrk_vs_nginx.py's: two network namespaces joined by one veth "
            "pair with one queue; server end without a kernel address for ssdk, with "
            "198.18.0.2/15 for nginx",
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "wrk": f"wrk -t1 -cN -d{args.duration}s --timeout=5s --latency "
            "[-H 'Connection: close'] https://198.18.0.2/files/FILE",
            "plan": [list(w) for w in plan],
            "sizes": {k: SIZES[k] for k in ("1KiB", "64KiB")},
            "tls": {
                "port": TLS_PORT,
                "versions": "TLS 1.3 and TLS 1.2 allowed on both servers",
                "session_tickets": "on for both: ssdk issues them (a random key per serve, "
                "no --tls-ticket-key), nginx by default (ssl_session_tickets on); "
                "wrk resumes with them on its next connection (mode close), s_time -new "
                "never does (mode handshake); both checked, see resumption_check",
                "nginx": _TLS_LINES.replace("{ip}", "198.18.0.2").replace("{tmp}", "TMP"),
                "ssdk": "ssdk serve ... --tls-cert TMP/tls/server.crt --tls-key "
                "TMP/tls/server.key --tls-port 443",
                "nginx_record_size": "ssl_buffer_size default (16 KiB records); ssdk: one "
                "record per segment (MSS less 22 bytes in TLS 1.3)",
            },
            "per_server_core": PER_SERVER_CORE,
            "handshakes_per_s": "requests/s of the mode 'handshake' runs: N openssl s_time "
            "-new processes (N = connections) pinned to the client core, each connection "
            "a full handshake and one HTTP/1.0 GET of the 1 KiB file; connections over "
            "the wall time from the first start to the last exit",
            "order": "every server in turn, each running all workloads in one phase",
        },
        "phases": [],
        "results": [],
        "ratios": [],
        "profiles": [],
        "resumption_check": {},
        "errors": [],
        "goals": [],
    }
    rows: list[dict[str, Any]] = report["results"]
    try:
        with tempfile.TemporaryDirectory(prefix="ssdk-https-") as tmp_s:
            tmp = Path(tmp_s)
            write_site(tmp)
            with veth_pair("https", queues=1, offload_off=True) as topo:
                cert, key, cmd = make_cert(tmp / "tls", topo.server_ip)
                report["setup"]["certificate"] = cmd.replace(str(tmp), "TMP")
                specs = [s for s in servers(cert, key) if not keep or s.name in keep]
                report["setup"]["servers"] = {s.name: server_record(s, tmp) for s in specs}
                ctx = Ctx(
                    topo,
                    tmp,
                    server_cpu,
                    client_cpu,
                    args.duration,
                    args.attempts,
                    args.quiet_wait,
                    ssdk_cc=args.ssdk_cc,
                    scheme="https",
                )
                report["setup"]["namespaces"] = [topo.server_ns, topo.client_ns]
                report["setup"] |= steer_and_cc(ctx, args.kernel_cc, not args.no_rps)
                for line in setup_lines(report["setup"]):
                    print(line, flush=True)
                for spec in specs:
                    print(f"{spec.name} ...", flush=True)
                    try:
                        phase, got, profs = run_phase(
                            ctx, spec, plan, cert, (args.profile, args.profile_client)
                        )
                        report["phases"].append(phase)
                        rows += got
                        report["profiles"] += profs
                    except ServeRejected as e:
                        line = f"{spec.name}: skipped (ssdk serve rejected its options: {e})"
                        report["errors"].append(line)
                        print(line, flush=True)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        detail = getattr(e, "stderr", "") or ""
                        report["errors"].append(f"{spec.name}: {e} {detail}".strip())
                        print(f"{spec.name} failed: {e} {detail}", file=sys.stderr)
                        log = tmp / f"{spec.name}.log"
                        if log.exists():
                            print(log.read_text()[-3000:], file=sys.stderr)
                if any(s.kind == "nginx" for s in specs):
                    print("nginx resumption check ...", flush=True)
                    try:
                        check = nginx_resumption_check(ctx, cert, conns[0])
                        report["resumption_check"]["nginx"] = check
                        for name, c in check.items():
                            print(
                                f"  {name} against nginx: {c['full_handshakes']} full "
                                f"handshakes, {c['resumed']} resumed, of {c['logged']} "
                                "requests logged"
                            )
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        report["errors"].append(f"resumption check: {e}")
        report["complete"] = True
    finally:
        for r in rows:
            c = r.get("ssdk_counters")
            if c is not None and r["mode"] in ("close", "handshake"):
                report["resumption_check"].setdefault("ssdk", []).append(
                    {
                        "server": r["server"],
                        "requests": r.get("requests"),
                        "mode": r["mode"],
                        "tls_handshakes": c.get("tls_handshakes", 0),
                        "tls_resumed": c.get("tls_resumed", 0),
                    }
                )
        report["ratios"] = ratios(rows, plan)
        report["goals"] = judge(rows, 16 if 16 in conns else conns[0])
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print_table(rows, None)
        print_tls_table(rows)
        print()
        print(f"{'ratio ssdk/nginx':<44}{'req/s':>8}{'per core':>10}")
        for q in report["ratios"]:
            w = " ".join(map(str, q["workload"]))
            print(
                f"{q['ssdk'] + ' / ' + q['nginx'] + ', ' + w:<44}"
                f"{fmt(q['requests_per_s'], '.2f'):>8}{fmt(q['per_server_core'], '.2f'):>10}"
            )
        for phase in report["phases"]:
            t = phase.get("tls", {}).get("tls1_3", {})
            print(
                f"{phase['server']}: {t.get('protocol')} {t.get('cipher')} {t.get('key_exchange')}"
            )
        print_ending(report, args.out, print_goals)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

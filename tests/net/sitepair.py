# tests/net/sitepair.py: examples/site served two ways for the tests that compare them:
# by ssdk (`ssdk serve` on AF_PACKET, nethelpers.serve) and by nginx on the kernel's
# stack, each on its own veth topology with the same addresses, so the same request
# (Host included) can go to both. nginx is configured as the benchmarks run it (bench/common.py),
# plus what a site needs: the stock mime.types, UTF-8 as the charset of text types,
# ETags, `index index.html` and, when ssdk compresses, gzip for text types. Also: the
# raw-socket client (raw_http.py) as a long-running process in a client namespace.
# Everything made here (namespaces, veths, processes) is removed on exit, also on
# failure.
from __future__ import annotations

import base64
import contextlib
import json
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
from nethelpers import REPO, Server, build_bundle, serve, unavailable

from ssdk.core.runtime.tls import write_selfsigned
from ssdk.tools.netns import SERVER_IP, Topology, kernel_owns_server_ip, ns_exec, veth_pair

SITE = REPO / "examples" / "site"
RAW_CLIENT = Path(__file__).resolve().parent / "raw_http.py"
MIME_TYPES = Path("/etc/nginx/mime.types")

# Text types ssdk labels "charset=utf-8" (every text/* type, ssdk/core/http.py); nginx
# adds the charset to the types listed here (text/html always).
CHARSET_TYPES = "text/css text/plain text/javascript text/xml text/markdown text/csv"
# The types nginx's guide to compression suggests compressing, and what the site has.
GZIP_TYPES = "text/plain text/css text/javascript application/javascript application/json " \
    "application/xml image/svg+xml"  # fmt: skip

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    charset utf-8;
    charset_types {charset_types};
    etag on;
{gzip}    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {ip}:80;
{listen6}{tls}        root {root};
        index index.html;
    }}
}}
"""

GZIP_CONF = f"""\
    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_types {GZIP_TYPES};
"""


def require_tool(*tools: str) -> None:
    """Skip without the tools (fail under CI=true)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        unavailable(f"missing tools: {', '.join(missing)}")


def copy_site(dest: Path) -> Path:
    """A copy of examples/site (file times kept) in ``dest``; returns its folder."""
    folder = dest / "site"
    shutil.copytree(SITE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.ssdk"))
    return folder


TLS_CONF = """\
        listen {ip}:443 ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
"""


def nginx_conf(root: Path, tmp: Path, ip: str, gzip: bool, ip6: str | None = None,
               tls: tuple[Path, Path] | None = None) -> str:  # fmt: skip
    """``ip6``: nginx listens on that IPv6 address too; ``tls`` (certificate, key):
    and HTTPS on 443."""
    return NGINX_CONF.format(
        tmp=tmp, ip=ip, root=root, mime_types=MIME_TYPES, charset_types=CHARSET_TYPES,
        gzip=GZIP_CONF if gzip else "",
        listen6=f"        listen [{ip6}]:80;\n" if ip6 else "",
        tls=TLS_CONF.format(ip=ip, cert=tls[0], key=tls[1]) if tls else "",
    )  # fmt: skip


@dataclass
class Nginx:
    """nginx running on a topology of its own; the kernel of its server namespace owns
    the server address."""

    topo: Topology
    proc: subprocess.Popen[str]
    conf: Path
    error_log: Path

    def url(self, path: str) -> str:
        return f"http://{self.topo.server_ip}{path}"

    def client(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(ns_exec(self.topo.client_ns, argv), capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip

    def log_tail(self) -> str:
        text = self.error_log.read_text() if self.error_log.exists() else ""
        return "nginx error log (tail):\n" + text[-3000:]


def wait_answers(topo: Topology, path: str, proc: subprocess.Popen[str], timeout: float) -> None:
    url = f"http://{topo.server_ip}{path}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before it answered")
        probe = subprocess.run(
            ns_exec(topo.client_ns, ["curl", "-s", "-o", "/dev/null", "--max-time", "2"])
            + ["-w", "%{http_code}", url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.stdout.strip() == "200":
            return
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {timeout} s")


@contextlib.contextmanager
def serve_nginx(
    root: Path, tmp: Path, *, gzip: bool = False, tag: str = "ngx", ipv6: bool = False,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Nginx]:
    """nginx serving the folder ``root`` on a fresh topology (with IPv6 too: nginx then
    listens on server_ip6 as well; with ``tls``, HTTPS on 443 too); stopped and removed
    on exit."""
    require_tool("nginx")
    tmp.mkdir(parents=True, exist_ok=True)
    with veth_pair(tag, ipv6=ipv6) as topo, kernel_owns_server_ip(topo, ipv6=ipv6):
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_conf(root, tmp, topo.server_ip, gzip, topo.server_ip6, tls))
        test = subprocess.run(
            ns_exec(topo.server_ns, ["nginx", "-t", "-p", str(tmp), "-c", str(conf)]),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert test.returncode == 0, f"nginx -t:\n{test.stderr}"
        log = (tmp / "nginx.log").open("w")
        proc = subprocess.Popen(
            ns_exec(topo.server_ns, ["nginx", "-p", str(tmp), "-c", str(conf)]),
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        server = Nginx(topo, proc, conf, tmp / "nginx-error.log")
        try:
            wait_answers(topo, "/", proc, 30)
            yield server
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()


class RawClient:
    """raw_http.py running in ``ns``: each `ask` sends bytes as they are, on a new
    connection to ``host``, and returns what came back (see raw_http.py). ``tls``: the
    connections are HTTPS to port 443, the certificate checked against that file."""

    def __init__(self, ns: str, host: str, tls: Path | None = None) -> None:
        self.host = host
        self.tls = {"cafile": str(tls), "server_name": host} if tls else None
        self.proc = subprocess.Popen(
            ns_exec(ns, [sys.executable, str(RAW_CLIENT)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip

    def send(self, data: bytes, *, head: bool = False, probe: bytes | None = None,
             timeout: float = 3.0, probe_timeout: float = 1.0) -> None:  # fmt: skip
        job = {
            "host": self.host, "port": 443 if self.tls else 80, "tls": self.tls,
            "data": base64.b64encode(data).decode(),
            "head": head, "timeout": timeout, "probe_timeout": probe_timeout,
            "probe": base64.b64encode(probe).decode() if probe else None,
        }  # fmt: skip
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"raw_http.py exited with {self.proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, data: bytes, **kw: Any) -> dict[str, Any]:
        self.send(data, **kw)
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def raw_client(topo: Topology, family: int = 4, tls: Path | None = None) -> Iterator[RawClient]:
    """A raw client to the server's IPv4 address, or its IPv6 one (family 6); over
    HTTPS with ``tls`` (the certificate to trust)."""
    host = topo.server_ip6 if family == 6 else topo.server_ip
    assert host is not None, "no IPv6 on this topology"
    client = RawClient(topo.client_ns, host, tls)
    try:
        yield client
    finally:
        client.close()


def ssdk_compresses(client: RawClient) -> bool:
    """Whether ssdk answers a request for the style sheet that accepts gzip with a
    Content-Encoding (then nginx is configured to compress too)."""
    host = f"[{client.host}]" if ":" in client.host else client.host  # RFC 3986 3.2.2
    answer = client.ask(b"GET /css/site.css HTTP/1.1\r\nHost: " + host.encode()
                        + b"\r\nAccept-Encoding: gzip\r\n\r\n")  # fmt: skip
    assert answer["status"] == 200, answer
    return any(name.lower() == "content-encoding" for name, _ in answer["headers"])


@dataclass
class SitePair:
    """examples/site served by ssdk and by nginx at once, each on its own topology, with
    a raw client for each."""

    site: Path
    ssdk: Server
    nginx: Nginx
    to_ssdk: RawClient
    to_nginx: RawClient
    gzip: bool


@contextlib.contextmanager
def site_pair(tmp: Path, tag: str, family: int = 4, tls: bool = False) -> Iterator[SitePair]:
    """A copy of examples/site in ``tmp``, served by ``ssdk serve`` (AF_PACKET) and by
    nginx; nginx compresses only when ssdk does. ``family`` 6: both have an IPv6 address
    too (ssdk dual stack, nginx on both) and the raw clients speak IPv6. ``tls``: both
    serve HTTPS too, with one certificate (ssdk's self-signed one for the server's
    address), and the raw clients speak HTTPS. Everything is removed on exit."""
    require_tool("nginx")
    site = copy_site(tmp)
    bundle = build_bundle(site / "app.py", tmp / "site.ssdk")
    v6 = family == 6
    pair = None
    extra: list[str] = []
    if tls:
        pair = (tmp / "site.crt", tmp / "site.key")
        write_selfsigned(pair[0], pair[1], [SERVER_IP], 2)
        extra = ["--tls-cert", str(pair[0]), "--tls-key", str(pair[1])]
    ca = pair[0] if pair else None
    with (
        serve(bundle, tmp, *extra, tag=tag, ipv6=v6) as ssdk,
        raw_client(ssdk.topo, family, ca) as to_ssdk,
    ):
        gz = ssdk_compresses(to_ssdk)
        with (
            serve_nginx(site / "public", tmp / "nginx", gzip=gz, tag=f"{tag}ngx",
                        ipv6=v6, tls=pair) as nginx,
            raw_client(nginx.topo, family, ca) as to_nginx,
        ):  # fmt: skip
            yield SitePair(site, ssdk, nginx, to_ssdk, to_nginx, gz)

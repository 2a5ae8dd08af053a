# tests/unit/test_fleet.py: the fleet file of `ssdk deploy` (ssdk/tools/fleet.py): what
# it resolves for each host, and that every mistake is refused in one line that names
# the file, the host and the key, with exit code 2 from the command. Also the service
# files deploy writes: the systemd unit, checked by `systemd-analyze verify`, and the
# `ssdk serve` line of a host. No host is reached here.
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssdk.cli import app
from ssdk.tools.fleet import FleetError, load_fleet, make_ticket_key
from ssdk.tools.host import SUPERVISE, serve_line, serve_script, systemd_unit, tls_files
from ssdk.tools.release import release_ids

CI = os.environ.get("CI") == "true"

GOOD = """
[fleet]
backend = "af_packet"
root = "/opt/ssdk"
service = "process"
identity = "keys/id_ed25519"
known_hosts = "keys/known_hosts"
health = "/healthz"

[[host]]
name = "h1"
ssh = "root@198.18.1.11:2222"
iface = "eth1"
ip = "198.18.2.11/15"
root = "/srv/ssdk-h1"

[[host]]
name = "h2"
ssh = "deploy@198.18.1.12"
iface = "eth1"
ip = ["198.18.2.12/15"]
backend = "af_xdp"
workers = 2
"""


def fleet_file(tmp_path: Path, text: str) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "id_ed25519").write_text("key\n")
    (keys / "known_hosts").write_text("hosts\n")
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def test_hosts_take_the_fleet_defaults_and_their_own_overrides(tmp_path: Path) -> None:
    fleet = load_fleet(fleet_file(tmp_path, GOOD))
    h1, h2 = fleet.hosts
    assert (h1.name, h1.user, h1.address, h1.ssh_port) == ("h1", "root", "198.18.1.11", 2222)
    assert h1.root == "/srv/ssdk-h1" and h2.root == "/opt/ssdk"
    assert h1.backend == "af_packet" and h2.backend == "af_xdp"
    assert (h2.user, h2.ssh_port, h2.workers) == ("deploy", 22, 2)
    assert str(h2.ip) == "198.18.2.12/15"
    assert h1.identity == tmp_path / "keys" / "id_ed25519"  # relative to the fleet file
    assert h1.health_url() == "http://198.18.2.11/healthz"
    assert h1.keep == 5 and h1.service == "process"


BAD = [
    # (what replaces what in GOOD, words the one-line message must hold)
    ('service = "process"', 'service = "init"', ["fleet.toml", "[fleet]", "service"]),
    ('ssh = "deploy@198.18.1.12"', 'ssh = "198.18.1.12"', ["host 'h2'", "'ssh'", "user@address"]),
    ('ssh = "root@198.18.1.11:2222"', 'ssh = "root@h:99999"', ["host 'h1'", "'ssh'", "99999"]),
    ('ip = "198.18.2.11/15"', 'ip = "198.18.2.311/15"', ["host 'h1'", "'ip'"]),
    ('ip = "198.18.2.11/15"', 'ip = "198.18.2.11"', ["host 'h1'", "'ip'", "prefix"]),
    ('ip = ["198.18.2.12/15"]', 'ip = ["198.18.2.12/15", "198.18.2.13/15"]', ["'h2'", "'ip'"]),
    ('iface = "eth1"\nip = "198.18.2.11/15"', 'ip = "198.18.2.11/15"', ["'iface'", "missing"]),
    ("workers = 2", "workers = 0", ["host 'h2'", "'workers'"]),
    ("workers = 2", "wrokers = 2", ["host 'h2'", "'wrokers'", "not a fleet key"]),
    ('backend = "af_xdp"', 'backend = "tap"', ["host 'h2'", "'backend'", "af_packet"]),
    ('identity = "keys/id_ed25519"', 'identity = "keys/nope"', ["'identity'", "not a file"]),
    ('known_hosts = "keys/known_hosts"\n', "", ["'known_hosts'", "missing"]),
    ('health = "/healthz"', 'health = "healthz"', ["'health'"]),
    ('root = "/srv/ssdk-h1"', 'root = "srv"', ["host 'h1'", "'root'", "absolute"]),
    ('name = "h2"', 'name = "h1"', ["host 'h1'", "'name'", "also"]),
    ('ip = ["198.18.2.12/15"]', 'ip = ["198.18.2.11/15"]', ["'ip'", "198.18.2.11", "also"]),
    ("[fleet]", '[fleet]\nname = "x"', ["[fleet]", "'name'", "[[host]]"]),
    ("[fleet]", "[fleets]\n[fleet]", ["unknown table", "fleets"]),
    ("workers = 2", 'serve = ["--ip", "1.2.3.4/8"]', ["'serve'", "--ip"]),
    ('health = "/healthz"', 'health = "/healthz"\n[', ["not valid TOML"]),
]


@pytest.mark.parametrize(("old", "new", "words"), BAD)
def test_a_wrong_fleet_is_refused_in_one_line_naming_host_and_key(
    tmp_path: Path, old: str, new: str, words: list[str]
) -> None:
    assert old in GOOD
    path = fleet_file(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(FleetError) as e:
        load_fleet(path)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    # The commands: the same line, exit code 2, before any host is reached.
    for argv in (["status"], ["releases"], ["rollback"], ["deploy"]):
        res = CliRunner().invoke(app, [*argv, "--fleet", str(path)])
        assert res.exit_code == 2, (argv, res.output)
        assert words[0] in res.output


def test_no_hosts_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="no \\[\\[host\\]\\]"):
        load_fleet(fleet_file(tmp_path, GOOD.split("[[host]]")[0]))
    with pytest.raises(FleetError, match="cannot read"):
        load_fleet(tmp_path / "absent.toml")


def test_release_ids_split_code_from_content() -> None:
    app = {"app.py": "a" * 64, "public/x.css": "b" * 64}
    src = {"ssdk/__init__.py": "c" * 64}
    settings = {"health": "/healthz", "mss": 1448, "serve": []}
    rid, code = release_ids(app, src, settings)
    # Content changes: a new release with the same code (swapped in, not restarted).
    rid2, code2 = release_ids({**app, "public/x.css": "d" * 64}, src, settings)
    assert rid2 != rid and code2 == code
    # The app's Python, ssdk itself, or serve's options: new code.
    assert release_ids({**app, "app.py": "e" * 64}, src, settings)[1] != code
    assert release_ids(app, {"ssdk/__init__.py": "f" * 64}, settings)[1] != code
    assert release_ids(app, src, {**settings, "serve": ["--cc", "bbr"]})[1] != code
    assert release_ids(app, src, settings) == (rid, code)  # same inputs, same release


def test_serve_script_quotes_and_serves_current(tmp_path: Path) -> None:
    h1 = load_fleet(fleet_file(tmp_path, GOOD)).hosts[0]
    text = serve_script(h1, "abc", ["--cc", "bbr"])
    cur = "/srv/ssdk-h1/current"
    assert f"{cur}/venv/bin/python -m ssdk serve {cur}/app.ssdk" in text
    assert "--iface eth1 --ip 198.18.2.11/15 --port 80 --workers 1 --cc bbr" in text
    proc = subprocess.run(["sh", "-n"], input=text, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(["sh", "-n"], input=SUPERVISE.format(root="/srv/x"), text=True,
                          capture_output=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """The unit carries the capabilities and memlock limit ssdk serve needs, and
    systemd's own checker accepts it (no systemd as PID 1 is needed for that)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if CI:
            pytest.fail("CI=true and systemd-analyze is missing (apt-get install systemd)")
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    text = GOOD.replace('root = "/srv/ssdk-h1"', f'root = "{tmp_path}/h1"')
    h1 = load_fleet(fleet_file(tmp_path, text)).hosts[0]
    (tmp_path / "h1" / "bin").mkdir(parents=True)
    serve = tmp_path / "h1" / "bin" / "serve"
    serve.write_text(serve_script(h1, "abc", []))
    serve.chmod(0o755)
    unit = systemd_unit(h1)
    for line in ("Restart=on-failure", "LimitMEMLOCK=infinity", f"ExecStart={serve}"):
        assert line in unit.splitlines()
    for key in ("AmbientCapabilities=", "CapabilityBoundingSet="):
        caps = next(x for x in unit.splitlines() if x.startswith(key)).split("=", 1)[1].split()
        assert {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF"} <= set(caps)
    path = tmp_path / "ssdk-test.service"
    path.write_text(unit)
    proc = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    bad = [x for x in (proc.stdout + proc.stderr).splitlines() if "ssdk-test.service" in x]
    assert proc.returncode == 0 and not bad, proc.stdout + proc.stderr


# HTTPS keys: certificates and keys (one or a list), the port, the fleet's ticket key.

TLS = GOOD.replace(
    'health = "/healthz"\n',
    'health = "/healthz"\ntls_cert = "keys/site.crt"\ntls_key = "keys/site.key"\n',
    1,
)


def tls_fleet(tmp_path: Path, text: str = TLS) -> Path:
    from ssdk.core.runtime.tls import write_selfsigned

    path = fleet_file(tmp_path, text)
    keys = tmp_path / "keys"
    write_selfsigned(keys / "site.crt", keys / "site.key", ["site.test"], 2)
    write_selfsigned(keys / "blog.crt", keys / "blog.key", ["blog.test"], 2)
    (keys / "short.ticket").write_bytes(b"x" * 32)
    return path


def test_tls_keys_resolve_and_the_fleet_gets_one_ticket_key(tmp_path: Path) -> None:
    text = TLS.replace("workers = 2", "workers = 2\ntls_port = 8443")
    fleet = load_fleet(tls_fleet(tmp_path, text))
    h1, h2 = fleet.hosts
    keys = tmp_path / "keys"
    assert h1.tls == h2.tls == ((keys / "site.crt", keys / "site.key"),)
    assert (h1.tls_port, h2.tls_port) == (443, 8443)
    # No tls_ticket_key: the fleet's own, beside the fleet file, the same for both.
    made = keys / "fleet.ticket.key"
    assert h1.tls_ticket_key == h2.tls_ticket_key == made == fleet.ticket_key_to_make
    assert not made.exists()  # reading the fleet file writes nothing
    assert make_ticket_key(fleet) == made
    assert len(made.read_bytes()) == 64 and made.stat().st_mode & 0o777 == 0o600
    key = made.read_bytes()
    assert make_ticket_key(fleet) is None and made.read_bytes() == key  # made once
    # A key of the user's: used as it is, nothing to make.
    (keys / "mine.key").write_bytes(key)
    mine = load_fleet(tls_fleet(tmp_path, TLS.replace(
        'tls_key = "keys/site.key"', 'tls_key = "keys/site.key"\ntls_ticket_key = "keys/mine.key"'
    )))  # fmt: skip
    assert mine.ticket_key_to_make is None and mine.hosts[1].tls_ticket_key == keys / "mine.key"
    # Several names: lists, paired in order.
    pairs = 'tls_cert = ["keys/site.crt", "keys/blog.crt"]\n'
    pairs += 'tls_key = ["keys/site.key", "keys/blog.key"]'
    two = load_fleet(tls_fleet(tmp_path, TLS.replace(
        'tls_cert = "keys/site.crt"\ntls_key = "keys/site.key"', pairs
    )))  # fmt: skip
    assert [c.name for c, _ in two.hosts[0].tls] == ["site.crt", "blog.crt"]
    assert [k.name for _, k in two.hosts[0].tls] == ["site.key", "blog.key"]
    # No certificates: no HTTPS, no key.
    plain = load_fleet(fleet_file(tmp_path, GOOD))
    assert plain.ticket_key_to_make is None and not plain.hosts[0].tls
    assert plain.hosts[0].tls_ticket_key is None


TLS_BAD = [
    ('tls_key = "keys/site.key"\n', "", ["host 'h1'", "'tls_key'", "missing"]),
    ('tls_cert = "keys/site.crt"\n', "", ["'tls_cert'", "missing"]),
    ('tls_cert = "keys/site.crt"', 'tls_cert = "keys/none.crt"', ["'tls_cert'", "not a file"]),
    ('tls_cert = "keys/site.crt"', "tls_cert = 5", ["'tls_cert'", "path"]),
    ('tls_cert = "keys/site.crt"', "tls_cert = []", ["'tls_cert'", "path"]),
    (
        'tls_cert = "keys/site.crt"',
        'tls_cert = ["keys/site.crt", "keys/blog.crt"]',
        ["'tls_key'", "1 file for 2"],
    ),
    ('tls_key = "keys/site.key"', 'tls_key = "keys/blog.key"', ["tls_cert/tls_key", "match"]),
    ('tls_key = "keys/site.key"', 'tls_key = "keys/known_hosts"', ["tls_cert/tls_key"]),
    ("workers = 2", "workers = 2\ntls_port = 80", ["host 'h2'", "'tls_port'", "port of its own"]),
    ("workers = 2", "workers = 2\ntls_port = 70000", ["host 'h2'", "'tls_port'", "1..65535"]),
    ("workers = 2", 'workers = 2\ntls_port = "443"', ["host 'h2'", "'tls_port'"]),
    (
        'tls_key = "keys/site.key"',
        'tls_key = "keys/site.key"\ntls_ticket_key = "keys/short.ticket"',
        ["'tls_ticket_key'", "64 bytes"],
    ),
    (
        'tls_key = "keys/site.key"',
        'tls_key = "keys/site.key"\ntls_ticket_key = ["keys/x"]',
        ["'tls_ticket_key'", "a file's path"],
    ),
    (
        "workers = 2",
        'workers = 2\ntls_ticket_key = "keys/site.key"',
        ["host 'h2'", "'tls_ticket_key'", "host 'h1'", "one ticket key"],
    ),
    ("workers = 2", 'workers = 2\nserve = ["--tls-cert", "x.crt"]', ["'serve'", "--tls-cert"]),
    ("workers = 2", 'workers = 2\nserve = ["--tls-port=8443"]', ["'serve'", "tls_port"]),
]
# Without certificates: the other HTTPS keys mean nothing, and are refused.
PLAIN_BAD = [
    ("workers = 2", "workers = 2\ntls_port = 8443", ["host 'h2'", "'tls_port'", "tls_cert"]),
    (
        'health = "/healthz"',
        'health = "/healthz"\ntls_ticket_key = "keys/known_hosts"',
        ["[fleet]", "'tls_ticket_key'", "certificates"],
    ),
]


@pytest.mark.parametrize(("old", "new", "words"), TLS_BAD + PLAIN_BAD)
def test_wrong_tls_keys_are_refused_in_one_line(
    tmp_path: Path, old: str, new: str, words: list[str]
) -> None:
    base = TLS if (old, new, words) in TLS_BAD else GOOD
    assert old in base
    path = tls_fleet(tmp_path, base.replace(old, new, 1))
    with pytest.raises(FleetError) as e:
        load_fleet(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    for w in words:
        assert w in msg, (w, msg)
    res = CliRunner().invoke(app, ["deploy", "--fleet", str(path)])
    assert res.exit_code == 2 and words[0] in res.output, res.output


def test_serve_script_names_the_tls_files_by_their_hash(tmp_path: Path) -> None:
    fleet = load_fleet(tls_fleet(tmp_path))
    make_ticket_key(fleet)
    h1 = fleet.hosts[0]
    keys = tmp_path / "keys"
    files = tls_files(h1)
    sha = {f.local.name: hashlib.sha256(f.local.read_bytes()).hexdigest()[:16] for f in files}
    assert [(f.name, f.mode) for f in files] == [
        (f"{sha['site.crt']}.crt", "644"),
        (f"{sha['site.key']}.key", "600"),
        (f"{sha['fleet.ticket.key']}.ticket", "600"),
    ]
    tls = "/srv/ssdk-h1/tls/"
    line = serve_line(serve_script(h1, "abc", ["--cc", "bbr"]))
    assert line is not None
    assert (
        f"--tls-cert {tls}{sha['site.crt']}.crt --tls-key {tls}{sha['site.key']}.key "
        f"--tls-port 443 --tls-ticket-key {tls}{sha['fleet.ticket.key']}.ticket --cc bbr"
    ) in line
    # The command does not name the release; a new certificate makes a new command.
    assert serve_line(serve_script(h1, "other", ["--cc", "bbr"])) == line
    from ssdk.core.runtime.tls import write_selfsigned

    write_selfsigned(keys / "site.crt", keys / "site.key", ["site.test"], 2)
    assert serve_line(serve_script(h1, "abc", ["--cc", "bbr"])) != line

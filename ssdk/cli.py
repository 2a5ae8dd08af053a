"""The `ssdk` command: new, build, routes, serve, stats, dev, impair, demo, deploy.

Each command is glue over a module that does the work (ssdk.core.buildtime.build,
ssdk.serve, and in ssdk.tools: new, stats, dev, impair_bridge, demo, doctor, deploy). Errors
the user can fix are one line on stderr: exit code 2 for a bad argument, 1 for a build
or runtime failure. Nothing here prints a traceback for them, and nothing asks a
question.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO, TypeVar

import typer
from typer.core import TyperGroup

from ssdk import __version__
from ssdk.core.cdefs import DEFAULT_MSS, MSS_MAX, MSS_MIN
from ssdk.tools.new import TEMPLATES

if TYPE_CHECKING:
    from ssdk.core.runtime.impair import Impairment
    from ssdk.core.runtime.tls import TlsServer
    from ssdk.tools.fleet import Fleet


class OneLineGroup(TyperGroup):
    """The `ssdk` command group. Its failures are reported in one line (_run_one_line)
    whoever runs it: the `ssdk` script, `python -m ssdk`, or typer's CliRunner."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = _run_one_line(
            lambda: super(OneLineGroup, self).main(
                args=args,
                prog_name=prog_name or "ssdk",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="ssdk",
    cls=OneLineGroup,
    help="Web services on their own user-space TCP/IP stack.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit(0)


@app.callback()
def _group(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print ssdk's version and exit.",
        ),
    ] = False,
) -> None:
    """Web services on their own user-space TCP/IP stack."""


# typer raises click's exceptions, from click or from its own vendored copy of it.
UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
click_context = importlib.import_module(
    UsageError.__module__.rsplit(".", 1)[0] + ".globals"
).get_current_context


class Failure(Exception):
    """A failure to report in one line with exit code 1."""


def _target(value: str | None) -> str | None:
    if value is None:
        return None  # the project's app (_project_target)
    p = Path(value.split(".py:", 1)[0] + ".py" if ".py:" in value else value)
    if not p.exists():
        raise typer.BadParameter(f"{p} does not exist")
    if p.suffix not in (".py", ".ssdk"):
        raise typer.BadParameter(f"{p} is neither an app (.py) nor a bundle (.ssdk)")
    return value


T = TypeVar("T")


def _project_call(call: Callable[[], T]) -> T:
    """A call into ssdk.project; a wrong or missing project is a usage error."""
    from ssdk.project import ProjectError

    try:
        return call()
    except ProjectError as e:
        raise UsageError(str(e), ctx=click_context()) from None


def _project_target(given: str | None) -> str:
    """The APP or TARGET given, else the app of the project the command runs in."""
    from ssdk.project import app_argument

    return _project_call(lambda: app_argument(given))


def _ips(values: list[str] | None) -> list[str] | None:
    """Every --ip: IPv4 (A.B.C.D/NN) or IPv6 (X::Y/NN), each once, ADDRS_MAX at most."""
    from ssdk.core.addrs import check_addresses, parse_address

    if not values:
        return values
    for value in values:
        try:
            parse_address(value)
        except ValueError as exc:
            raise typer.BadParameter(
                f"{value!r} is not an address of ours (A.B.C.D/NN, or IPv6 such as 2001:2::2/64)"
            ) from exc
    try:
        check_addresses([parse_address(v) for v in values])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return values


def _serving_addresses(values: list[str]) -> tuple[Any, tuple[Any, ...]]:
    """(the address the banner names: the first IPv4 one, else the first; every
    address). IPv6 alone is served as well: the XDP program and the socket filter take
    both families (docs/ipv6.md)."""
    from ssdk.core.addrs import parse_address

    addrs = tuple(parse_address(v) for v in values)
    v4 = [a for a in addrs if isinstance(a, ipaddress.IPv4Interface)]
    return (v4[0] if v4 else addrs[0]), addrs


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the command line gave the option (not its default)."""
    source = ctx.get_parameter_source(name)  # typer's click may be its own: by name
    return source is not None and source.name != "DEFAULT"


def _iface(value: str) -> str:
    if not value or "/" in value or not os.path.exists(f"/sys/class/net/{value}"):
        raise typer.BadParameter(f"no network interface named {value!r}")
    return value


def _xdp_mode(value: str) -> str:
    if value not in ("auto", "native", "skb"):
        raise typer.BadParameter(f"{value!r} is not one of: auto, native, skb")
    return value


def _gso(value: str) -> str:
    from ssdk.serve import GSO_MODES

    if value not in GSO_MODES:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(GSO_MODES)}")
    return value


GSO_HELP = (
    "Send super-frames for the kernel or NIC to cut (segmentation offload): auto (where "
    "the backend can and the interface has TSO/GSO on), on (fail where the backend "
    "cannot), off."
)


def _backend(value: str) -> str:
    from ssdk.serve import BACKENDS

    if value not in BACKENDS:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(BACKENDS)}")
    return value


CC_NAMES = ("cubic", "newreno", "bbr")  # index = ssdk_config.cc
TCP_OPTIONS = 0b0111  # ssdk_config.options: timestamps, SACK, loss probes
PACING_OPTION = 0b1000  # and bit 3, pacing (tcp/tcp_sched.c)


def _cc(value: str) -> str:
    if value not in CC_NAMES:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(CC_NAMES)}")
    return value


def _impair(value: str | None) -> str | None:
    from ssdk.core.runtime.impair import ImpairmentError, parse_impairment

    if value is not None:
        try:
            parse_impairment(value)
        except ImpairmentError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return value


def _impairments(
    both: str | None, one: str | None, other: str | None, names: tuple[str, str]
) -> tuple[Impairment | None, Impairment | None]:
    """The two directions' impairments from --impair-both or the per-direction options."""
    from ssdk.core.runtime.impair import parse_impairment

    if both is not None and (one is not None or other is not None):
        raise typer.BadParameter(
            f"give either --impair-both or {' / '.join(names)}, not both",
            param_hint="--impair-both",
        )
    if both is not None:
        one = other = both
    return (
        parse_impairment(one) if one is not None else None,
        parse_impairment(other) if other is not None else None,
    )


SPEC_HELP = "loss=5%,dup=1%,reorder=1%,delay=10ms,jitter=2ms,corrupt=0.1%,rate=50mbit,queue=125kb"


def _spec_option(name: str, what: str) -> Any:
    return typer.Option(name, metavar="SPEC", callback=_impair, help=f"{what}: {SPEC_HELP}")


SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        min=0,
        max=2**64 - 1,
        help="Seed of the impairment's decisions (default: random, printed).",
    ),
]

MssOption = Annotated[
    int, typer.Option("--mss", min=MSS_MIN, max=MSS_MAX, help="Payload bytes per prebuilt segment.")
]

# Linux's tcp_synack_retries (5): a half-open connection is given up 63 s after its SYN.
SynackRetriesOption = Annotated[
    int,
    typer.Option(
        "--synack-retries",
        min=0,
        max=100,
        help="SYN-ACKs sent again before a half-open connection is given up "
        "(5: after 63 s, as Linux).",
    ),
]

SYN_BACKLOG_HELP = "Half-open connections before SYN cookies; never more than half of --max-conns."

# tcp/rxbuf.c: only a request that arrives in parts holds a 4 KiB buffer, so the pool is
# sized for those in progress at once, not for every connection (docs/tcp.md).
RxBuffersOption = Annotated[
    int,
    typer.Option(
        "--rx-buffers",
        min=0,
        max=1 << 24,
        help="4 KiB buffers for requests that arrive in parts; when none is left, new "
        "ones wait with the window closed. 0: max(1024, max-conns/16).",
    ),
]

# The slot-holding timeouts, in seconds as nginx's send_timeout and client_body_timeout
# (60 s each); 0 turns one off.
DEFAULT_SEND_TIMEOUT = 60.0
DEFAULT_BODY_TIMEOUT = 60.0
TIMEOUT_MAX_S = 86_400.0
SendTimeoutOption = Annotated[
    float,
    typer.Option(
        "--send-timeout",
        min=0,
        max=TIMEOUT_MAX_S,
        help="Reset a connection that acknowledges nothing new this long while it has "
        "data due (zero window included), s; 0: never. As nginx's send_timeout.",
    ),
]
BodyTimeoutOption = Annotated[
    float,
    typer.Option(
        "--body-timeout",
        min=0,
        max=TIMEOUT_MAX_S,
        help="Answer 408 and close when a request body's next byte has not come this "
        "long after the last, s; 0: never. As nginx's client_body_timeout.",
    ),
]


def _tls_key_file(path: Path) -> None:
    """A ticket key file the TLS layer refuses is a usage error."""
    from ssdk.core.runtime.tls import TlsError, check_ticket_key

    try:
        check_ticket_key(path)
    except TlsError as e:
        raise typer.BadParameter(str(e), param_hint="--tls-ticket-key") from None


# HTTPS (docs/tls.md, "Serving HTTPS"): PEM pairs, paired in the order given.
TlsCertOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--tls-cert",
        metavar="FILE",
        help="A certificate (PEM, its chain after it) to serve HTTPS with; repeat it, "
        "each with its --tls-key in the same order, for several names (picked by SNI; "
        "the first for clients that name none).",
    ),
]
TlsKeyOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--tls-key",
        metavar="FILE",
        help="The private key (PEM) of the --tls-cert given in the same place.",
    ),
]
TlsPortOption = Annotated[
    int | None,
    typer.Option(
        "--tls-port",
        min=1,
        max=65535,
        help="The HTTPS port (default 443); HTTPS is served only with certificates.",
    ),
]
TlsTicketKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-ticket-key",
        metavar="FILE",
        help="The session-ticket key (ssdk tls-ticket-key writes one): servers that "
        "load the same file resume each other's TLS sessions. Default: a random key "
        "per serve.",
    ),
]
DEFAULT_TLS_PORT = 443


def _tls_pairs(certs: list[Path] | None, keys: list[Path] | None) -> list[tuple[Path, Path]]:
    """The (certificate, key) pairs, paired in the order given; a certificate without
    its key, or a key without its certificate, is a usage error."""
    certs, keys = certs or [], keys or []
    if len(certs) > len(keys):
        raise typer.BadParameter(
            f"{certs[len(keys)]} has no --tls-key (give one per --tls-cert, in the same order)",
            param_hint="--tls-cert",
        )
    if len(keys) > len(certs):
        raise typer.BadParameter(
            f"{keys[len(certs)]} has no --tls-cert (give one per --tls-key, in the same order)",
            param_hint="--tls-key",
        )
    return list(zip(certs, keys, strict=True))


def _tls_settings(
    pairs: list[tuple[Path, Path]], port: int | None, ticket_key: Path | None, http_port: int
) -> int:
    """The HTTPS port (0: no HTTPS), after checking the options that need certificates
    and the port's clash with HTTP's. http_port 0: HTTP's port is not known yet."""
    if not pairs:
        for given, name in ((port is not None, "--tls-port"), (ticket_key, "--tls-ticket-key")):
            if given:
                raise typer.BadParameter(
                    "HTTPS needs a certificate: give --tls-cert and --tls-key", param_hint=name
                )
        return 0
    tls_port = DEFAULT_TLS_PORT if port is None else port
    if tls_port == http_port:
        raise typer.BadParameter(
            f"{tls_port} is HTTP's --port too: HTTPS needs a port of its own",
            param_hint="--tls-port",
        )
    return tls_port


def _tls_server(pairs: list[tuple[Path, Path]], ticket_key: Path | None) -> TlsServer | None:
    """The certificates and ticket key loaded (None without certificates); a file the
    TLS layer refuses is a usage error, in the TLS layer's one line."""
    from ssdk.core.runtime.tls import TlsError, TlsServer

    if not pairs:
        return None
    if ticket_key is not None:
        _tls_key_file(ticket_key)
    try:
        return TlsServer(pairs, ticket_key)
    except TlsError as e:
        raise typer.BadParameter(str(e), param_hint="--tls-cert/--tls-key") from None


def _timeouts(send_s: float, body_s: float) -> dict[str, int]:
    """The two timeouts as EngineConfig fields (milliseconds); a positive value under a
    millisecond is one, never 0 (off)."""

    def ms(s: float) -> int:
        return max(1, round(s * 1000)) if s > 0 else 0

    return {"send_timeout_ms": ms(send_s), "body_timeout_ms": ms(body_s)}


@app.command()
def new(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="The project's name and folder: a Python identifier that no importable "
            "module has.",
        ),
    ],
    template: Annotated[
        str, typer.Option("--template", "-t", help=f"What to start from: {', '.join(TEMPLATES)}.")
    ] = "minimal",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a folder that is not empty (the template's files "
            "replace those of the same name; others stay).",
        ),
    ] = False,
    parent: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="PARENT",
            help="Make the project in PARENT rather than the working folder.",
        ),
    ] = None,
) -> None:
    """Make a new project NAME from a template, with its tests, and say what to run next."""
    from ssdk.tools.new import NewError, format_created, new_project

    try:
        created = new_project(name, template, parent, force)
    except NewError as e:
        raise typer.BadParameter(str(e), param_hint=e.param) from None
    print(format_created(created))


# Builds this large get a progress bar on a terminal; smaller ones finish before a bar
# would tell anything.
PROGRESS_MIN_RESPONSES = 200


class TerminalProgress:
    """A build's progress on a terminal, redrawn in place at most ten times a second.

    Draws nothing for a build of PROGRESS_MIN_RESPONSES responses or fewer; clear()
    removes the line, so only the summary stays on screen.
    """

    def __init__(self, stream: TextIO, width: int | None = None) -> None:
        self.stream = stream
        self.width = width
        self.began = time.monotonic()
        self.drawn_at = 0.0
        self.on_screen = 0  # characters of the line drawn last
        self.paths = 0
        self.responses = 0

    def start(self, paths: int, responses: int) -> None:
        self.paths, self.responses = paths, responses
        self._draw("render", 0, paths, force=True)

    def rendered(self, paths: int) -> None:
        self._draw("render", paths, self.paths, force=paths == self.paths)

    def lowering(self) -> None:
        self._draw("lower", 0, self.responses, force=True)

    def _draw(self, stage: str, done: int, total: int, force: bool) -> None:
        from ssdk.core.buildtime.report import format_progress

        if self.responses <= PROGRESS_MIN_RESPONSES:
            return
        now = time.monotonic()
        if not force and now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        # One column short of the edge: a full line would wrap on some terminals.
        width = (self.width or shutil.get_terminal_size().columns) - 1
        line = format_progress(stage, done, total, now - self.began, width)
        self.stream.write("\r" + line.ljust(self.on_screen))
        self.stream.flush()
        self.on_screen = len(line)

    def clear(self) -> None:
        if self.on_screen:
            self.stream.write("\r" + " " * self.on_screen + "\r")
            self.stream.flush()
            self.on_screen = 0


@app.command()
def build(
    app_file: Annotated[
        str | None,
        typer.Argument(
            metavar="APP",
            callback=_target,
            help="The app file (app.py or app.py:name); the project's if left out.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Bundle to write.")] = None,
    mss: MssOption = DEFAULT_MSS,
) -> None:
    """Lower every route of APP into a packet-template bundle, and summarize it."""
    from ssdk.core.buildtime.build import BuildStats, build_file
    from ssdk.core.buildtime.report import format_summary

    app_file = _project_target(app_file)
    path = out or Path(app_file.split(":", 1)[0]).with_suffix(".ssdk")
    stats = BuildStats()
    # Only a person watching gets a bar: logs and pipes get the summary alone.
    progress = TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    try:
        manifest = build_file(app_file, path, mss=mss, progress=progress, stats=stats)
    finally:
        if progress is not None:
            progress.clear()
    print(format_summary(manifest, str(path), stats))


@app.command()
def routes(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="TARGET",
            callback=_target,
            help="An app (.py) or a bundle (.ssdk); the project's app if left out.",
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also list the error responses.")] = False,
    mss: MssOption = DEFAULT_MSS,
) -> None:
    """List every response: path, status, content type, bytes, segments."""
    from ssdk.core.buildtime.build import open_target
    from ssdk.core.buildtime.report import format_routes

    bundle = open_target(_project_target(target), mss=mss)
    try:
        print(format_routes(bundle.manifest, specials=all_))
    finally:
        bundle.close()


@app.command()
def serve(
    ctx: typer.Context,
    iface: Annotated[
        str, typer.Option("--iface", callback=_iface, help="The interface the stack owns.")
    ],
    ip: Annotated[
        list[str],
        typer.Option(
            "--ip",
            callback=_ips,
            help="An address of the stack, A.B.C.D/NN or IPv6 X::Y/NN; repeat it for more "
            "(dual stack: --ip 198.18.0.2/15 --ip 2001:2::2/64).",
        ),
    ],
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="TARGET",
            callback=_target,
            help="An app (.py) or a built bundle (.ssdk); the project's app if left out.",
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend", callback=_backend, help="NIC backend: af_packet, af_xdp, tap or netmap."
        ),
    ] = "af_packet",
    queue: Annotated[
        int,
        typer.Option(
            "--queue",
            min=0,
            help="af_xdp, netmap: the interface queue (netmap: ring pair) of the first worker "
            "(worker i serves queue+i).",
        ),
    ] = 0,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=256,
            help="Engine processes: one per NIC queue (af_xdp, netmap) or per share of "
            "the flows (af_packet fanout).",
        ),
    ] = 1,
    xdp_mode: Annotated[
        str,
        typer.Option(
            "--xdp-mode", callback=_xdp_mode, help="af_xdp: auto (native, else SKB), native or skb."
        ),
    ] = "auto",
    gso: Annotated[str, typer.Option("--gso", callback=_gso, help=GSO_HELP)] = "auto",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 80,
    max_conns: Annotated[
        int, typer.Option("--max-conns", min=1, max=1 << 24, help="Connection pool size.")
    ] = 4096,
    rx_buffers: RxBuffersOption = 0,
    stats_file: Annotated[
        Path | None,
        typer.Option(
            "--stats-file", help="Rewrite this JSON file with the counters twice a second."
        ),
    ] = None,
    mss: MssOption = DEFAULT_MSS,
    cc: Annotated[
        str, typer.Option("--cc", callback=_cc, help="Congestion control: cubic, newreno or bbr.")
    ] = "cubic",
    pacing: Annotated[
        bool,
        typer.Option(
            "--pacing/--no-pacing",
            help="Pace each connection at 2x cwnd/RTT in slow start, 1.2x after.",
        ),
    ] = True,
    rto_min: Annotated[
        int, typer.Option("--rto-min", min=1, max=60000, help="Minimum retransmission timeout, ms.")
    ] = 200,
    idle_timeout: Annotated[
        int, typer.Option("--idle-timeout", min=1, help="Close a connection idle this long, ms.")
    ] = 60000,
    header_timeout: Annotated[
        int,
        typer.Option(
            "--header-timeout",
            min=1,
            help="A request's header must be complete this long after its first byte, ms.",
        ),
    ] = 10000,
    syn_backlog: Annotated[int, typer.Option("--syn-backlog", min=1, help=SYN_BACKLOG_HELP)] = 1024,
    synack_retries: SynackRetriesOption = 5,
    max_conns_per_ip: Annotated[
        int,
        typer.Option(
            "--max-conns-per-ip",
            min=0,
            help="Connections one client address may hold; beyond, its SYNs are reset "
            "(0: no limit).",
        ),
    ] = 0,
    send_timeout: SendTimeoutOption = DEFAULT_SEND_TIMEOUT,
    body_timeout: BodyTimeoutOption = DEFAULT_BODY_TIMEOUT,
    time_wait: Annotated[
        int, typer.Option("--time-wait", min=1, help="How long TIME-WAIT lasts, ms.")
    ] = 60000,
    impair_rx: Annotated[
        str | None, _spec_option("--impair-rx", "Impair the frames the stack receives")
    ] = None,
    impair_tx: Annotated[
        str | None, _spec_option("--impair-tx", "Impair the frames the stack sends")
    ] = None,
    impair_both: Annotated[
        str | None, _spec_option("--impair-both", "Impair both directions alike")
    ] = None,
    seed: SeedOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_port: TlsPortOption = None,
    tls_ticket_key: TlsTicketKeyOption = None,
) -> None:
    """Serve TARGET from the user-space stack until SIGINT or SIGTERM."""
    from ssdk.core.addrs import IPV6_DEFAULT_MSS, has_ipv6

    first, addrs = _serving_addresses(ip)
    if has_ipv6(addrs) and mss == DEFAULT_MSS and not _given(ctx, "mss"):
        mss = IPV6_DEFAULT_MSS  # an IPv6 segment fills the MTU as IPv4's does
    target = _project_target(target)
    from ssdk.serve import ServeOptions
    from ssdk.serve import serve as run
    from ssdk.tools.doctor import BadOption, preflight

    tcp = {
        "cc": CC_NAMES.index(cc),
        "options": TCP_OPTIONS | (PACING_OPTION if pacing else 0),
        "rto_min_ms": rto_min,
        "idle_ms": idle_timeout,
        "header_timeout_ms": header_timeout,
        **_timeouts(send_timeout, body_timeout),
        "syn_backlog": syn_backlog,
        "synack_retries": synack_retries,
        "max_conns_per_ip": max_conns_per_ip,
        "time_wait_ms": time_wait,
        "rx_buffers": rx_buffers,
    }
    rx, tx = _impairments(impair_both, impair_rx, impair_tx, ("--impair-rx", "--impair-tx"))
    if gso == "on":
        from ssdk.serve import gso_refusal

        why = gso_refusal(backend, bool(rx or tx))
        if why is not None:
            raise typer.BadParameter(why, param_hint="--gso")
    pairs = _tls_pairs(tls_cert, tls_key)
    https = _tls_settings(pairs, tls_port, tls_ticket_key, port)
    opts = ServeOptions(
        target=target,
        backend=backend,
        iface=iface,
        queue=queue,
        workers=workers,
        xdp_mode=xdp_mode,
        ip=first,
        addrs=addrs if len(addrs) > 1 else (),
        port=port,
        max_conns=max_conns,
        stats_file=stats_file,
        mss=mss,
        tcp=tcp,
        impair_rx=rx,
        impair_tx=tx,
        impair_seed=seed,
        gso=gso,
        tls_port=https or DEFAULT_TLS_PORT,
    )
    # The certificates are loaded before anything else is checked, so a bad one is a bad
    # argument (exit code 2) wherever serve runs. One TLS server for every worker (they
    # inherit it), freed once they have stopped.
    opts.tls = _tls_server(pairs, tls_ticket_key)
    try:
        # ssdk doctor's checks for this backend: a failure stops serve here, a line each.
        try:
            failed = preflight(opts)
        except BadOption as e:
            raise typer.BadParameter(str(e), param_hint=e.param) from None
        if failed:
            raise typer.Exit(failed)
        from ssdk.tools.rtnl import addresses, addresses6, ethtool_offloads

        code = run(opts, ethtool_offloads, lambda: [*addresses(), *addresses6()])
    finally:
        if opts.tls is not None:
            opts.tls.close()
    raise typer.Exit(code)


@app.command()
def doctor(
    ctx: typer.Context,
    iface: Annotated[
        str | None,
        typer.Option(
            "--iface", help="The interface ssdk would serve on (checked, not required to exist)."
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend", callback=_backend, help="NIC backend: af_packet, af_xdp, tap or netmap."
        ),
    ] = "af_packet",
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=256, help="Engine processes, as serve's --workers."),
    ] = 1,
    queue: Annotated[
        int,
        typer.Option(
            "--queue", min=0, help="af_xdp, netmap: the interface queue of the first worker."
        ),
    ] = 0,
    xdp_mode: Annotated[
        str, typer.Option("--xdp-mode", callback=_xdp_mode, help="af_xdp: auto, native or skb.")
    ] = "auto",
    ip: Annotated[
        list[str] | None,
        typer.Option(
            "--ip",
            callback=_ips,
            help="An address ssdk would serve, A.B.C.D/NN or IPv6 X::Y/NN (the prefix may "
            "be left out); repeat it for more.",
        ),
    ] = None,
    mss: MssOption = DEFAULT_MSS,
    max_conns: Annotated[
        int, typer.Option("--max-conns", min=1, max=1 << 24, help="As serve's --max-conns.")
    ] = 4096,
    syn_backlog: Annotated[
        int, typer.Option("--syn-backlog", min=1, help="As serve's --syn-backlog.")
    ] = 1024,
    synack_retries: SynackRetriesOption = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as JSON, for scripts.")
    ] = False,
) -> None:
    """Check what would stop `ssdk serve` here; each failing check comes with its fix."""
    from ssdk.core.addrs import IPV6_DEFAULT_MSS, parse_address
    from ssdk.tools.doctor import Target, exit_code, format_report, report_json, run_checks

    addrs = tuple(parse_address(a) for a in ip or [])  # checked by _ips
    v6 = any(a.version == 6 for a in addrs)
    if v6 and not _given(ctx, "mss"):
        mss = IPV6_DEFAULT_MSS  # as serve picks it

    target = Target(
        backend=backend,
        iface=iface,
        workers=workers,
        queue=queue,
        xdp_mode=xdp_mode,
        mss=mss,
        addrs=addrs,
        v6=v6,
        max_conns=max_conns,
        syn_backlog=syn_backlog,
        synack_retries=synack_retries,
    )
    results = run_checks(target)
    print(report_json(target, results) if as_json else format_report(target, results))
    raise typer.Exit(exit_code(results))


@app.command()
def stats(
    server: Annotated[
        str | None,
        typer.Argument(
            metavar="[SERVER]",
            help="The serving process's pid, or its counter file; the only one running if "
            "left out.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every counter of every worker once, as JSON.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, max=3600, help="Seconds between two tables.")
    ] = 1.0,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after this many tables.")
    ] = None,
) -> None:
    """Show a running server's counters per worker, live (or once, with --json)."""
    from ssdk.tools.stats import Ambiguous, NoServer, run_stats

    if server is not None and not server.isdigit() and not Path(server).is_file():
        raise typer.BadParameter(
            f"{server!r} is neither a pid nor a counter file", param_hint="SERVER"
        )
    try:
        code = run_stats(server, as_json, interval, count)
    except Ambiguous as e:
        raise typer.BadParameter(str(e), param_hint="SERVER") from None
    except NoServer as e:
        raise Failure(str(e)) from None
    raise typer.Exit(code)


@app.command()
def impair(
    a: Annotated[
        str, typer.Option("--a", metavar="IF_A", callback=_iface, help="One side of the bridge.")
    ],
    b: Annotated[str, typer.Option("--b", metavar="IF_B", callback=_iface, help="The other side.")],
    impair_ab: Annotated[
        str | None, _spec_option("--impair-ab", "Impair the frames from IF_A to IF_B")
    ] = None,
    impair_ba: Annotated[
        str | None, _spec_option("--impair-ba", "Impair the frames from IF_B to IF_A")
    ] = None,
    impair_both: Annotated[
        str | None, _spec_option("--impair-both", "Impair both directions alike")
    ] = None,
    seed: SeedOption = None,
    stats_file: Annotated[
        Path | None,
        typer.Option(
            "--stats-file", help="Rewrite this JSON file with the counters twice a second."
        ),
    ] = None,
) -> None:
    """Bridge IF_A and IF_B through the impairment layer until SIGINT or SIGTERM."""
    # Frames cross unchanged but for the impairment, so any server (nginx, ssdk) can be
    # measured behind the same lossy path; without an impairment it is a plain bridge.
    from ssdk.tools.impair_bridge import BridgeOptions, run_bridge

    if a == b:
        raise typer.BadParameter("IF_A and IF_B must be different interfaces", param_hint="--b")
    ab, ba = _impairments(impair_both, impair_ab, impair_ba, ("--impair-ab", "--impair-ba"))
    opts = BridgeOptions(a=a, b=b, ab=ab, ba=ba, seed=seed, stats_file=stats_file)
    raise typer.Exit(run_bridge(opts))


@app.command()
def demo(
    app_dir: Annotated[Path, typer.Argument(help="The app's folder (holds app.py).")] = Path(
        "examples/hello"
    ),
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Fetch / once from the other namespace, then stop (exit 0 if it came back).",
        ),
    ] = False,
) -> None:
    """Serve an example over a veth pair in namespaces made (and removed) for it."""
    from ssdk.tools.demo import run_demo

    if not (app_dir / "app.py").is_file():
        raise typer.BadParameter(f"{app_dir} holds no app.py", param_hint="APP_DIR")
    raise typer.Exit(run_demo(app_dir, check))


@app.command()
def dev(
    app_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="APP",
            help="The app file; if left out, the one the project's pyproject.toml names, "
            "else app.py in this folder.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to serve on (default: 80 on the TAP device, 8000 through kernel sockets).",
        ),
    ] = None,
    gso: Annotated[
        str,
        typer.Option(
            "--gso",
            callback=_gso,
            help="Super-frames to the kernel over the TAP device: auto and on send them, "
            "off does not; on fails where there is no TAP device (kernel sockets).",
        ),
    ] = "auto",
    synack_retries: SynackRetriesOption = 5,
    send_timeout: SendTimeoutOption = DEFAULT_SEND_TIMEOUT,
    body_timeout: BodyTimeoutOption = DEFAULT_BODY_TIMEOUT,
    rx_buffers: RxBuffersOption = 0,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="HTTPS too, with a self-signed certificate that dev makes in .ssdk/tls/ "
            "(kept while valid) and says how to trust; implied by --tls-cert.",
        ),
    ] = False,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_port: Annotated[
        int | None,
        typer.Option(
            "--tls-port",
            min=1,
            max=65535,
            help="The HTTPS port (default: 443 on the TAP device, 8443 through kernel "
            "sockets); with --tls or certificates only.",
        ),
    ] = None,
    tls_ticket_key: TlsTicketKeyOption = None,
) -> None:
    """Serve APP on this machine over the user-space stack and follow its edits."""
    from ssdk.project import find_project
    from ssdk.tools.dev import DevError, DevTls, GsoRefused, TlsPortClash, run_dev

    if app_file is None:
        project = _project_call(find_project)
        app_file = project.app_file if project is not None else Path("app.py")
    if not app_file.is_file():
        raise typer.BadParameter(f"{app_file} is not a file", param_hint="APP")
    pairs = _tls_pairs(tls_cert, tls_key)
    if not (tls or pairs):  # --tls-port or --tls-ticket-key alone: refused here
        _tls_settings(pairs, tls_port, tls_ticket_key, 0)
    if tls_port is not None and tls_port == port:
        raise typer.BadParameter(
            f"{tls_port} is HTTP's --port too: HTTPS needs a port of its own",
            param_hint="--tls-port",
        )
    https = None
    if tls or pairs:
        if tls_ticket_key is not None and not pairs:  # dev's own certificate: check it here
            _tls_key_file(tls_ticket_key)
        https = DevTls(tls_port, pairs, _tls_server(pairs, tls_ticket_key), tls_ticket_key)
    try:
        code = run_dev(
            app_file,
            port,
            gso,
            {
                "synack_retries": synack_retries,
                "rx_buffers": rx_buffers,
                **_timeouts(send_timeout, body_timeout),
            },
            https,
        )
    except GsoRefused as e:
        raise typer.BadParameter(str(e), param_hint="--gso") from None
    except TlsPortClash as e:
        raise typer.BadParameter(str(e), param_hint="--tls-port") from None
    except DevError as e:
        raise Failure(str(e)) from None
    finally:
        if https is not None and https.server is not None:
            https.server.close()
    raise typer.Exit(code)


@app.command("tls-ticket-key")
def tls_ticket_key(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to write (mode 0600).")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace FILE if it exists (servers still loading the old key no longer "
            "resume sessions the new one issues, nor the other way round).",
        ),
    ] = False,
) -> None:
    """Write a fresh session-ticket key for --tls-ticket-key: servers that load the same
    file resume each other's TLS sessions."""
    from ssdk.core.runtime.tls import TlsError, write_ticket_key

    if file.exists() and not force:
        raise typer.BadParameter(f"{file} exists; --force replaces it", param_hint="FILE")
    try:
        write_ticket_key(file)
    except TlsError as e:
        raise Failure(str(e)) from None
    print(
        f"ssdk: wrote a session-ticket key to {file}: give it to every server with "
        f"--tls-ticket-key {file}"
    )


FleetOption = Annotated[
    Path,
    typer.Option(
        "--fleet", metavar="FILE", help="The fleet file (TOML): its hosts and how to reach them."
    ),
]
CanaryOption = Annotated[
    int,
    typer.Option(
        "--canary", min=1, help="Hosts restarted (and checked) first when the code changes."
    ),
]
BatchOption = Annotated[
    int,
    typer.Option("--batch", min=1, help="Hosts restarted at a time after the canary hosts."),
]


def _fleet(path: Path) -> Fleet:
    """The fleet file, checked; a wrong one is a usage error (one line, exit code 2)."""
    from ssdk.tools.fleet import FleetError, load_fleet

    try:
        return load_fleet(path)
    except FleetError as e:
        raise UsageError(str(e), ctx=click_context()) from None


def _fleet_ticket_key(fleet: Fleet) -> None:
    """Write the fleet's own session-ticket key the first time one is needed (hosts
    with certificates and no tls_ticket_key): one key for every host."""
    from ssdk.tools.fleet import FleetError, make_ticket_key

    try:
        made = make_ticket_key(fleet)
    except FleetError as e:
        raise Failure(str(e)) from None
    if made is not None:
        _say(f"wrote the fleet's session-ticket key to {made} (mode 0600): every host gets it")


def _deploy_call(call: Callable[[], T]) -> T:
    """Run a deploy coroutine's command; its failures are one line with exit code 1."""
    from ssdk.tools.host import DeployError
    from ssdk.tools.release import ReleaseError

    try:
        return call()
    except (DeployError, ReleaseError) as e:
        raise Failure(str(e)) from None


def _say(line: str) -> None:
    print(f"ssdk: {line}", flush=True)


@app.command()
def deploy(
    fleet: FleetOption,
    project: Annotated[
        Path | None,
        typer.Argument(
            metavar="PROJECT",
            help="The project's folder (with [tool.ssdk] in its pyproject.toml); the one "
            "the command runs in if left out.",
        ),
    ] = None,
    canary: CanaryOption = 1,
    batch: BatchOption = 1,
    mss: MssOption = DEFAULT_MSS,
) -> None:
    """Build a release of PROJECT and bring every host of the fleet to it."""
    from ssdk.project import find_project
    from ssdk.tools import deploy as dep
    from ssdk.tools.release import make_release

    hosts = _fleet(fleet)
    if project is not None and not project.is_dir():
        raise typer.BadParameter(f"{project} is not a folder", param_hint="PROJECT")
    found = _project_call(lambda: find_project(project))
    if found is None:
        where = (project or Path.cwd()).resolve()
        raise UsageError(
            f"no pyproject.toml with a [tool.ssdk] table in {where} or above", ctx=click_context()
        )
    first = hosts.hosts[0]
    settings = {(h.health, h.serve) for h in hosts.hosts}
    if len(settings) > 1:
        raise UsageError(
            f"{fleet}: every host must have the same health and serve keys (one release "
            f"for the fleet)",
            ctx=click_context(),
        )
    began = time.monotonic()
    _fleet_ticket_key(hosts)
    rel = _deploy_call(
        lambda: make_release(
            found, health=first.health, serve_args=list(first.serve), mss=mss, log=_say
        )
    )
    _say(f"release {rel.id} (code {rel.code[:8]}) in {time.monotonic() - began:.2f} s")
    _deploy_call(lambda: dep.run(dep.deploy(hosts, rel, canary, batch, _say)))
    _say(f"deployed {rel.id} to {len(hosts.hosts)} hosts in {time.monotonic() - began:.2f} s")


@app.command()
def rollback(
    fleet: FleetOption,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="RELEASE",
            help="The release id (or its first characters); by default the one each host "
            "ran before its current one.",
        ),
    ] = None,
    canary: CanaryOption = 1,
    batch: BatchOption = 1,
) -> None:
    """Bring every host of the fleet back to an earlier release it still holds."""
    from ssdk.tools import deploy as dep

    # A release id is lowercase hex (a sha256); a prefix of digits only is one too.
    if to is not None and not (to and all(ch in "0123456789abcdef" for ch in to)):
        raise typer.BadParameter(f"{to!r} is not a release id", param_hint="--to")
    hosts = _fleet(fleet)
    began = time.monotonic()
    _fleet_ticket_key(hosts)
    rid = _deploy_call(lambda: dep.run(dep.rollback(hosts, to, canary, batch, _say)))
    _say(f"rolled back to {rid} on {len(hosts.hosts)} hosts in {time.monotonic() - began:.2f} s")


@app.command()
def releases(fleet: FleetOption) -> None:
    """Per host: the releases it holds, which is current, which its health route serves."""
    from ssdk.tools import deploy as dep

    rows = _deploy_call(lambda: dep.run(dep.survey(_fleet(fleet), _say)))
    print(dep.format_releases(rows))


@app.command()
def status(fleet: FleetOption) -> None:
    """Per host: its release, what it serves, its process and counters, any deploy lock."""
    from ssdk.tools import deploy as dep

    rows = _deploy_call(lambda: dep.run(dep.survey(_fleet(fleet), _say)))
    print(dep.format_status(rows))


@app.command()
def version() -> None:
    """Print ssdk's version."""
    print(__version__)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _run_one_line(call: Callable[[], object]) -> int:
    """Run the command line; every known failure becomes one line on stderr and an exit
    code: 2 for a bad argument, 1 for a failed build or run, 130 for an abort."""
    from ssdk.core.buildtime.errors import BuildError
    from ssdk.core.bundle import BundleError

    try:
        rv = call()
    except UsageError as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f"{ctx.command_path}: " if ctx else "ssdk: "
        print(f"{hint}error: {_one_line(exc.format_message())}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        print("ssdk: aborted", file=sys.stderr)
        return 130
    except BuildError as exc:
        print(f"ssdk: build failed: {exc}", file=sys.stderr)
        return 1
    except BundleError as exc:
        print(f"ssdk: bad bundle: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except (Failure, OSError, RuntimeError) as exc:
        print(f"ssdk: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    return rv if isinstance(rv, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point (the `ssdk` script): runs the command line, returns the exit code."""
    command = typer.main.get_command(app)
    return int(command.main(args=argv, prog_name="ssdk", standalone_mode=False))

# bench/goals.py: issue 13's goals, judged from the rows of one bench/wrk_vs_nginx.py run
# (and, for "no loss against today", a baseline JSON of an earlier run). Each goal is
# stated with the ratios measured for ssdk-af_xdp and for the best ssdk server of that
# case (named), against the reference the goal names; the stronger nginx (more
# requests/s, lower latency) where it names none. A goal whose rows are missing is "not
# measured"; one whose ratio misses the target is "missed". It reports; it never asserts.
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import fmt

Row = dict[str, Any]
Case = dict[str, Any]

SIZE_TEXT = {"64B": "64 B", "1KiB": "1 KiB", "8KiB": "8 KiB", "64KiB": "64 KiB", "1MiB": "1 MiB"}


def find(rows: list[Row], server: str, size: str, mode: str, conns: int) -> Row | None:
    for r in rows:
        if (r["server"], r["size"], r["mode"], r["conns"]) == (server, size, mode, conns):
            return r
    return None


def value(row: Row | None, key: str) -> float | None:
    v = row.get(key) if row else None
    return float(v) if isinstance(v, int | float) and v > 0 else None


def servers(rows: list[Row], kind: str, size: str, mode: str, conns: int) -> list[Row]:
    """Rows of one workload for the servers whose name starts with ``kind``."""
    return [
        r
        for r in rows
        if r["server"].startswith(kind)
        and (r["size"], r["mode"], r["conns"]) == (size, mode, conns)
    ]


def best(cands: list[Row], key: str, low: bool = False) -> Row | None:
    have = [r for r in cands if value(r, key) is not None]
    if not have:
        return None
    pick: Callable[[Row], float] = lambda r: value(r, key) or 0.0  # noqa: E731
    return min(have, key=pick) if low else max(have, key=pick)


def contenders(
    cands: list[Row], key: str, low: bool = False, also: tuple[str, ...] = ()
) -> list[Row]:
    """ssdk-af_xdp's row, the best ssdk row by ``key`` and the rows of ``also``: each once."""
    out: list[Row] = []
    named = [r for r in cands if r["server"] == "ssdk-af_xdp"]
    top = best(cands, key, low)
    for r in [*named, *([top] if top else []), *(r for r in cands if r["server"] in also)]:
        if r not in out:
            out.append(r)
    return out


def label(row: Row, top: Row | None) -> str:
    return str(row["server"]) + (" (best ssdk)" if row is top else "")


def verdict(ratio: float | None, target: float, at_most: bool = False) -> str:
    if ratio is None:
        return "not measured"
    ok = ratio <= target if at_most else ratio >= target
    return "met" if ok else "missed"


def case(what: str, server: str, ratio: float | None, target: str, ok: str, detail: str) -> Case:
    return {
        "case": what,
        "server": server,
        "ratio": ratio,
        "target": target,
        "verdict": ok,
        "detail": detail,
    }


def ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def goal_pipelined(rows: list[Row]) -> list[Case]:
    out: list[Case] = []
    for conns in (16, 256):
        what = f"1 KiB pipelined, {conns} conns"
        ssdk = servers(rows, "ssdk-", "1KiB", "pipelined", conns)
        ngx = best(servers(rows, "nginx-", "1KiB", "pipelined", conns), "requests_per_s")
        top = best(ssdk, "requests_per_s")
        if not ssdk:
            out.append(case(what, "-", None, ">= 2x", "not measured", "no pipelined rows"))
        for r in contenders(ssdk, "requests_per_s"):
            pipe = value(r, "requests_per_s")
            plain_conns = conns
            plain = find(rows, r["server"], "1KiB", "keepalive", conns)
            if plain is None:
                plain_conns, plain = 16, find(rows, r["server"], "1KiB", "keepalive", 16)
            own = ratio_of(pipe, value(plain, "requests_per_s"))
            out.append(
                case(
                    what,
                    label(r, top),
                    own,
                    ">= 2x its own keep-alive rate",
                    verdict(own, 2.0),
                    f"{fmt(pipe, ',.0f')} req/s pipelined, "
                    f"{fmt(value(plain, 'requests_per_s'), ',.0f')} keep-alive at {plain_conns}",
                )
            )
            vs = ratio_of(pipe, value(ngx, "requests_per_s"))
            out.append(
                case(
                    what,
                    label(r, top),
                    vs,
                    ">= 2x nginx pipelined",
                    verdict(vs, 2.0),
                    f"{fmt(pipe, ',.0f')} req/s against "
                    + (
                        f"{ngx['server']} {fmt(value(ngx, 'requests_per_s'), ',.0f')}"
                        if ngx
                        else "no nginx row"
                    ),
                )
            )
    return out


def goal_p99(rows: list[Row]) -> list[Case]:
    out: list[Case] = []
    key = "latency_p99_us"
    for size in ("8KiB", "64KiB", "1MiB"):
        what = f"{SIZE_TEXT[size]} keep-alive, 256 conns, p99"
        ssdk = servers(rows, "ssdk-", size, "keepalive", 256)
        ngx = best(servers(rows, "nginx-", size, "keepalive", 256), key, low=True)
        top = best(ssdk, key, low=True)
        if not ssdk:
            out.append(case(what, "-", None, "<= 1.5x nginx", "not measured", "no rows"))
        for r in contenders(ssdk, key, low=True):
            ratio = ratio_of(value(r, key), value(ngx, key))
            ref = f"{ngx['server']} {ms(value(ngx, key))}" if ngx else "no nginx row"
            detail = f"{ms(value(r, key))} against {ref}"
            out.append(
                case(what, label(r, top), ratio, "<= 1.5x nginx", verdict(ratio, 1.5, True), detail)
            )
    return out


def ms(us: float | None) -> str:
    return "n/a" if us is None else f"{us / 1000:,.2f} ms"


def goal_gso(rows: list[Row], gso: tuple[str, ...]) -> list[Case]:
    out: list[Case] = []
    for size in ("64KiB", "1MiB"):
        what = f"{SIZE_TEXT[size]} keep-alive, 16 conns"
        ssdk = servers(rows, "ssdk-", size, "keepalive", 16)
        ngx = find(rows, "nginx-offloads-on", size, "keepalive", 16)
        top = best(ssdk, "per_server_core")
        if not ssdk:
            out.append(
                case(what, "-", None, ">= 1.5x nginx-offloads-on", "not measured", "no rows")
            )
        for r in contenders(ssdk, "per_server_core", also=gso):
            core = ratio_of(value(r, "per_server_core"), value(ngx, "per_server_core"))
            out.append(
                case(
                    what,
                    label(r, top),
                    core,
                    ">= 1.5x nginx-offloads-on per server core",
                    verdict(core, 1.5),
                    f"{fmt(value(r, 'per_server_core'), ',.0f')} req per busy core-second "
                    f"against {fmt(value(ngx, 'per_server_core'), ',.0f')}",
                )
            )
            rps = ratio_of(value(r, "requests_per_s"), value(ngx, "requests_per_s"))
            out.append(
                case(
                    what,
                    label(r, top),
                    rps,
                    ">= 1x nginx-offloads-on req/s",
                    verdict(rps, 1.0),
                    f"{fmt(value(r, 'requests_per_s'), ',.0f')} req/s against "
                    f"{fmt(value(ngx, 'requests_per_s'), ',.0f')}",
                )
            )
    return out


def goal_fct(rows: list[Row]) -> list[Case]:
    """Flow completion at one connection. wrk's latency of a keep-alive request at -c1 is
    its completion time; with a new connection per request wrk starts the clock after
    the connection is up, so that half is left to the flow completion benchmark."""
    out: list[Case] = []
    key = "latency_p50_us"
    for size in ("1KiB", "8KiB", "64KiB", "1MiB"):
        what = f"{SIZE_TEXT[size]} keep-alive, 1 conn, p50"
        need = 1.0 if size == "1KiB" else 1.5
        ssdk = servers(rows, "ssdk-", size, "keepalive", 1)
        ngx = best(servers(rows, "nginx-", size, "keepalive", 1), key, low=True)
        top = best(ssdk, key, low=True)
        for r in contenders(ssdk, key, low=True):
            speed = ratio_of(value(ngx, key), value(r, key))
            ref = f"{ngx['server']} {ms(value(ngx, key))}" if ngx else "no nginx row"
            out.append(
                case(
                    what,
                    label(r, top),
                    speed,
                    f">= {need:g}x nginx's speed",
                    verdict(speed, need),
                    f"{ms(value(r, key))} against {ref}",
                )
            )
    if not out:
        out.append(
            case(
                "one connection, 1 KiB to 1 MiB",
                "-",
                None,
                ">= 1.5x nginx (1x at 1 KiB)",
                "not measured",
                "no 1-connection rows in this run (--only conns=1; new-connection flow "
                "completion is not measured by wrk)",
            )
        )
    return out


def goal_no_loss(rows: list[Row], baseline: list[Row] | None, source: str) -> list[Case]:
    """1 KiB keep-alive at 16 connections against a baseline run: requests/s, and the
    ratio to nginx-offloads-off of each run (which takes out what differs between runs
    on this machine); judged by the latter."""
    what = "1 KiB keep-alive, 16 conns, against the baseline"
    if baseline is None:
        return [case(what, "-", None, ">= 1x", "not measured", "no --baseline given")]
    out: list[Case] = []
    ref_now = value(find(rows, "nginx-offloads-off", "1KiB", "keepalive", 16), "requests_per_s")
    ref_then = value(
        find(baseline, "nginx-offloads-off", "1KiB", "keepalive", 16), "requests_per_s"
    )
    ssdk = servers(rows, "ssdk-", "1KiB", "keepalive", 16)
    for r in ssdk:
        then = find(baseline, r["server"], "1KiB", "keepalive", 16)
        if then is None:
            continue
        now_rps, then_rps = value(r, "requests_per_s"), value(then, "requests_per_s")
        rel = ratio_of(ratio_of(now_rps, ref_now), ratio_of(then_rps, ref_then))
        out.append(
            case(
                what,
                r["server"],
                rel,
                ">= 1x the baseline's ratio to nginx-offloads-off",
                verdict(rel, 1.0),
                f"{fmt(now_rps, ',.0f')} req/s now ({fmt(ratio_of(now_rps, ref_now), '.2f')}x "
                f"nginx-offloads-off), {fmt(then_rps, ',.0f')} in {source} "
                f"({fmt(ratio_of(then_rps, ref_then), '.2f')}x)",
            )
        )
    return out or [case(what, "-", None, ">= 1x", "not measured", f"no common rows in {source}")]


def judge(
    rows: list[Row], gso: tuple[str, ...], baseline: list[Row] | None, source: str
) -> list[dict[str, Any]]:
    """Every goal of issue 13 with its cases."""
    return [
        {
            "goal": "pipelined 1 KiB: at least 2x ssdk's own unpipelined rate and at least "
            "2x nginx's pipelined rate",
            "cases": goal_pipelined(rows),
        },
        {
            "goal": "p99 latency at 256 connections for 8 KiB, 64 KiB and 1 MiB: at most "
            "1.5x nginx's",
            "cases": goal_p99(rows),
        },
        {
            "goal": "with GSO, 64 KiB and 1 MiB keep-alive: at least 1.5x nginx with offloads "
            "on per busy server-core second, and not below it in requests/s",
            "cases": goal_gso(rows, gso),
        },
        {
            "goal": "flow completion at one connection: p50 at least 1.5x faster than nginx "
            "from 8 KiB to 1 MiB, and never slower at 1 KiB",
            "cases": goal_fct(rows),
        },
        {
            "goal": "1 KiB keep-alive: no loss against today",
            "cases": goal_no_loss(rows, baseline, source),
        },
    ]


def print_goals(goals: list[dict[str, Any]]) -> None:
    print("\nGoals of issue 13, this run:")
    for g in goals:
        print(f"\n- {g['goal']}")
        for c in g["cases"]:
            ratio = fmt(c["ratio"], ".2f") + "x" if c["ratio"] is not None else "n/a"
            print(
                f"    {c['case']:<34} {c['server']:<35} {ratio:>7}  {c['verdict'].upper():<12}"
                f" ({c['target']}; {c['detail']})"
            )

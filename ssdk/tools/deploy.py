"""`ssdk deploy`, `rollback`, `releases`, `status`: releases onto a fleet over SSH.

cli.deploy -> load_fleet (ssdk/tools/fleet.py) -> make_release (ssdk/tools/release.py)
    -> every host at once (asyncio, asyncssh): connect, take the lock, read its state
       (INVENTORY, run there by its Python), upload what it lacks (the release, and
       its TLS files, which stay in ROOT/tls across releases), install
    -> roll_out: hosts whose server runs the release's code (same `code`) with the same
       serve command (bin/serve's exec line: TLS files, port, workers...): swap the new
       bundle in (SIGHUP, the generation swap: no connection dropped); the others:
       restarted, --canary hosts first, then --batch at a time, each batch checked
       (the health route over HTTP from here answers the new id; `ssdk stats --json`
       over SSH shows the process and its workers) before the next; a failed batch
       puts back every host this run changed, and the run fails
    -> keep the newest `keep` releases, release the lock

What each host holds and the SSH operations on it: ssdk/tools/host.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ssdk.tools.fleet import Fleet
from ssdk.tools.host import (
    DeployError,
    Remote,
    Session,
    State,
    all_hosts,
    check_stats,
    current_of,
    lock_owner,
    prune,
    prune_tls,
    put_back,
    release_locks,
    restart_to,
    serve_line,
    serve_script,
    swap_to,
    take_locks,
    upload,
    upload_tls,
)
from ssdk.tools.release import Release

T = TypeVar("T")


@dataclass
class Plan:
    swap: list[Remote]
    start: list[Remote]  # nothing served: started all at once
    restart: list[list[Remote]]  # in batches, each checked before the next
    same: list[Remote]


def plan(remotes: list[Remote], rid: str, code: str, canary: int, batch: int) -> Plan:
    """Which hosts swap, start, restart (in which batches), or already serve `rid`. A
    host whose serve command changes (Remote.new_command: a new certificate, say) is
    restarted like one whose code changes."""
    p = Plan([], [], [], [])
    running: list[Remote] = []
    for r in remotes:
        s = r.state
        assert s is not None
        new_command = r.new_command()
        if s.serving == rid and s.current == rid and s.pid and not new_command:
            p.same.append(r)
        elif s.pid and s.serving is not None and s.code_of(s.serving) == code and not new_command:
            p.swap.append(r)
        elif not s.pid:
            p.start.append(r)
        else:
            running.append(r)
    first, rest = running[:canary], running[canary:]
    if first:
        p.restart.append(first)
    for i in range(0, len(rest), batch):
        p.restart.append(rest[i : i + batch])
    return p


async def roll_out(
    remotes: list[Remote],
    rid: str,
    code: str,
    serve_args: list[str],
    canary: int,
    batch: int,
    log: Callable[[str], None],
) -> None:
    """Bring every host to `rid` (whose serve options are `serve_args`): swaps together,
    starts together, restarts by batch; on a failure, every host this run changed is put
    back and DeployError raised."""
    for r in remotes:
        r.want_line = serve_line(serve_script(r.host, rid, serve_args))
    p = plan(remotes, rid, code, canary, batch)
    for r in remotes:
        r.before = current_of(r)
    for r in p.same:
        log(f"{r.host.name}: already serves {rid}")
    for r in (r for group in p.restart for r in group):
        s = r.state
        if r.new_command() and s is not None and s.code_of(s.serving) == code:
            log(f"{r.host.name}: its serve command changes (TLS files, port, workers...): "
                f"restarted, not swapped")  # fmt: skip

    async def step(r: Remote, how: Callable[[Remote, str], Awaitable[str]]) -> None:
        log(f"{r.host.name}: {await how(r, rid)}")

    try:
        if p.swap:
            await all_hosts(step(r, swap_to) for r in p.swap)
        if p.start:
            await all_hosts(step(r, restart_to) for r in p.start)
        for n, group in enumerate(p.restart):
            what = "canary" if n == 0 and canary else f"batch {n + (0 if canary else 1)}"
            log(f"{what}: {', '.join(r.host.name for r in group)}")
            await all_hosts(step(r, restart_to) for r in group)
    except DeployError as e:
        changed = [r for r in remotes if r.changed]
        log(f"failed: {e}; putting back {', '.join(r.host.name for r in changed) or 'nothing'}")
        results = await asyncio.gather(*(put_back(r) for r in changed), return_exceptions=True)
        for res in results:
            log(str(res) if not isinstance(res, BaseException) else f"put back failed: {res}")
        raise


# The commands.


async def deploy(
    fleet: Fleet, rel: Release, canary: int, batch: int, log: Callable[[str], None]
) -> None:
    async with Session(fleet, log) as session:
        remotes = session.remotes
        await take_locks(remotes, lock_owner(f"deploy {rel.id}"))
        try:
            await all_hosts(r.inventory() for r in remotes)
            began = time.monotonic()
            await all_hosts(upload(r, rel) for r in remotes)
            await all_hosts(upload_tls(r) for r in remotes)
            for r in remotes:
                log(f"{r.host.name}: {', '.join(r.notes)}")
            log(f"uploaded in {time.monotonic() - began:.2f} s")
            await roll_out(remotes, rel.id, rel.code, list(rel.meta["serve"]), canary, batch, log)
            await all_hosts(prune(r, r.host.keep) for r in remotes)
        finally:
            await release_locks(remotes)


async def rollback(
    fleet: Fleet, to: str | None, canary: int, batch: int, log: Callable[[str], None]
) -> str:
    """Bring the fleet back to `to`, or to the release each host ran before its current
    one (which must be one release for the whole fleet); the release id."""
    async with Session(fleet, log) as session:
        remotes = session.remotes
        await take_locks(remotes, lock_owner(f"rollback {to or ''}".strip()))
        try:
            await all_hosts(r.inventory() for r in remotes)
            targets: dict[str, str] = {}
            for r in remotes:
                s = r.state
                assert s is not None
                target = to or _previous(s)
                if target is None:
                    raise DeployError(f"{r.host.name}: no earlier release to roll back to")
                match = [rid for rid in s.releases if rid.startswith(target)]
                if len(match) != 1:
                    have = ", ".join(sorted(s.releases)) or "none"
                    raise DeployError(f"{r.host.name}: has no release {target} (has: {have})")
                targets[r.host.name] = match[0]
            ids = set(targets.values())
            if len(ids) > 1:
                raise DeployError(
                    "the hosts ran different releases before: "
                    + ", ".join(f"{k} {v}" for k, v in targets.items())
                    + "; name one with --to"
                )
            rid = ids.pop()
            first = remotes[0].state
            assert first is not None
            code = first.code_of(rid)
            # The TLS files are the fleet file's, as its port is: a rollback serves
            # them too (and sends those a host lacks).
            await all_hosts(upload_tls(r) for r in remotes)
            for r in remotes:
                if r.notes:
                    log(f"{r.host.name}: {', '.join(r.notes)}")
            serve_args = list(first.releases[rid].get("serve") or [])
            await roll_out(remotes, rid, code or "", serve_args, canary, batch, log)
            await all_hosts(prune_tls(r) for r in remotes)
            return rid
        finally:
            await release_locks(remotes)


def _previous(s: State) -> str | None:
    """The release active before the current one, by the host's history."""
    for rid in reversed(s.history):
        if rid != s.current and rid in s.releases:
            return rid
    return None


async def survey(fleet: Fleet, log: Callable[[str], None]) -> list[tuple[Remote, str]]:
    """Each host's state (and, where a server runs, its stats line): for `releases`
    and `status`. Reads only; takes no lock."""
    async with Session(fleet, log) as session:

        async def one(r: Remote) -> tuple[Remote, str]:
            await r.inventory()
            try:
                stats = await check_stats(r) if r.state and r.state.pid else "not running"
            except DeployError as e:
                stats = str(e).split(": ", 1)[-1]
            return r, stats

        return await all_hosts(one(r) for r in session.remotes)


def format_releases(rows: list[tuple[Remote, str]]) -> str:
    lines: list[str] = []
    for r, _ in rows:
        s = r.state
        assert s is not None
        lines.append(f"{r.host.name} ({r.host.ssh}, {r.host.root})")
        if not s.releases:
            lines.append("  no releases")
        for rid, meta in sorted(s.releases.items(), key=lambda kv: str(kv[1].get("created"))):
            marks = [m for m, on in (("current", rid == s.current), ("serving", rid == s.serving))
                     if on]  # fmt: skip
            lines.append(
                f"  {rid}  {meta.get('created', '?')}  code {str(meta.get('code'))[:8]}  "
                f"ssdk {meta.get('ssdk_version', '?')}  {' '.join(marks)}".rstrip()
            )
    return "\n".join(lines)


def format_status(rows: list[tuple[Remote, str]]) -> str:
    lines: list[str] = []
    for r, stats in rows:
        s = r.state
        assert s is not None
        serving = s.serving or ("no health answer" if s.pid else "-")
        lock = f"; locked by {s.lock}" if s.lock else ""
        lines.append(
            f"{r.host.name:<12} {r.host.service:<8} current {s.current or '-'}  "
            f"serving {serving}  {stats}{lock}"
        )
    return "\n".join(lines)


def run(coro: Awaitable[T]) -> T:
    """Run one command's coroutine; asyncssh logs nothing to the terminal."""
    import logging

    logging.getLogger("asyncssh").setLevel(logging.CRITICAL)

    async def main() -> T:
        return await coro

    return asyncio.run(main())

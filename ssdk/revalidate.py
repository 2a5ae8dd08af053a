"""Revalidation: pages rendered again while the server runs, and published by hot swap.

ssdk serve (supervisor) -> Revalidator(app, ...) -> tick() every slice:
    pages whose `revalidate=N` seconds have passed, and paths asked for by
    `app.refresh(path)` in a worker (sent up its pipe) -> render those pages again
    -> build the table from the new and the kept responses -> a bundle file in the run
    folder -> Supervisor.publish (each worker swaps it in; responses under way finish
    with the bytes they started with)

Rendering happens in the supervisor, which serves no traffic, so a slow page costs the
workers nothing; they only map the new file. A render that fails keeps the last good
responses and logs why; the page is tried again at its next due time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from ssdk.core.buildtime.build import Concrete, build, render_route
from ssdk.core.buildtime.errors import BuildError
from ssdk.core.bundle import write_bundle
from ssdk.routing.app import App, Route

log = logging.getLogger("ssdk.app")
KEEP_FILES = 4  # bundles kept on disk: workers map them, a few swaps may be in flight


class Revalidator:
    """Keeps the app's responses, re-renders what is due and publishes the result."""

    def __init__(
        self,
        app: App,
        concretes: list[Concrete],
        mss: int,
        folder: Path,
        publish: Callable[[str], None],
        source: str = "",
    ) -> None:
        """`concretes`: the responses the served table was built from."""
        self.app, self.mss, self.folder, self.publish, self.source = (
            app,
            mss,
            folder,
            publish,
            source,
        )
        self.concretes = list(concretes)
        now = time.monotonic()
        self.due: dict[int, float] = {id(r): now + r.revalidate for r in app.routes if r.revalidate}
        self.routes: dict[int, Route] = {id(r): r for r in app.routes}
        self.asked: set[str] = set()
        self.published = 0
        self.files: list[Path] = []

    def active(self) -> bool:
        """Whether there is anything to revalidate at all (pages with revalidate=)."""
        return bool(self.due)

    def wait_s(self, longest: float) -> float:
        """How long the supervisor may sleep before something falls due (at most
        `longest`, at least 5 ms)."""
        if self.asked:
            return 0.005
        soonest = min(self.due.values(), default=time.monotonic() + longest)
        return max(0.005, min(longest, soonest - time.monotonic()))

    def refresh(self, path: str) -> None:
        """Render the page serving `path` at the next tick (app.refresh from a worker)."""
        self.asked.add(path)

    def tick(self, now: float | None = None) -> bool:
        """Render and publish what is due; True if a new table was published."""
        now = time.monotonic() if now is None else now
        todo = {rid for rid, at in self.due.items() if at <= now}
        for path in self.asked:
            owner = next((c.decl for c in self.concretes if c.key == path), None)
            if isinstance(owner, Route):
                todo.add(id(owner))
            else:
                log.warning("refresh(%r): no page serves that path", path)
        self.asked.clear()
        if not todo:
            return False
        for rid in todo:
            route = self.routes[rid]
            if route.revalidate:
                self.due[rid] = now + route.revalidate
        fresh: list[Concrete] = []
        for rid in todo:
            try:
                fresh += render_route(self.app, self.routes[rid], int(time.time()))
            except BuildError as e:
                log.error(
                    "revalidating %s failed; the last good response stays: %s",
                    self.routes[rid].path,
                    e,
                )
                todo = todo - {rid}
        if not todo:
            return False
        kept = [c for c in self.concretes if id(c.decl) not in todo]
        self.concretes = kept + fresh
        manifest, blob = build(self.app, mss=self.mss, source=self.source, concretes=self.concretes)
        self.published += 1
        out = self.folder / f"revalidated-{self.published}.ssdk"
        write_bundle(out, manifest, blob)
        self.files.append(out)
        while len(self.files) > KEEP_FILES:  # a worker's mapping outlives the file's name
            self.files.pop(0).unlink(missing_ok=True)
        self.publish(str(out))
        return True

    def close(self) -> None:
        for p in self.files:
            p.unlink(missing_ok=True)

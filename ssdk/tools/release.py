"""A release: what `ssdk deploy` installs on a host, made here, named by its hashes.

make_release(project, ...) -> app.tar (the project's sources) + ssdk.whl (this ssdk,
`pip wheel`) + app.ssdk (the bundle, with the health route) + release.json

A release id is a hash of what goes in (the sources, the ssdk sources, the build and
serve settings), so the same project deployed twice is the same release, and a host
that has it already is sent nothing. Two ids matter to a host:

- `code`: the app's Python, ssdk itself and the serve options. A release with another
  code needs a fresh process (a running worker keeps the Python it imported).
- `id`: all of it. A release that differs only in content (same `code`) is swapped into
  the running servers by the generation swap, with no connection dropped.

The health route (fleet key `health`) is added to the app at build time as a precomputed
page whose body is the release id, so the stack itself answers it, from the same table
as everything else: a host that answers with the new id serves the new table.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ssdk
from ssdk.project import NOT_SOURCE_DIRS, NOT_SOURCE_SUFFIXES, Project

FORMAT = 1
ID_CHARS = 16
# Never part of a release: what is never a project's source (as `ssdk dev` ignores it),
# and the fleet's SSH keys.
IGNORED_DIRS = NOT_SOURCE_DIRS | {"keys"}
IGNORED_SUFFIXES = NOT_SOURCE_SUFFIXES
CODE_SUFFIXES = (".py",)  # what a running worker has imported; the rest is content
# What a wheel of ssdk is built from; ssdk/templates is a link into the checkout's
# templates/, followed.
WHEEL_TOP = ("pyproject.toml", "setup.py", "README.md")
BUILT_IN_PLACE = ("_core.c", "_core.o")  # the C core built in the checkout, not sources


class ReleaseError(RuntimeError):
    """A release cannot be made here (no ssdk checkout to build a wheel from, a wheel
    that does not build); one line."""


@dataclass(frozen=True)
class Release:
    id: str
    code: str
    folder: Path  # holds app.tar, app.ssdk, ssdk.whl, release.json
    meta: dict[str, Any]

    @property
    def files(self) -> dict[str, str]:
        """Each file of the release -> its sha256."""
        files: dict[str, str] = self.meta["files"]
        return files


def _walk(root: Path) -> list[Path]:
    """Files below root (links to folders followed), sorted, without ignored ones."""
    out: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.endswith(".egg-info"))
        for name in names:
            if not name.endswith(IGNORED_SUFFIXES):
                out.append(Path(folder) / name)
    return sorted(out)


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(files: dict[str, str]) -> str:
    """One hash over relative path -> file hash."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + files[rel].encode() + b"\n")
    return h.hexdigest()


def app_files(root: Path) -> dict[str, str]:
    """The project's files (relative path -> sha256)."""
    return {p.relative_to(root).as_posix(): file_hash(p) for p in _walk(root)}


def ssdk_checkout() -> Path:
    """The source tree the running ssdk comes from, which the wheel is built of."""
    top = Path(ssdk.__file__).resolve().parents[1]
    if not all((top / f).is_file() for f in WHEEL_TOP[:2]):
        raise ReleaseError(
            f"ssdk runs from {top}, which is not a source checkout (no pyproject.toml "
            f"and setup.py): deploy from a checkout of ssdk, so its wheel can be built"
        )
    return top


def ssdk_sources(top: Path) -> dict[str, str]:
    """The files a wheel of ssdk is built from (relative path -> sha256)."""
    files = {f: file_hash(top / f) for f in WHEEL_TOP if (top / f).is_file()}
    for p in _walk(top / "ssdk"):
        rel = p.relative_to(top).as_posix()
        if p.suffix in (".so", ".o") or p.name in BUILT_IN_PLACE:
            continue
        files[rel] = file_hash(p)
    return files


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssdk" / "deploy"


def build_wheel(top: Path, sources: dict[str, str], log: Callable[[str], None] = print) -> Path:
    """ssdk's wheel for these sources, built once (`pip wheel --no-deps`, without build
    isolation: the hosts and this machine may have no index) and kept in the cache."""
    key = tree_hash(sources)[:ID_CHARS]
    out = cache_dir() / "wheels" / key
    done = sorted(out.glob("ssdk-*.whl"))
    if done:
        return done[0]
    log(f"building ssdk's wheel (sources {key}; the C core compiles, once per change)")
    with tempfile.TemporaryDirectory(prefix="ssdk-wheel-") as tmp:
        # A copy of exactly the hashed files: the wheel holds what the hash names, and
        # the checkout gets no build/ or egg-info folder.
        src = Path(tmp) / "src"
        for rel in sources:
            dst = src / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(top / rel, dst)
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        argv += ["--no-index", "-q", "-w", str(Path(tmp) / "whl"), str(src)]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        wheels = sorted((Path(tmp) / "whl").glob("ssdk-*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = " ".join((proc.stderr or proc.stdout).split()[-40:])
            raise ReleaseError(f"pip wheel of {top} failed (exit {proc.returncode}): {tail}")
        out.mkdir(parents=True, exist_ok=True)
        final = out / wheels[0].name
        shutil.copyfile(wheels[0], final.with_suffix(".part"))
        os.replace(final.with_suffix(".part"), final)
    return final


def _tar(root: Path, rels: list[str]) -> bytes:
    """The project's files as a tar with fixed owners and times: the same sources make
    the same bytes, so the same hash."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(rels):
            data = (root / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def release_ids(
    app: dict[str, str], ssdk_src: dict[str, str], settings: dict[str, Any]
) -> tuple[str, str]:
    """(id, code) of a release from its inputs' hashes (see the module's docstring)."""
    code_files = {k: v for k, v in app.items() if k.endswith(CODE_SUFFIXES)}
    code_in = {
        "format": FORMAT,
        "app_code": tree_hash(code_files),
        "ssdk": tree_hash(ssdk_src),
        "serve": settings.get("serve", []),
        "python": sys.version_info[:2],
    }
    code = hashlib.sha256(json.dumps(code_in, sort_keys=True).encode()).hexdigest()
    whole = {"code": code, "app": tree_hash(app), "build": settings}
    rid = hashlib.sha256(json.dumps(whole, sort_keys=True).encode()).hexdigest()
    return rid[:ID_CHARS], code[:ID_CHARS]


def make_release(
    project: Project,
    *,
    health: str,
    serve_args: list[str],
    mss: int,
    out_root: Path | None = None,
    log: Callable[[str], None] = print,
) -> Release:
    """Make (or find, made before) the release of `project` for these settings."""
    from ssdk.core.buildtime.build import build, load_app
    from ssdk.core.bundle import write_bundle
    from ssdk.routing.responses import text

    top = ssdk_checkout()
    src = ssdk_sources(top)
    app = app_files(project.root)
    settings = {"health": health, "mss": mss, "serve": list(serve_args)}
    rid, code = release_ids(app, src, settings)
    folder = (out_root or project.root / ".ssdk" / "releases") / rid
    if (folder / "release.json").is_file():
        meta = json.loads((folder / "release.json").read_text())
        return Release(rid, code, folder, meta)
    wheel = build_wheel(top, src, log)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "app.tar").write_bytes(_tar(project.root, list(app)))
    shutil.copyfile(wheel, tmp / "ssdk.whl")
    # The app, with its health page: a precomputed response whose body is the release id.
    loaded = load_app(project.app)
    try:
        loaded.page(health, cache_control="no-store")(lambda: text(rid + "\n"))
    except ValueError as e:
        raise ReleaseError(f"health route {health}: {e}") from None
    built = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    manifest, blob = build(loaded, mss=mss, source=project.app, build_time=built)
    write_bundle(tmp / "app.ssdk", manifest, blob)
    files = {n: file_hash(tmp / n) for n in ("app.tar", "app.ssdk", "ssdk.whl")}
    meta = {
        "format": FORMAT,
        "id": rid,
        "code": code,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ssdk_version": ssdk.__version__,
        "ssdk_sources": tree_hash(src),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "wheel": wheel.name,
        "app": os.path.relpath(project.app, project.root),
        "app_files": len(app),
        "routes": sum(1 for r in manifest.routes if r.kind != "special"),
        "health": health,
        "mss": mss,
        "serve": list(serve_args),
        "files": files,
    }
    (tmp / "release.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return Release(rid, code, folder, meta)

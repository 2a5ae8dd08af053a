# tests/unit/test_layout.py: the Python packages import one another in one direction
# (docs/architecture.md, "The Python side"), so a worker never carries build code, a build
# never loads the C extension through the runtime, and no serving path depends on tools.
#
# Each module's imports are read from its source (ast), at any depth (inside functions
# too), without importing anything.
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SSDK = Path(__file__).resolve().parents[2] / "ssdk"
FORMATS = ("ssdk.core.cdefs", "ssdk.core.http", "ssdk.core.lower", "ssdk.core.blob",
           "ssdk.core.bundle")  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SSDK.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ssdk_imports(path: Path) -> set[str]:
    """Every ssdk module `path` imports (a `from pkg import name` counts as pkg.name)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ssdk"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ssdk"):
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def modules(*packages: str) -> list[Path]:
    out: list[Path] = []
    for pkg in packages:
        target = SSDK.parent / pkg.replace(".", "/")
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return out


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(
    ("packages", "forbidden"),
    [
        (FORMATS, ("ssdk.core.buildtime", "ssdk.core.runtime", "ssdk.tools", "ssdk.routing")),
        (("ssdk.core.buildtime",), ("ssdk.core.runtime", "ssdk.tools", "ssdk._core")),
        (("ssdk.core.runtime",), ("ssdk.core.buildtime", "ssdk.tools")),
        (("ssdk.serve", "ssdk.workers", "ssdk.revalidate", "ssdk.routing"), ("ssdk.tools",)),
    ],
)
def test_imports_point_one_way(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{module_name(p)} imports {name}"
        for p in modules(*packages)
        for name in sorted(ssdk_imports(p))
        if within(name, forbidden)
    ]
    assert not bad, bad


def test_each_class_name_means_one_thing() -> None:
    seen: dict[str, str] = {}
    twice: list[str] = []
    for p in sorted(SSDK.rglob("*.py")):
        if "templates" in p.relative_to(SSDK).parts:
            continue
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.ClassDef):
                if node.name in seen:
                    twice.append(f"{node.name}: {seen[node.name]} and {module_name(p)}")
                seen.setdefault(node.name, module_name(p))
    assert not twice, twice

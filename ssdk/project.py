"""The project a command runs in: the nearest pyproject.toml with a [tool.ssdk] table.

cli.build / cli.routes / cli.serve / cli.dev (no APP given) -> app_argument
    -> find_project (this folder, then each parent) -> Project.app

`ssdk new` writes the table, so inside a project `ssdk build`, `ssdk routes`,
`ssdk serve` and `ssdk dev` need no APP argument:

    [tool.ssdk]
    app = "app.py"          # the app file, relative to pyproject.toml; "app.py:name"
                            # names the App object when it is not called `app`

A pyproject.toml without the table is not an ssdk project and the search goes on
upwards; one that cannot be read, or whose table is wrong, is an error that names the
file, since a silently ignored setting would serve the wrong app.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Never a project's sources: build output, environments, VCS and tool caches (what
# `ssdk dev` does not watch and a release does not hold).
NOT_SOURCE_DIRS = frozenset(
    {
        ".ssdk",
        ".git",
        ".hg",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "node_modules",
        "site",
        "build",
        "dist",
    }
)
NOT_SOURCE_SUFFIXES = (".ssdk", ".pyc", ".swp", ".tmp", "~")

DEFAULT_APP = "app.py"
KEYS = frozenset({"app"})


class ProjectError(ValueError):
    """The project's configuration is wrong; the message names the file."""


@dataclass(frozen=True)
class Project:
    root: Path  # the folder that holds pyproject.toml
    app: str  # the app file (absolute), with ":name" when the table gives one

    @property
    def app_file(self) -> Path:
        return Path(self.app.split(".py:", 1)[0] + ".py" if ".py:" in self.app else self.app)


def _table(pyproject: Path) -> dict[str, Any] | None:
    """The [tool.ssdk] table of this file, or None when it has none."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError(f"{pyproject}: cannot read it ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ProjectError(f"{pyproject}: not valid TOML ({e})") from None
    tool = data.get("tool")
    table = tool.get("ssdk") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ProjectError(f"{pyproject}: [tool.ssdk] must be a table")
    return table


def _project(pyproject: Path, table: dict[str, Any]) -> Project:
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ProjectError(
            f"{pyproject}: [tool.ssdk] has no setting {unknown[0]!r} "
            f"(known: {', '.join(sorted(KEYS))})"
        )
    app = table.get("app", DEFAULT_APP)
    if not isinstance(app, str) or not app.split(":", 1)[0].endswith(".py"):
        raise ProjectError(
            f"{pyproject}: [tool.ssdk] app = {app!r} is not a .py file (optionally with :name)"
        )
    root = pyproject.parent.resolve()
    project = Project(root, str(root / app))
    if not project.app_file.is_file():
        raise ProjectError(
            f"{pyproject}: [tool.ssdk] app = {app!r}, but {project.app_file} does not exist"
        )
    return project


def find_project(start: Path | None = None) -> Project | None:
    """The project that `start` (default: the working folder) lies in, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _table(pyproject)
            if table is not None:
                return _project(pyproject, table)
    return None


def app_argument(given: str | None, start: Path | None = None) -> str:
    """The APP a command works on: the one given, else the project's. Raises
    ProjectError, in one line, when there is neither."""
    if given is not None:
        return given
    project = find_project(start)
    if project is None:
        where = (start or Path.cwd()).resolve()
        raise ProjectError(
            f"no app given, and no pyproject.toml with a [tool.ssdk] table "
            f"in {where} or above (`ssdk new NAME` makes a project)"
        )
    return project.app

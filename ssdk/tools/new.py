"""`ssdk new`: a new project, copied from one of the templates in ssdk/templates.

The templates are the folders of `templates/` at the root of the repository;
`ssdk/templates` points there in a checkout, and the wheel carries them as package
data, so one path works in a checkout, an editable install and a wheel.

Nothing here asks a question: every choice is an argument, and every refusal is a
NewError naming the argument at fault, which the command reports in one line.
"""

from __future__ import annotations

import importlib.machinery
import keyword
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "templates"  # ssdk/templates

# Written wherever a template names its project (pyproject.toml, README, page titles).
# It is a valid identifier, so template code stays valid Python that ruff can check.
PLACEHOLDER = "__project_name__"

# Files whose text gets the substitution; every other file is copied byte for byte.
TEXT_SUFFIXES = frozenset({".py", ".toml", ".md", ".html", ".css", ".js", ".txt", ".json"})
TEXT_NAMES = frozenset({".gitignore"})

# Left behind by running or installing a template; never part of a new project.
SKIPPED = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache"})

# A distribution name (PEP 508): letters and digits at both ends.
_DIST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Template:
    name: str
    summary: str
    needs: tuple[str, ...] = ()  # the app's own dependencies, besides ssdk


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("minimal", "one page and one JSON route with parameters"),
        Template("site", "a static site: pages, CSS, JavaScript and an image"),
        Template("blog", "Markdown posts rendered into pages, and an index", ("markdown-it-py",)),
    )
}


class NewError(ValueError):
    """A refusal, and the command-line parameter that caused it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Created:
    """A project that was written."""

    name: str
    template: Template
    path: Path
    files: tuple[Path, ...]  # relative to path

    def next_steps(self, cwd: Path | None = None) -> list[tuple[str, str]]:
        """(command, what it does) pairs, starting with the `cd` into the project."""
        where = os.path.relpath(self.path, (cwd or Path.cwd()).resolve())
        if where.startswith(".."):  # outside the working folder: the full path reads better
            where = str(self.path)
        steps = [(f"cd {shlex.quote(where)}", "")]
        if self.template.needs:
            steps.append(("pip install -e .", f"installs {', '.join(self.template.needs)}"))
        steps += [
            ("ssdk build", "every response of app.py, lowered into app.ssdk"),
            ("ssdk dev", "serve it here, rebuilt on every change (as root)"),
            ("pytest", "the project's own tests"),
        ]
        return steps


def _shadowed(name: str) -> str | None:
    """What importable module `name` would shadow, or None."""
    if name in sys.builtin_module_names:
        return "a built-in module"
    if name in sys.stdlib_module_names:
        return "a standard library module"
    # The working folder is left out: the folder about to be made (or an earlier
    # attempt) would otherwise be found as a namespace package of the same name.
    cwd = os.path.realpath(os.getcwd())
    path = [p for p in sys.path if os.path.realpath(p or ".") != cwd]
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
        else:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, None) if find_spec is not None else None
        if spec is not None:
            origin = spec.origin if spec.origin not in (None, "namespace") else None
            if origin is None and spec.submodule_search_locations:
                origin = next(iter(spec.submodule_search_locations), None)
            return f"the installed module at {origin}" if origin else "an installed module"
    return "a module already imported" if name in sys.modules else None


def check_name(name: str) -> None:
    """Refuse a name that cannot be a Python identifier and a distribution name, or that
    would shadow a module the project's code or tools import."""
    if not name.isascii() or not name.isidentifier():
        raise NewError(
            f"{name!r} is not a valid Python identifier (ASCII letters, digits and _, "
            "not starting with a digit)",
            "NAME",
        )
    if keyword.iskeyword(name):
        raise NewError(f"{name!r} is a Python keyword", "NAME")
    if not _DIST_NAME.match(name):
        raise NewError(f"{name!r} must start and end with a letter or a digit", "NAME")
    what = _shadowed(name)
    if what is not None:
        raise NewError(f"{name!r} would shadow {what}; choose another name", "NAME")


def template_files(template: str) -> list[Path]:
    """The files of a template, relative to its folder, sorted."""
    root = TEMPLATE_ROOT / template
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for f in sorted(files):
            if not f.endswith(".pyc"):
                out.append(Path(folder, f).relative_to(root))
    return out


def _is_text(rel: Path) -> bool:
    return rel.suffix in TEXT_SUFFIXES or rel.name in TEXT_NAMES


def new_project(
    name: str, template: str = "minimal", parent: Path | None = None, force: bool = False
) -> Created:
    """Write a new project `name` into `parent` (the working folder by default) from
    `template`. Refuses a non-empty folder unless `force`, which writes the template's
    files over it and leaves any other file as it was."""
    if template not in TEMPLATES:
        raise NewError(
            f"no template {template!r}; choose one of: {', '.join(TEMPLATES)}", "--template"
        )
    check_name(name)
    parent = Path.cwd() if parent is None else parent
    if parent.exists() and not parent.is_dir():
        raise NewError(f"{parent} is not a folder", "--dir")
    target = (parent / name).resolve()
    if target.exists():
        if not target.is_dir():
            raise NewError(f"{target} exists and is not a folder", "NAME")
        if any(target.iterdir()) and not force:
            raise NewError(f"{target} is not empty (--force writes into it)", "NAME")
    files = template_files(template)
    if not files:
        raise NewError(f"template {template!r} has no files in {TEMPLATE_ROOT}", "--template")
    source = TEMPLATE_ROOT / template
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = (source / rel).read_bytes()
        if _is_text(rel):
            data = data.decode("utf-8").replace(PLACEHOLDER, name).encode("utf-8")
        dest.write_bytes(data)
    return Created(name, TEMPLATES[template], target, tuple(files))


def format_created(created: Created, cwd: Path | None = None) -> str:
    """What `ssdk new` prints: what was made, then the commands to run next."""
    steps = created.next_steps(cwd)
    width = max(len(cmd) for cmd, _ in steps)
    lines = [
        f"made {created.name} from the {created.template.name} template "
        f"({created.template.summary}): {len(created.files)} files in {created.path}",
        "",
        "next:",
    ]
    for cmd, what in steps:
        lines.append(f"  {cmd.ljust(width)}  # {what}" if what else f"  {cmd}")
    return "\n".join(lines)

"""`ssdk new`: every refusal is one line with exit code 2, a project is the template with
its name filled in, and each template's project passes its own tests and builds.

The per-template tests run the new project's own pytest suite and `ssdk build` in
subprocesses, from inside the project, with this checkout's ssdk on PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import ssdk.cli
from ssdk.cli import main
from ssdk.core.bundle import read_bundle
from ssdk.tools.new import PLACEHOLDER, TEMPLATE_ROOT, TEMPLATES, check_name, new_project

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_refused(rc: int, err: str, *needles: str) -> None:
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ssdk new: error: ")
    for n in needles:
        assert n in lines[0], lines[0]


def text_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix not in (".png", ".woff")]


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("1blog", "not a valid Python identifier"),
        ("my-blog", "not a valid Python identifier"),
        ("my blog", "not a valid Python identifier"),
        ("blög", "not a valid Python identifier"),
        ("", "not a valid Python identifier"),
        ("class", "Python keyword"),
        ("_blog", "start and end with a letter or a digit"),
        ("blog_", "start and end with a letter or a digit"),
        ("json", "standard library module"),
        ("sys", "built-in module"),
        ("ssdk", "installed module"),
        ("pytest", "installed module"),
        ("typer", "installed module"),
    ],
)
def test_a_bad_or_shadowing_name_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, needle: str
) -> None:
    rc, out, err = run(capsys, "new", name, "--dir", str(tmp_path))
    assert_refused(rc, err, "NAME", needle)
    assert out == "" and list(tmp_path.iterdir()) == []


def test_a_folder_in_the_working_folder_is_not_taken_for_a_module(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty folder of that name is found as a namespace package from the working
    # folder, which sits on sys.path under `python -m`; it must not count as shadowing.
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "shop").mkdir()
    rc, _, err = run(capsys, "new", "shop")
    assert rc == 0, err
    assert (tmp_path / "shop" / "app.py").is_file()


def test_an_unknown_template_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = run(capsys, "new", "shop", "--template", "wiki", "--dir", str(tmp_path))
    assert_refused(rc, err, "--template", "'wiki'", "minimal, site, blog")
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_folder_is_refused_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "notes.txt").write_text("mine")
    rc, _, err = run(capsys, "new", "shop", "--dir", str(tmp_path))
    assert_refused(rc, err, "is not empty", "--force")
    assert [p.name for p in (tmp_path / "shop").iterdir()] == ["notes.txt"]


def test_a_file_in_the_way_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "shop").write_text("a file")
    rc, _, err = run(capsys, "new", "shop", "--dir", str(tmp_path))
    assert_refused(rc, err, "is not a folder")
    rc, _, err = run(capsys, "new", "shop", "--dir", str(tmp_path / "shop"))
    assert_refused(rc, err, "--dir", "is not a folder")


def test_nothing_is_ever_asked() -> None:
    command = typer.main.get_command(ssdk.cli.app)
    new = command.commands["new"]  # type: ignore[attr-defined]
    assert all(not getattr(p, "prompt", None) for p in new.params)


def test_it_runs_with_no_input_at_all(tmp_path: Path) -> None:
    # stdin closed: a prompt would fail or hang (the timeout) instead of finishing.
    done = subprocess.run(
        [sys.executable, "-m", "ssdk", "new", "shop", "--template", "site"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "shop" / "public" / "index.html").is_file()


def test_check_name_accepts_ordinary_names() -> None:
    for name in ("shop", "my_blog", "Site2", "x", "a1_b2"):
        check_name(name)


# --- what is written -------------------------------------------------------------------


def test_the_templates_are_the_folders_of_templates() -> None:
    assert TEMPLATE_ROOT.resolve() == (REPO / "templates").resolve()
    folders = sorted(p.name for p in (REPO / "templates").iterdir() if p.is_dir())
    assert folders == sorted(TEMPLATES)
    for name in TEMPLATES:
        for needed in ("app.py", "pyproject.toml", "README.md", "tests/conftest.py"):
            assert (REPO / "templates" / name / needed).is_file(), (name, needed)


def test_the_test_helpers_are_the_same_in_every_template() -> None:
    for helper in ("tests/served.py", "tests/conftest.py"):
        texts = {(REPO / "templates" / t / helper).read_text() for t in TEMPLATES}
        assert len(texts) == 1, helper


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_a_project_is_its_template_with_the_name_filled_in(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, template: str
) -> None:
    rc, out, err = run(capsys, "new", "shop", "-t", template, "--dir", str(tmp_path))
    assert rc == 0 and err == ""
    project = tmp_path / "shop"
    source = TEMPLATE_ROOT / template
    made = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())
    expected = sorted(
        p.relative_to(source) for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts
    )  # fmt: skip
    assert made == expected
    for f in text_files(project):
        assert PLACEHOLDER not in f.read_text(), f
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "shop"' in pyproject and '"ssdk>=' in pyproject
    for needed in TEMPLATES[template].needs:
        assert f'"{needed}' in pyproject
    assert (project / "README.md").read_text().startswith("# shop\n")
    for binary in (p for p in source.rglob("*") if p.suffix in (".png", ".woff")):
        assert (project / binary.relative_to(source)).read_bytes() == binary.read_bytes()
    assert f"made shop from the {template} template" in out
    steps = out.split("next:\n", 1)[1].splitlines()
    commands = [s.split("#")[0].strip() for s in steps]
    assert commands[0] == f"cd {project}"
    assert commands[-3:] == ["ssdk build", "ssdk dev", "pytest"]
    assert ("pip install -e ." in commands) == bool(TEMPLATES[template].needs)


def test_the_cd_step_is_relative_to_the_working_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run(capsys, "new", "shop", "--dir", "apps/web")
    assert rc == 0
    assert (tmp_path / "apps" / "web" / "shop" / "app.py").is_file()
    assert "\n  cd apps/web/shop\n" in out


def test_force_writes_over_the_template_files_and_keeps_the_others(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    (project / "app.py").write_text("old")
    with pytest.raises(ValueError, match="not empty"):
        new_project("shop", "minimal", tmp_path)
    created = new_project("shop", "minimal", tmp_path, force=True)
    assert (project / "notes.txt").read_text() == "mine"
    assert (project / "app.py").read_text() == (TEMPLATE_ROOT / "minimal" / "app.py").read_text(
    ).replace(PLACEHOLDER, "shop")  # fmt: skip
    assert Path("notes.txt") not in created.files


# --- each template works ---------------------------------------------------------------


def in_project(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, *argv], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_a_new_project_passes_its_own_tests_and_builds(tmp_path: Path, template: str) -> None:
    project = new_project(f"my{template}", template, tmp_path).path
    tests = in_project(project, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    # Inside the project no APP is needed: pyproject.toml's [tool.ssdk] names it.
    built = in_project(project, "-m", "ssdk", "build")
    assert built.returncode == 0, built.stderr
    assert built.stderr == ""  # not a terminal: no progress bar
    with read_bundle(project / "app.ssdk") as bundle:
        paths = {r.path for r in bundle.manifest.routes if r.kind != "special"}
    assert "/" in paths and len(paths) >= 4
    assert f"{len(paths)} paths" in built.stdout

# tests/unit/test_project.py: the project a command runs in (ssdk/project.py). Inside a
# project made by `ssdk new`, build, routes, serve and dev need no APP: the nearest
# pyproject.toml with a [tool.ssdk] table names it. Outside one, and with a wrong table,
# each says in one line what is missing, with exit code 2.
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssdk import __version__
from ssdk.cli import app
from ssdk.project import ProjectError, app_argument, find_project
from ssdk.tools.new import new_project

HELLO_APP = (Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py").read_text()


def write(folder: Path, pyproject: str, app_py: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(pyproject)
    if app_py is not None:
        (folder / "app.py").write_text(app_py)
    return folder


def test_found_from_a_subfolder(tmp_path: Path) -> None:
    root = write(tmp_path / "shop", '[tool.ssdk]\napp = "app.py"\n', HELLO_APP)
    (root / "tests" / "deep").mkdir(parents=True)
    project = find_project(root / "tests" / "deep")
    assert project is not None
    assert project.root == root.resolve()
    assert project.app_file == root.resolve() / "app.py"


def test_a_pyproject_without_the_table_is_passed_over(tmp_path: Path) -> None:
    """A library's pyproject.toml inside the project does not end the search."""
    root = write(tmp_path / "shop", "[tool.ssdk]\n", HELLO_APP)  # app defaults to app.py
    inner = write(root / "lib", '[project]\nname = "lib"\n')
    project = find_project(inner)
    assert project is not None and project.app_file == root.resolve() / "app.py"


def test_the_app_object_may_be_named(tmp_path: Path) -> None:
    root = write(tmp_path / "p", '[tool.ssdk]\napp = "app.py:site"\n', HELLO_APP)
    assert app_argument(None, root) == f"{root.resolve() / 'app.py'}:site"
    assert app_argument("other.py", root) == "other.py"  # what is given wins


def test_none_outside_a_project(tmp_path: Path) -> None:
    write(tmp_path, '[project]\nname = "x"\n')
    assert find_project(tmp_path) is None
    with pytest.raises(ProjectError, match=r"no app given.*\[tool.ssdk\].*ssdk new"):
        app_argument(None, tmp_path)


@pytest.mark.parametrize(
    ("pyproject", "needle"),
    [
        ("[tool.ssdk\n", "not valid TOML"),
        ("[tool]\nssdk = 3\n", "must be a table"),
        ('[tool.ssdk]\napp = "app.py"\nport = 80\n', "no setting 'port'"),
        ('[tool.ssdk]\napp = "app.js"\n', "is not a .py file"),
        ('[tool.ssdk]\napp = "main.py"\n', "does not exist"),
    ],
)
def test_a_wrong_table_names_the_file(tmp_path: Path, pyproject: str, needle: str) -> None:
    write(tmp_path, pyproject, HELLO_APP)
    with pytest.raises(ProjectError) as e:
        find_project(tmp_path)
    assert str(e.value).startswith(f"{tmp_path.resolve() / 'pyproject.toml'}:")
    assert needle in str(e.value)


def one_line_exit_2(argv: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert lines[0].startswith(f"ssdk {argv[0]}: error: ")


@pytest.mark.parametrize(
    "argv",
    [["build"], ["routes"], ["serve", "--iface", "lo", "--ip", "198.18.0.2/15"], ["dev"]],
)
def test_outside_a_project_one_line_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # dev falls back to app.py in the folder, and says so when there is none.
    needle = "app.py is not a file" if argv == ["dev"] else "no app given"
    one_line_exit_2(argv, needle)


def test_a_wrong_table_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[tool.ssdk]\napp = "main.py"\n')
    monkeypatch.chdir(tmp_path)
    for command in ("build", "routes", "dev"):
        one_line_exit_2([command], "does not exist")


def test_inside_a_new_project_no_app_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = new_project("shop", "minimal", tmp_path).path
    (project / "tests").mkdir(exist_ok=True)
    monkeypatch.chdir(project / "tests")  # any folder of the project will do
    runner = CliRunner()
    routes = runner.invoke(app, ["routes"])
    assert routes.exit_code == 0, routes.output
    assert routes.stdout.splitlines()[0].split()[:2] == ["PATH", "KIND"]
    built = runner.invoke(app, ["build"])
    assert built.exit_code == 0, built.output
    assert (project / "app.ssdk").is_file()
    from_bundle = runner.invoke(app, ["routes", str(project / "app.ssdk")])
    assert from_bundle.stdout == routes.stdout


@pytest.mark.parametrize("argv", [["--version"], ["version"]])
def test_version(argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == __version__

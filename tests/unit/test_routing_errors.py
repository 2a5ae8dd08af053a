# tests/unit/test_routing_errors.py: every BuildError case, with its file and line.
#
# Apps are real files (write_app); lines tagged `# @tag` give the expected line numbers.
from __future__ import annotations

from pathlib import Path

import pytest
from unit_helpers import AppWriter, build_error

import ssdk
from ssdk.core.buildtime.build import build, load_app
from ssdk.core.buildtime.errors import BuildError


def assert_at(e: BuildError, path: Path, line: int, route: str, *fragments: str) -> None:
    assert (e.file, e.line, e.route) == (str(path), line, route), str(e)
    assert str(e) == f"{path}:{line}: route '{route}': {e.message}"
    for fragment in fragments:
        assert fragment in e.message, e.message


def test_path_declared_twice(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/x")
        def a(): return "a"
        @app.page("/x")  # @second
        def b(): return "b"
        """
    )
    assert_at(build_error(path), path, at["second"], "/x", "already declared", f"{path}:3")


def test_concrete_paths_collide(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/items/{name}")
        def item(name): return name
        @item.params  # @params
        def _(): yield from [{"name": "a"}, {"name": "b"}]
        @app.page("/items/b")  # @literal
        def b(): return "b"
        """
    )
    assert_at(build_error(path), path, at["literal"], "/items/b", "'/items/b'", "/items/{name}")


def test_params_yield_same_path_twice(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/n/{id:int}")
        def n(id): return str(id)
        @n.params  # @params
        def _(): yield from [{"id": 7}, {"id": "7"}]
        """
    )
    assert_at(build_error(path), path, at["params"], "/n/{id:int}", "'/n/7'")


@pytest.mark.parametrize("static_first", [True, False])
def test_static_file_collides_with_page(write_app: AppWriter, static_first: bool) -> None:
    static = 'app.static("/files", "public")  # @static\n'
    page = '@app.page("/files/a.txt")  # @page\ndef a(): return "a"\n'
    body = static + page if static_first else page + static
    path, at = write_app("import ssdk\napp = ssdk.App()\n" + body)
    (path.parent / "public").mkdir()
    (path.parent / "public" / "a.txt").write_text("file")
    e = build_error(path)
    if static_first:
        assert_at(e, path, at["page"], "/files/a.txt", "static folder '/files'")
    else:
        assert_at(e, path, at["static"], "/files", "'/files/a.txt'", "route '/files/a.txt'")


@pytest.mark.parametrize(
    ("pattern", "values", "fragment"),
    [
        ("/n/{id:int}", '{"id": "abc"}', "does not match"),
        ("/n/{id:int}", '{"id": -1}', "rejected"),
        ("/n/{name}", '{"name": "a/b"}', "does not match"),
        ("/n/{name}", '{"name": ""}', "does not match"),
        ("/n/{name}", "{}", "missing name"),
        ("/n/{name}", '{"name": "a", "other": 1}', "unexpected other"),
        ("/n/{name}", '["a"]', "not a dict"),
        ("/n/{name}", '{"name": ".."}', "'..'"),
    ],
)
def test_params_rejected(write_app: AppWriter, pattern: str, values: str, fragment: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        @app.page("{pattern}")
        def page(**kw): return "x"
        @page.params  # @params
        def _():
            yield {values}
        """
    )
    assert_at(build_error(path), path, at["params"], pattern, fragment)


def test_params_function_raises(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/n/{name}")
        def page(name): return name
        @page.params  # @params
        def _():
            yield {"name": "a"}
            raise KeyError("slugs")  # @raise
        """
    )
    assert_at(build_error(path), path, at["params"], "/n/{name}", "KeyError", "slugs",
              f"{path}:{at['raise']}")  # fmt: skip


def test_params_function_returns_nothing(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/n/{name}")
        def page(name): return name
        @page.params  # @params
        def _():
            pass
        """
    )
    assert_at(build_error(path), path, at["params"], "/n/{name}", "returned NoneType")


def test_handler_raises(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/boom")  # @page
        def boom():
            raise LookupError("no such post")  # @raise
        """
    )
    e = build_error(path)
    assert_at(e, path, at["page"], "/boom", "LookupError", "no such post",
              f"{path}:{at['raise']}")  # fmt: skip
    assert isinstance(e.__cause__, LookupError)


@pytest.mark.parametrize("value", ["42", "None", "(1, 2)", "{1, 2}", "object()"])
def test_handler_returns_unsupported_type(write_app: AppWriter, value: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        @app.page("/bad")  # @page
        def bad():
            return {value}
        """
    )
    assert_at(build_error(path), path, at["page"], "/bad", "handler returned")


def test_async_handler(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/a")  # @page
        async def a(): return "x"
        """
    )
    assert_at(build_error(path), path, at["page"], "/a", "async")


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("/n/{id:nope}", "unknown converter 'nope'"),
        ("items", "must start with '/'"),
        ("", "must start with '/'"),
        ("/n/{a}/{a:int}", "'a' appears twice"),
        ("/n/{a", "unbalanced"),
        ("/n/a}", "unbalanced"),
        ("/n/{}", "needs a name"),
        ("/n/{1x}", "needs a name"),
        ("/n?q=1", "'?'"),
    ],
)
def test_malformed_pattern(write_app: AppWriter, pattern: str, fragment: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        @app.page({pattern!r})  # @page
        def page(**kw): return "x"
        """
    )
    assert_at(build_error(path), path, at["page"], pattern, fragment)


def test_parameters_without_params(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/items/{name}")  # @page
        def item(name): return name
        """
    )
    assert_at(build_error(path), path, at["page"], "/items/{name}", "@item.params")


def test_static_folder_missing(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.static("/files", "nowhere/")  # @static
        """
    )
    assert_at(build_error(path), path, at["static"], "/files", "does not exist", "nowhere")


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ('{"X-Evil": "a\\r\\nSet-Cookie: x=1"}', "invalid value"),
        ('{"Bad Name": "x"}', "invalid header name"),
        ('{"Content-Length": "3"}', "set by ssdk"),
        ('{"Connection": "close"}', "set by ssdk"),
    ],
)
def test_bad_headers(write_app: AppWriter, headers: str, fragment: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        @app.page("/h")  # @page
        def h(): return ssdk.Response("x", headers={headers})
        """
    )
    assert_at(build_error(path), path, at["page"], "/h", fragment)


@pytest.mark.parametrize("status", [99, 100, 600, "'200'"])
def test_bad_status(write_app: AppWriter, status: object) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        @app.page("/s")  # @page
        def s(): return ssdk.Response("x", status={status})
        """
    )
    assert_at(build_error(path), path, at["page"], "/s", "status")


def test_unencodable_json(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/j")  # @page
        def j(): return {"when": object()}
        """
    )
    assert_at(build_error(path), path, at["page"], "/j", "JSON")


@pytest.mark.parametrize(
    "source",
    [
        "import ssdk\napp = ssdk.App()\nraise RuntimeError('nope')  # @fail\n",
        "import ssdk\nx = (\n  1 +\n)  # @fail\n",
        "import ssdk\nimport no_such_module_anywhere  # @fail\n",
        "import ssdk\nfrom helper import value  # @fail\n",
    ],
)
def test_import_failure(write_app: AppWriter, source: str) -> None:
    write_app("value = 1 / 0\n", name="helper.py")
    path, at = write_app(source)
    with pytest.raises(BuildError) as info:
        load_app(path)
    e = info.value
    assert (e.file, e.line) == (str(path), at["fail"]), str(e)
    assert "import failed" in e.message
    assert str(e) == f"{path}:{at['fail']}: route '{e.route}': {e.message}"


def test_syntax_error_line(write_app: AppWriter) -> None:
    path, _ = write_app("import ssdk\n\ndef broken(:\n    pass\n")
    with pytest.raises(BuildError) as info:
        load_app(path)
    assert info.value.line == 3 and "SyntaxError" in info.value.message


def test_load_app_attr(write_app: AppWriter) -> None:
    path, _ = write_app("import ssdk\nsite = ssdk.App()\nsite.page('/')(lambda: 'x')\n")
    assert isinstance(load_app(f"{path}:site"), ssdk.App)
    assert isinstance(load_app(path, "site"), ssdk.App)
    with pytest.raises(BuildError, match="'app' is nothing"):
        load_app(path)
    with pytest.raises(BuildError, match="no such app file"):
        load_app(path.parent / "absent.py")


def test_declaration_never_raises() -> None:
    # Problems are reported by the build, with their location, never at import time.
    app = ssdk.App()
    route = app.page("no-slash/{x:bogus}")(lambda x: x)
    app.static("/s", "/definitely/not/here")
    with pytest.raises(BuildError) as info:
        build(app)
    assert info.value.file == __file__ and info.value.route == "no-slash/{x:bogus}"
    assert route.location.line == info.value.line

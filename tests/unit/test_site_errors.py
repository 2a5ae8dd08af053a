# tests/unit/test_site_errors.py: the build errors of what an app configures beyond its
# pages: error pages, virtual hosts, route and folder headers, the index file, the
# Server value. Each names the file and line of the declaration at fault.
from __future__ import annotations

from pathlib import Path

import pytest
from test_routing_errors import assert_at
from unit_helpers import AppWriter, build_error

import ssdk


def test_error_page_for_a_status_ssdk_does_not_answer(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.error(418)  # @decl
        def teapot(): return "short and stout"
        """
    )
    assert_at(build_error(path), path, at["decl"], "@error(418)", "only these statuses", "404")


def test_error_page_declared_twice(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.error(404)(lambda: "a")
        app.error(404)(lambda: "b")  # @second
        """
    )
    assert_at(build_error(path), path, at["second"], "@error(404)", "already declared")


@pytest.mark.parametrize(
    ("handler", "fragment"),
    [("lambda: 1 / 0", "ZeroDivisionError"), ("lambda: 42", "expected Response"),
     ("lambda: ssdk.html('x', status=500)", "returned status 500"),
     ("lambda: ssdk.html('x', headers={'Server': 'me'})", "set by ssdk itself")],
    ids=["raises", "not-a-response", "other-status", "reserved-header"],
)  # fmt: skip
def test_error_page_handler_problems(write_app: AppWriter, handler: str, fragment: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        app.error(404)({handler})  # @decl
        """
    )
    assert_at(build_error(path), path, at["decl"], "@error(404)", fragment)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [('"example.org:80"', "not a host name"), ('"http://example.org"', "not a host name"),
     ('"exa mple.org"', "not a host name"), ('""', "not a host name")],
    ids=["port", "scheme", "space", "empty"],
)  # fmt: skip
def test_bad_host_names(write_app: AppWriter, names: str, fragment: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        site = app.host({names})  # @decl
        """
    )
    e = build_error(path)
    assert (e.file, e.line) == (str(path), at["decl"]) and fragment in e.message


def test_host_declared_twice(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.host("a.example", "b.example")
        app.host("B.Example.")  # @second
        """
    )
    assert_at(build_error(path), path, at["second"], "host B.Example.", "already declared")


def test_cache_control_given_twice(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/", headers={"cache-control": "no-store"}, cache_control="max-age=1")  # @decl
        def home(): return "hi"
        """
    )
    assert_at(build_error(path), path, at["decl"], "/", "Cache-Control given both")


@pytest.mark.parametrize("name", ["ETag", "Last-Modified", "Content-Range", "Accept-Ranges"])
def test_validators_are_ssdks(write_app: AppWriter, name: str) -> None:
    path, at = write_app(
        f"""
        import ssdk
        app = ssdk.App()
        app.static("/f", ".", headers={{"{name}": "x"}})  # @decl
        """
    )
    assert_at(build_error(path), path, at["decl"], "/f", "set by ssdk itself")


def test_index_is_a_file_name(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.static("/f", ".", index="sub/index.html")  # @decl
        """
    )
    assert_at(build_error(path), path, at["decl"], "/f", "not a file name")


def test_folder_index_collides_with_a_page(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/")
        def home(): return "hi"
        app.static("/", "public")  # @static
        """
    )
    (Path(path).parent / "public").mkdir()
    (Path(path).parent / "public" / "index.html").write_text("x")
    assert_at(build_error(path), path, at["static"], "/", "also served by route '/'")


def test_same_path_on_two_hosts_is_fine(write_app: AppWriter) -> None:
    path, _ = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.page("/")(lambda: "default")
        app.host("a.example").page("/")(lambda: "a")
        """
    )
    from ssdk.core.buildtime.build import build, load_app

    manifest, _ = build(load_app(path))
    rows = [(r.path, r.host) for r in manifest.routes if r.kind == "page"]
    assert rows == [("/", ""), ("/", "a.example")]


@pytest.mark.parametrize("server", ["", " ssdk", "a\nb", "é", 5])
def test_server_value_is_checked(server: object) -> None:
    with pytest.raises(ValueError, match="server="):
        ssdk.App(server=server)  # type: ignore[arg-type]


def test_virtual_hosts_do_not_nest_or_take_dynamic_routes() -> None:
    site = ssdk.App().host("a.example")
    with pytest.raises(TypeError):
        site.host("b.example")
    with pytest.raises(TypeError):
        site.dynamic("/api")

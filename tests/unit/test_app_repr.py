# tests/unit/test_app_repr.py: every declaration has a repr that names what it is, its
# path or status, its handler and where it was declared (what a debugger and a failing
# test print).
from __future__ import annotations

from pathlib import Path

import ssdk


def test_every_declaration_has_a_repr(tmp_path: Path) -> None:
    app = ssdk.App()
    (tmp_path / "public").mkdir()

    @app.page("/items/{name}")
    def item(name: str) -> str:
        return name

    @app.dynamic("/api/echo", methods=["POST"])
    def echo(req: ssdk.Request) -> str:
        return "x"

    @app.error(404)
    def not_found() -> str:
        return "gone"

    app.static("/files", str(tmp_path / "public"))
    here = Path(__file__).name
    texts = {
        "page": repr(app.routes[0]),
        "dynamic": repr(app.dynamics[0]),
        "error": repr(app.errors[0]),
        "static": repr(app.statics[0]),
    }
    assert texts["page"].startswith("<Route '/items/{name}' -> item at ")
    assert texts["dynamic"].startswith("<Dynamic POST '/api/echo' -> echo at ")
    assert texts["error"].startswith("<ErrorPage 404 -> not_found at ")
    assert texts["static"].startswith(f"<Static '/files' -> {str(tmp_path / 'public')!r} at ")
    for text in texts.values():
        assert here in text, text
    assert repr(app).startswith("<App")

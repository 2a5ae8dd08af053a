# The site as the server would serve it (built in memory, see served.py): every file of
# public/ at its path with its content type, the home page at /, and no broken link.
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from served import Site

PUBLIC = Path(__file__).resolve().parents[1] / "public"


def public_paths() -> set[str]:
    return {"/" + p.relative_to(PUBLIC).as_posix() for p in PUBLIC.rglob("*") if p.is_file()}


class Links(HTMLParser):
    """Every local href and src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and value.startswith("/"):
                self.found.append(value)


def test_every_public_file_is_served_and_so_is_the_root(site: Site) -> None:
    assert site.paths == public_paths() | {"/"}


def test_the_root_is_the_home_page(site: Site) -> None:
    root, index = site.get("/"), site.get("/index.html")
    assert root is not None and index is not None
    assert root.status == index.status == 200
    assert root.body == index.body == (PUBLIC / "index.html").read_bytes()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/about.html", "text/html; charset=utf-8"),
        ("/assets/site.css", "text/css; charset=utf-8"),
        ("/assets/site.js", "text/javascript; charset=utf-8"),
        ("/assets/logo.png", "image/png"),
        ("/assets/icons.woff", "font/woff"),
    ],
)
def test_files_are_served_as_they_are(site: Site, path: str, content_type: str) -> None:
    reply = site.get(path)
    assert reply is not None and reply.status == 200
    assert reply.headers["Content-Type"] == content_type
    assert reply.body == (PUBLIC / path.lstrip("/")).read_bytes()


@pytest.mark.parametrize("page", ["/", "/about.html"])
def test_no_broken_links(site: Site, page: str) -> None:
    reply = site.get(page)
    assert reply is not None
    links = Links()
    links.feed(reply.body.decode())
    assert links.found, "the page links to nothing"
    missing = [link for link in links.found if link not in site.paths]
    assert missing == []

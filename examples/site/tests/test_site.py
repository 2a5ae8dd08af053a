# The example site as the server would serve it (built in memory, see served.py): every
# file of public/ at its path with its content type, folder index pages, no broken link
# in a page or the style sheet, every icon a page uses present in the font, images of the
# size the pages give them, and the generated files equal to what make_assets.py makes.
from __future__ import annotations

import io
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from served import PUBLIC, SITE, Site

sys.path.insert(0, str(SITE))
import make_assets  # noqa: E402

PAGES = ["/", "/about.html", "/guide/index.html"]


def public_paths() -> set[str]:
    return {"/" + p.relative_to(PUBLIC).as_posix() for p in PUBLIC.rglob("*") if p.is_file()}


class Page(HTMLParser):
    """A page's local links (href and src) and its images with their given sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[tuple[str, int, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("href", "src"):
            value = a.get(name)
            if value and value.startswith("/"):
                self.links.append(value)
        if tag == "img" and a.get("src"):
            self.images.append((str(a["src"]), int(a["width"] or 0), int(a["height"] or 0)))


def parse(site: Site, path: str) -> tuple[Page, str]:
    reply = site.get(path)
    assert reply is not None and reply.status == 200, path
    text = reply.body.decode("utf-8")
    page = Page()
    page.feed(text)
    return page, text


def test_every_public_file_is_served_and_so_is_the_root(site: Site) -> None:
    """Each file at its path; a folder's index.html also at the folder's path, which
    without its slash redirects there."""
    assert site.paths == public_paths() | {"/", "/guide/", "/guide"}
    assert site.get("/guide").status == 301


def test_the_root_is_the_home_page(site: Site) -> None:
    root, index = site.get("/"), site.get("/index.html")
    assert root is not None and index is not None
    assert root.status == index.status == 200
    assert root.body == index.body == (PUBLIC / "index.html").read_bytes()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/about.html", "text/html; charset=utf-8"),
        ("/guide/index.html", "text/html; charset=utf-8"),
        ("/css/site.css", "text/css; charset=utf-8"),
        ("/js/site.js", "text/javascript; charset=utf-8"),
        ("/img/logo.png", "image/png"),
        ("/img/wave.png", "image/png"),
        ("/img/path.svg", "image/svg+xml"),
        ("/img/icon.svg", "image/svg+xml"),
        ("/fonts/glyphs.woff", "font/woff"),
    ],
)
def test_files_are_served_as_they_are(site: Site, path: str, content_type: str) -> None:
    reply = site.get(path)
    assert reply is not None and reply.status == 200
    assert reply.headers["Content-Type"] == content_type
    assert reply.headers["Content-Length"] == str(len(reply.body))
    assert reply.body == (PUBLIC / path.lstrip("/")).read_bytes()


@pytest.mark.parametrize("path", PAGES)
def test_no_broken_links_in_pages(site: Site, path: str) -> None:
    page, _ = parse(site, path)
    assert len(page.links) >= 5, page.links
    assert [link for link in page.links if link not in site.paths] == []


def test_no_broken_links_in_the_style_sheet(site: Site) -> None:
    reply = site.get("/css/site.css")
    assert reply is not None
    urls = re.findall(r'url\("([^"]+)"\)', reply.body.decode())
    assert sorted(urls) == ["/fonts/glyphs.woff", "/img/wave.png"]
    assert all(url in site.paths for url in urls)


def test_every_icon_a_page_shows_is_in_the_font(site: Site) -> None:
    reply = site.get("/fonts/glyphs.woff")
    assert reply is not None
    font = TTFont(io.BytesIO(reply.body))
    assert font.flavor == "woff"
    cmap = font.getBestCmap()
    used: set[int] = set()
    for path in PAGES:
        _, text = parse(site, path)
        for inner in re.findall(r'<span class="glyph"[^>]*>([^<]*)</span>', text):
            used |= {int(code, 16) for code in re.findall(r"&#x([0-9A-Fa-f]+);", inner)}
    assert used and used <= set(cmap), (sorted(used), cmap)
    glyf = font["glyf"]
    for code in used:  # drawn, not empty
        assert glyf[cmap[code]].numberOfContours > 0, cmap[code]


@pytest.mark.parametrize("path", PAGES)
def test_images_have_the_size_the_page_gives_them(site: Site, path: str) -> None:
    page, _ = parse(site, path)
    assert page.images
    for src, width, height in page.images:
        reply = site.get(src)
        assert reply is not None, src
        if src.endswith(".svg"):
            root = ET.fromstring(reply.body)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
            assert (int(root.attrib["width"]), int(root.attrib["height"])) == (width, height)
        else:
            with Image.open(io.BytesIO(reply.body)) as img:
                assert img.format == "PNG"
                # drawn at twice the size it is shown at, for high-density screens
                assert img.size == (2 * width, 2 * height), (src, img.size)


def test_the_svg_files_are_well_formed(site: Site) -> None:
    for path in ("/img/icon.svg", "/img/path.svg"):
        reply = site.get(path)
        assert reply is not None
        assert ET.fromstring(reply.body).tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize(
    ("name", "make"), [("logo.png", make_assets.make_logo), ("wave.png", make_assets.make_wave)]
)
def test_the_images_are_what_make_assets_draws(name: str, make: object) -> None:
    assert callable(make)
    with Image.open(PUBLIC / "img" / name) as img:
        made = make()
        assert img.mode == made.mode and img.size == made.size
        assert img.tobytes() == made.tobytes()


def test_the_font_is_what_make_assets_builds() -> None:
    committed = TTFont(PUBLIC / "fonts" / "glyphs.woff")
    made = TTFont(io.BytesIO(make_assets.make_font()))
    assert committed.getBestCmap() == made.getBestCmap()
    assert committed.getGlyphOrder() == made.getGlyphOrder()
    for name in made.getGlyphOrder():
        a, b = committed["glyf"][name], made["glyf"][name]
        assert a.getCoordinates(committed["glyf"]) == b.getCoordinates(made["glyf"]), name
    assert committed["name"].getDebugName(1) == make_assets.FONT_FAMILY

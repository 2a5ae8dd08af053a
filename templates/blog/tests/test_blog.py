# The blog as the server would serve it (built in memory, see served.py): a page per
# post with its Markdown rendered, an index that lists them newest first, the CSS.
from __future__ import annotations

import re
import shutil
from pathlib import Path

from served import Site, build_site

PROJECT = Path(__file__).resolve().parents[1]
SLUGS = sorted(p.stem for p in (PROJECT / "posts").glob("*.md"))


def test_a_page_per_post_an_index_and_the_css(site: Site) -> None:
    assert site.paths == {"/", "/static/style.css"} | {f"/posts/{s}" for s in SLUGS}


def test_the_index_lists_every_post_newest_first(site: Site) -> None:
    reply = site.get("/")
    assert reply is not None and reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    linked = re.findall(rb'href="/posts/([^"]+)"', reply.body)
    assert linked == [b"packet-templates", b"hello-world"]


def test_a_post_is_its_markdown_rendered(site: Site) -> None:
    reply = site.get("/posts/packet-templates")
    assert reply is not None and reply.status == 200
    assert b"<h1>How this page is served</h1>" in reply.body
    assert b"<strong>once</strong>" in reply.body
    assert b"<ol>" in reply.body and b"<li>looking the path up in a table,</li>" in reply.body
    assert b'href="/static/style.css"' in reply.body


def test_code_is_rendered_as_code(site: Site) -> None:
    reply = site.get("/posts/hello-world")
    assert reply is not None
    assert b"<pre><code>ssdk build app.py\n</code></pre>" in reply.body
    assert b"<code>posts/</code>" in reply.body


def test_the_css_is_served(site: Site) -> None:
    reply = site.get("/static/style.css")
    assert reply is not None and reply.status == 200
    assert reply.headers["Content-Type"] == "text/css; charset=utf-8"


def test_a_new_post_is_a_new_page(tmp_path: Path) -> None:
    for name in ("app.py", "posts", "public"):
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    (tmp_path / "posts" / "third.md").write_text(
        "---\ntitle: A third post\ndate: 2030-01-01\n---\nNew *here*.\n", encoding="utf-8"
    )
    site = build_site(tmp_path / "app.py")
    reply = site.get("/posts/third")
    assert reply is not None and b"<em>here</em>" in reply.body
    index = site.get("/")
    assert index is not None
    assert re.findall(rb'href="/posts/([^"]+)"', index.body)[0] == b"third"

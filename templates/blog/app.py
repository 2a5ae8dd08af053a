# __project_name__: a blog. Every Markdown file in posts/ becomes a page at
# /posts/<file name>, rendered at build time by markdown-it-py; the index lists them,
# newest first. Add a post, run `ssdk build app.py`, and it is served.
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from markdown_it import MarkdownIt

import ssdk

POSTS = Path(__file__).resolve().parent / "posts"
TITLE = "__project_name__"

app = ssdk.App()
app.static("/static", "public/")  # /static/style.css
markdown = MarkdownIt("commonmark")


@dataclass(frozen=True)
class Post:
    slug: str  # the file name without .md, and the last part of the post's path
    title: str
    date: str  # YYYY-MM-DD
    body: str  # Markdown


def read_post(file: Path) -> Post:
    """A post file: a header of `key: value` lines between two `---` lines (title and
    date), then the Markdown body."""
    text = file.read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    meta = dict(line.split(": ", 1) for line in header.strip().splitlines())
    return Post(file.stem, meta["title"], meta["date"], body)


def all_posts() -> list[Post]:
    """Every post, newest first."""
    posts = [read_post(f) for f in POSTS.glob("*.md")]
    return sorted(posts, key=lambda p: (p.date, p.slug), reverse=True)


def layout(title: str, content: str) -> ssdk.Response:
    return ssdk.html(
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"  <title>{escape(title)}</title>\n"
        '  <link rel="stylesheet" href="/static/style.css">\n</head>\n<body>\n'
        f'  <header><a href="/">{escape(TITLE)}</a></header>\n'
        f"  <main>\n{content}  </main>\n</body>\n</html>\n"
    )


@app.page("/")
def index() -> ssdk.Response:
    items = "".join(
        f'    <li><time>{p.date}</time> <a href="/posts/{quote(p.slug)}">'
        f"{escape(p.title)}</a></li>\n"
        for p in all_posts()
    )
    heading = f"    <h1>{escape(TITLE)}</h1>\n"
    return layout(TITLE, f'{heading}    <ul class="posts">\n{items}    </ul>\n')


# A precomputed-dynamic route: one page per post, for every slug the params function
# yields. Nothing runs per request; a new post needs a new build.
@app.page("/posts/{slug}")
def post(slug: str) -> ssdk.Response:
    p = read_post(POSTS / f"{slug}.md")
    article = f"    <article>\n    <h1>{escape(p.title)}</h1>\n    <time>{p.date}</time>\n"
    return layout(f"{p.title} - {TITLE}", article + markdown.render(p.body) + "    </article>\n")


@post.params
def _() -> Iterator[dict[str, str]]:
    for p in all_posts():
        yield {"slug": p.slug}

# examples/site: a small real site: pages, a style sheet, a script, PNG and SVG images
# and a web font, all below public/ and served as they are. The root URL names no file,
# so a page serves the home page's file there too.
from __future__ import annotations

from pathlib import Path

import ssdk

PUBLIC = Path(__file__).resolve().parent / "public"

app = ssdk.App()
app.static("/", "public/")  # /index.html, /css/site.css, /img/logo.png, ...


@app.page("/")
def home() -> ssdk.Response:
    return ssdk.html((PUBLIC / "index.html").read_text(encoding="utf-8"))

# __project_name__: a static site. Every file below public/ is served as it is, with a
# content type from its extension; the root URL names no file, so a page serves
# index.html there too.
from __future__ import annotations

from pathlib import Path

import ssdk

PUBLIC = Path(__file__).resolve().parent / "public"

app = ssdk.App()
app.static("/", "public/")  # /index.html, /about.html, /assets/site.css, ...


@app.page("/")
def home() -> ssdk.Response:
    return ssdk.html((PUBLIC / "index.html").read_text(encoding="utf-8"))

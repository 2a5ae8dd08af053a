# __project_name__: one page and one JSON route with parameters. `ssdk build app.py`
# renders every response once, ahead of time, and lowers it into packet templates.
from __future__ import annotations

from collections.abc import Iterator

import ssdk

app = ssdk.App()

# The data behind the JSON route: one response is built per colour.
COLOURS = {
    "red": "#d7263d",
    "green": "#1b998b",
    "blue": "#2e86ab",
}


@app.page("/")
def index() -> ssdk.Response:
    links = "\n".join(
        f'    <li><a href="/api/colours/{name}">{name}</a></li>' for name in COLOURS
    )
    return ssdk.html(
        "<!doctype html>\n"
        '<html lang="en">\n'
        '<head><meta charset="utf-8"><title>__project_name__</title></head>\n'
        "<body>\n"
        "  <h1>__project_name__</h1>\n"
        "  <p>Served from packet templates by ssdk. The colours, as JSON:</p>\n"
        f"  <ul>\n{links}\n  </ul>\n"
        "</body>\n"
        "</html>\n"
    )


# A precomputed-dynamic route: rendered once for every set of values that its params
# function yields, here /api/colours/red, /api/colours/green and /api/colours/blue.
@app.page("/api/colours/{name}")
def colour(name: str) -> ssdk.Response:
    return ssdk.json({"name": name, "hex": COLOURS[name]})


@colour.params
def _() -> Iterator[dict[str, str]]:
    for name in COLOURS:
        yield {"name": name}

# examples/hello: the smallest ssdk app: one page, one page per parameter value, and a
# static folder.
from collections.abc import Iterator

import ssdk

app = ssdk.App()
app.static("/files", "public/")


@app.page("/")
def index() -> ssdk.Response:
    return ssdk.html("<h1>hello</h1>")


@app.page("/items/{name}")
def item(name: str) -> ssdk.Response:
    return ssdk.json({"name": name})


@item.params
def _() -> Iterator[dict[str, str]]:
    yield from ({"name": n} for n in ["a", "b", "c"])

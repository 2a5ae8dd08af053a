# examples/api: a small JSON API. The collections are precomputed at build time (one
# response per book, one for the list); search is a dynamic route, called per request
# from the server's loop, over the same data.
from __future__ import annotations

import msgspec

import ssdk


class Book(msgspec.Struct):
    id: int
    title: str
    author: str
    year: int


BOOKS = [
    Book(1, "The Art of Computer Programming", "Donald Knuth", 1968),
    Book(2, "TCP/IP Illustrated", "W. Richard Stevens", 1994),
    Book(3, "Structure and Interpretation of Computer Programs", "Abelson, Sussman", 1985),
    Book(4, "The C Programming Language", "Kernighan, Ritchie", 1978),
    Book(5, "Unix Network Programming", "W. Richard Stevens", 1990),
]

app = ssdk.App()


@app.page("/api/books")
def books() -> ssdk.Response:
    return ssdk.json(BOOKS)


@app.page("/api/books/{id:int}")
def book(id: int) -> ssdk.Response:
    return ssdk.json(next(b for b in BOOKS if b.id == id))


@book.params
def _() -> list[dict[str, int]]:
    return [{"id": b.id} for b in BOOKS]


def search_books(q: str) -> list[Book]:
    words = q.lower().split()
    return [b for b in BOOKS if all(w in f"{b.title} {b.author}".lower() for w in words)]


@app.dynamic("/api/search", methods=["GET", "POST"], max_body=4096)
def search(req: ssdk.Request) -> ssdk.Response:
    """GET /api/search?q=stevens, or POST a JSON body {"q": "..."}."""
    q = req.query.get("q", "")
    if req.method == "POST":
        try:
            q = msgspec.json.decode(req.body, type=dict[str, str]).get("q", "")
        except msgspec.DecodeError:
            return ssdk.json({"error": "the body must be a JSON object of strings"}, 400)
    found = search_books(q)
    return ssdk.json({"q": q, "count": len(found), "books": found})

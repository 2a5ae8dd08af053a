# ssdk/routing/request.py: what a dynamic handler receives.
#
# Owns: Request, Headers (case-insensitive, several values per name) and Query (the
# decoded query string, several values per name).
# Invariants: a Request is built from what the C core has already validated (method
# token, target, header syntax, body framing) and where its parser found each part
# (Request.from_wire); nothing here parses HTTP.
# Names compare case-insensitively (RFC 9110 5.1); values keep their order.
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote


class _MultiMap(Mapping[str, str]):
    """A read-only mapping whose [] and get() give the first value of a name and
    getlist() all of them, in order."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = list(items)
        self._index: dict[str, list[str]] = {}
        for k, v in self._items:
            self._index.setdefault(self._key(k), []).append(v)

    @staticmethod
    def _key(name: str) -> str:
        return name

    def __getitem__(self, name: str) -> str:
        return self._index[self._key(name)][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._index

    def getlist(self, name: str) -> list[str]:
        return list(self._index.get(self._key(name), []))

    def items_all(self) -> list[tuple[str, str]]:
        """Every (name, value) pair as received, names as they were spelled."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(_MultiMap):
    """Request header fields; `req.headers["content-type"]` matches any spelling."""

    @staticmethod
    def _key(name: str) -> str:
        return name.lower()


class Query(_MultiMap):
    """The query string, percent- and plus-decoded: `req.query.get("q", "")`."""

    @classmethod
    def parse(cls, raw: str) -> Query:
        return cls(parse_qsl(raw, keep_blank_values=True))


class WireFields:
    """The header fields of a request's head, as the C parser found them: per field
    line, the offsets of its name and value in the head (struct ssdk_field, four
    uint16: name_off, name_len, value_off, value_len). Decoded when iterated."""

    __slots__ = ("head", "offsets")

    def __init__(self, head: bytes, offsets: bytes) -> None:
        self.head = head
        self.offsets = offsets

    def __iter__(self) -> Iterator[tuple[str, str]]:
        head = self.head
        o = memoryview(self.offsets).cast("H")
        for i in range(0, len(o), 4):
            n, nl, v, vl = o[i], o[i + 1], o[i + 2], o[i + 3]
            yield head[n : n + nl].decode("latin-1"), head[v : v + vl].decode("latin-1")


class Request:
    """One HTTP request handed to a dynamic route by the server's loop. The query and
    the header fields are parsed when first asked for: most handlers read one or none."""

    __slots__ = ("method", "target", "body", "params", "_fields", "_path", "_query", "_headers")

    def __init__(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.target = target  # as on the request line (origin-form)
        self.body = body
        self.params: dict[str, Any] = dict(params) if params else {}
        self._fields = headers
        self._path: str | None = None
        self._query: Query | None = None
        self._headers: Headers | None = None

    @classmethod
    def from_wire(
        cls,
        head: bytes,
        method_len: int,
        target: tuple[int, int],
        fields: bytes,
        body: bytes = b"",
    ) -> Request:
        """The request in `head` where the C parser found its parts: the method is
        head[:method_len], the target (path and query) head[off : off + len] for
        target = (off, len), and `fields` the offsets of each field line (WireFields)."""
        off, n = target
        req = cls(
            head[:method_len].decode("latin-1"),
            head[off : off + n].decode("latin-1"),
            WireFields(head, fields),
            body,
        )
        return req

    @property
    def path(self) -> str:
        """The target's path, percent-decoded."""
        if self._path is None:
            raw = self.target.partition("?")[0]
            self._path = unquote(raw) if "%" in raw else raw
        return self._path

    @property
    def query(self) -> Query:
        if self._query is None:
            self._query = Query.parse(self.target.partition("?")[2])
        return self._query

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self._fields)
        return self._headers

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target!r} body={len(self.body)} bytes>"

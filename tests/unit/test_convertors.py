# tests/unit/test_convertors.py: path converters and pattern parsing.
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ssdk.routing import CONVERTOR_TYPES, Convertor, RouteError, parse_path, register_convertor


def expand(pattern: str, **values: Any) -> tuple[str, dict[str, Any]]:
    return parse_path(pattern).expand(values)


def test_int() -> None:
    assert expand("/n/{id:int}", id="12") == ("/n/12", {"id": 12})
    assert expand("/n/{id:int}", id=12) == ("/n/12", {"id": 12})
    for bad in ("abc", "-1", "1.5", "", " 1"):
        with pytest.raises(RouteError):
            expand("/n/{id:int}", id=bad)
    for bad_value in (-1, True, 1.0, None):
        with pytest.raises(RouteError):
            expand("/n/{id:int}", id=bad_value)


def test_str_is_one_segment() -> None:
    assert expand("/n/{name}", name="hello world") == ("/n/hello world", {"name": "hello world"})
    assert expand("/n/{name:str}", name="x") == ("/n/x", {"name": "x"})
    for bad in ("a/b", "", "/"):
        with pytest.raises(RouteError):
            expand("/n/{name}", name=bad)


def test_path_may_contain_slashes() -> None:
    assert expand("/f/{rest:path}", rest="a/b") == ("/f/a/b", {"rest": "a/b"})
    assert expand("/f/{rest:path}", rest="") == ("/f/", {"rest": ""})


def test_float_and_uuid() -> None:
    assert expand("/p/{x:float}", x=0.1) == ("/p/0.1", {"x": 0.1})
    assert expand("/p/{x:float}", x="2.50") == ("/p/2.50", {"x": 2.5})
    assert expand("/p/{x:float}", x=1e20)[0] == "/p/100000000000000000000"
    with pytest.raises(RouteError):
        expand("/p/{x:float}", x=float("nan"))
    u = uuid.UUID(int=5)
    assert expand("/u/{u:uuid}", u=u) == (f"/u/{u}", {"u": u})
    with pytest.raises(RouteError):
        expand("/u/{u:uuid}", u="not-a-uuid")


def test_match_converts() -> None:
    p = parse_path("/a/{id:int}/{rest:path}")
    assert p.names == ("id", "rest")
    assert p.match("/a/3/x/y") == {"id": 3, "rest": "x/y"}
    assert p.match("/a/x/y") is None
    assert parse_path("/a.b/{n}").match("/aXb/1") is None  # literals are not regexes


def test_every_convertor_round_trips() -> None:
    samples = {"str": "abc", "path": "a/b", "int": "42", "float": "1.5",
               "uuid": "12345678-1234-5678-1234-567812345678"}  # fmt: skip
    for key, text in samples.items():
        conv = CONVERTOR_TYPES[key]
        assert conv.to_string(conv.convert(text)) == text


class SlugConvertor(Convertor[str]):
    regex = "[a-z0-9]+(?:-[a-z0-9]+)*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


@pytest.fixture
def slug() -> Iterator[None]:
    register_convertor("slug", SlugConvertor())
    yield
    del CONVERTOR_TYPES["slug"]


def test_register_convertor(slug: None) -> None:
    assert expand("/p/{s:slug}", s="hello-world")[0] == "/p/hello-world"
    with pytest.raises(RouteError):
        expand("/p/{s:slug}", s="Hello World")
    with pytest.raises(ValueError):
        register_convertor("not a name", SlugConvertor())
    with pytest.raises(TypeError):
        register_convertor("x", object())  # type: ignore[arg-type]


def test_unknown_convertor() -> None:
    with pytest.raises(RouteError, match="unknown converter 'slug'"):
        parse_path("/p/{s:slug}")

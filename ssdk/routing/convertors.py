# ssdk/routing/convertors.py: the path converters behind `{name:type}` in route patterns.
#
# Owns: the Convertor protocol and the registry CONVERTOR_TYPES.
# Invariants: `regex` never matches an empty string unless the type allows empty values
# (only `path` does); `convert(s)` succeeds for every `s` that fully matches `regex`;
# `to_string(convert(s))` gives back a string that matches `regex`.
# Registering a type: subclass Convertor and call register_convertor("name", Instance()).
from __future__ import annotations

import decimal
import math
import uuid
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


class Convertor(Generic[T]):
    """One path parameter type: the text it matches and how to turn it into a value."""

    regex: ClassVar[str] = ""

    def convert(self, value: str) -> T:
        raise NotImplementedError

    def to_string(self, value: T) -> str:
        raise NotImplementedError


class StringConvertor(Convertor[str]):
    """One non-empty path segment: no '/'."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        value = str(value)
        if not value or "/" in value:
            raise ValueError(f"{value!r} is not a single non-empty path segment")
        return value


class PathConvertor(Convertor[str]):
    """The rest of a path; may contain '/' and may be empty."""

    regex = ".*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


class IntegerConvertor(Convertor[int]):
    """A non-negative decimal integer."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        # bool is an int subclass; True in a URL is almost surely a mistake.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{value!r} is not a non-negative integer")
        return str(value)


class FloatConvertor(Convertor[float]):
    """A non-negative decimal number without exponent."""

    regex = r"[0-9]+(\.[0-9]+)?"

    def convert(self, value: str) -> float:
        return float(value)

    def to_string(self, value: float) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number")
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value!r} is not a finite non-negative number")
        # repr is the shortest round-tripping text; Decimal spells out its exponent.
        return format(decimal.Decimal(repr(float(value))), "f")


class UUIDConvertor(Convertor[uuid.UUID]):
    """A UUID in its canonical lowercase hyphenated form."""

    regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: uuid.UUID) -> str:
        if not isinstance(value, uuid.UUID):
            raise ValueError(f"{value!r} is not a uuid.UUID")
        return str(value)


CONVERTOR_TYPES: dict[str, Convertor[Any]] = {
    "str": StringConvertor(),
    "path": PathConvertor(),
    "int": IntegerConvertor(),
    "float": FloatConvertor(),
    "uuid": UUIDConvertor(),
}


def register_convertor(key: str, convertor: Convertor[Any]) -> None:
    """Make `{name:key}` usable in route patterns declared after this call is built."""
    if not key.isidentifier():
        raise ValueError(f"convertor name {key!r} is not an identifier")
    if not isinstance(convertor, Convertor):
        raise TypeError("convertor must be an instance of ssdk.routing.Convertor")
    CONVERTOR_TYPES[key] = convertor

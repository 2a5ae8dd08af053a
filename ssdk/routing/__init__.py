# ssdk/routing: what the developer declares (App, pages, static folders, responses).
# Pure Python; importing it loads no C extension and touches no file.
from ssdk.routing.app import (
    App,
    Dynamic,
    Location,
    PathPattern,
    Route,
    RouteError,
    Static,
    parse_path,
)
from ssdk.routing.convertors import CONVERTOR_TYPES, Convertor, register_convertor
from ssdk.routing.request import Headers, Query, Request
from ssdk.routing.responses import Response, html, json, text

__all__ = [
    "App",
    "CONVERTOR_TYPES",
    "Convertor",
    "Dynamic",
    "Headers",
    "Location",
    "PathPattern",
    "Query",
    "Request",
    "Response",
    "Route",
    "RouteError",
    "Static",
    "html",
    "json",
    "parse_path",
    "register_convertor",
    "text",
]

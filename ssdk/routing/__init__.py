# ssdk/routing: what the developer declares (App, pages, static folders, responses).
# Pure Python; importing it loads no C extension and touches no file.
from ssdk.routing.app import (
    App,
    Dynamic,
    ErrorPage,
    Location,
    PathPattern,
    Route,
    RouteError,
    Static,
    VirtualHost,
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
    "ErrorPage",
    "Headers",
    "Location",
    "PathPattern",
    "Query",
    "Request",
    "Response",
    "Route",
    "RouteError",
    "Static",
    "VirtualHost",
    "html",
    "json",
    "parse_path",
    "register_convertor",
    "text",
]

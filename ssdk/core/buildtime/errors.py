# ssdk/core/buildtime/errors.py: BuildError, the one error a build reports, and how a declaration
# is named in it.
#
# plan.py, build.py -> located(decl, message) -> BuildError
#
# Owns: the file:line and name that every build problem is reported with.
from __future__ import annotations

import traceback

from ssdk.routing.app import ErrorPage, Location, Route, Static, VirtualHost

Decl = Route | Static | ErrorPage | VirtualHost


class BuildError(Exception):
    """A problem in the app, located at the declaration that causes it."""

    def __init__(self, route: str, file: str, line: int, message: str) -> None:
        self.route = route
        self.file = file
        self.line = line
        self.message = message
        super().__init__(f"{file}:{line}: route '{route}': {message}")


def decl_name(decl: Decl) -> str:
    """How a declaration is named in messages: a path, a prefix, an error or a host."""
    if isinstance(decl, Route):
        return decl.path
    if isinstance(decl, Static):
        return decl.prefix
    if isinstance(decl, ErrorPage):
        return f"@error({decl.status})"
    return f"host {decl.names[0] if decl.names else '?'}"


def located(decl: Decl, message: str, where: Location | None = None) -> BuildError:
    """A BuildError at `where`, or at the declaration itself."""
    loc = where or decl.location
    return BuildError(decl_name(decl), loc.file, loc.line, message)


def raised(e: BaseException) -> str:
    """`Type: message (at file:line)`, the line being where it was raised."""
    tb = traceback.extract_tb(e.__traceback__)
    at = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{at}"

# ssdk/core/buildtime/hosts.py: what each host of an app brings to a build: its section number, its
# names, and its error pages.
#
# build.py -> sections (section numbers) -> host_names -> error_pages
#
# Owns: host name syntax and uniqueness, which error statuses an app may give a page for,
# and a virtual host's fallback to its app's pages.
# Invariants: section 0 is the app itself (the default host), section n its n-th virtual
# host; every problem is a BuildError located at the declaration at fault.
from __future__ import annotations

import re

from ssdk.core.buildtime.errors import BuildError, located, raised
from ssdk.core.http import Page, check_headers
from ssdk.routing.app import ERROR_STATUSES, App, ErrorPage, VirtualHost
from ssdk.routing.responses import Response, to_response

# A virtual host's name: a reg-name (RFC 3986 3.2.2) or an IP literal, no port.
_HOST_NAME = re.compile(r"[a-z0-9\-._~!$&'()*+,;=%]+|\[[0-9a-f:.]+\]")


def sections(app: App) -> list[App]:
    """The default host (the app itself), then each virtual host: its section number is
    its place here."""
    return [app, *app.hosts]


def host_names(app: App) -> list[tuple[bytes, int]]:
    """(lower-case name, section) of every virtual host name; a final dot dropped."""
    out: list[tuple[bytes, int]] = []
    seen: dict[str, VirtualHost] = {}
    for n, vhost in enumerate(app.hosts, 1):
        for given in vhost.names:
            name = given.lower().removesuffix(".") if isinstance(given, str) else ""
            if not _HOST_NAME.fullmatch(name):
                raise located(vhost, f"{given!r} is not a host name (no port, no scheme)")
            first = seen.setdefault(name, vhost)
            if first is not vhost or (name.encode(), n) in out:
                raise located(vhost, f"host {name!r} is already declared at {first.location}")
            out.append((name.encode(), n))
    return out


def _page(e: ErrorPage) -> Page:
    """One error page, rendered: the handler's body, content type and headers."""
    try:
        value = e.handler()
    except Exception as x:
        raise located(e, f"handler {e.name}() raised {raised(x)}") from x
    try:
        resp: Response = to_response(value)
    except TypeError as x:
        raise located(e, str(x)) from x
    if resp.status not in (200, e.status):
        raise located(e, f"returned status {resp.status} for the {e.status} page")
    try:
        return Page(resp.body, resp.content_type, tuple(check_headers(resp.headers)))
    except ValueError as x:
        raise located(e, str(x)) from None


def error_pages(app: App) -> dict[int, Page]:
    """The pages of `@app.error(status)` by status; a virtual host's own over its app's."""
    chain = [app.parent, app] if isinstance(app, VirtualHost) else [app]
    pages: dict[int, Page] = {}
    for owner in chain:
        declared: dict[int, ErrorPage] = {}
        for e in owner.errors:
            if isinstance(e.status, bool) or e.status not in ERROR_STATUSES:
                known = ", ".join(map(str, sorted(ERROR_STATUSES)))
                raise located(e, f"ssdk answers only these statuses on its own: {known}")
            first = declared.setdefault(e.status, e)
            if first is not e:
                raise located(
                    e, f"an error page for {e.status} is already declared at {first.location}"
                )
            pages[e.status] = _page(e)
    return pages


__all__ = ["BuildError", "error_pages", "host_names", "sections"]

# The app's routes, built in memory (see served.py): which paths exist, their status
# codes, content types and bodies.
from __future__ import annotations

import json

from served import Site

COLOURS = ("red", "green", "blue")


def test_every_path_is_built(site: Site) -> None:
    assert site.paths == {"/"} | {f"/api/colours/{c}" for c in COLOURS}


def test_the_index_links_every_colour(site: Site) -> None:
    reply = site.get("/")
    assert reply is not None and reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    for c in COLOURS:
        assert f'href="/api/colours/{c}"'.encode() in reply.body


def test_a_colour_is_json(site: Site) -> None:
    reply = site.get("/api/colours/green")
    assert reply is not None and reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body) == {"name": "green", "hex": "#1b998b"}


def test_a_colour_not_in_the_list_is_not_served(site: Site) -> None:
    assert site.get("/api/colours/purple") is None

# tests/net/redbot_check.py: run inside a client namespace by test_net_differential.py.
# Checks one URL with REDbot (the PyPI package `redbot`, used as a library, as its
# redbot_cli does) and prints what it found as JSON: the response's status and fields,
# REDbot's notes on it (each with its level: good, info, warning or bad, and its
# sub-notes), the notes on every asset a page links to (with --assets), and the outcome
# of REDbot's own follow-up requests (conditional, range and content-negotiation checks).
#
#   python redbot_check.py URL [--header "Accept-Encoding: gzip"] [--assets]
from __future__ import annotations

import argparse
import json
import random
import sys
from configparser import ConfigParser
from typing import Any

import thor
from httplint.note import Note
from redbot.resource import HttpResource
from redbot.resource.fetch import RedFetcher


def note_json(note: Note) -> dict[str, Any]:
    return {
        "level": note.level.value,
        "category": note.category.value if note.category else None,
        "summary": str(note.summary),
        "subnotes": [note_json(n) for n in note.subnotes],
    }


def fetch_json(fetcher: RedFetcher) -> dict[str, Any]:
    response = fetcher.response
    return {
        "uri": fetcher.request.uri,
        "status": response.status_code,
        "headers": [list(h) for h in response.headers.text],
        "complete": response.complete,
        "fetch_error": fetcher.fetch_error.desc if fetcher.fetch_error else None,
        "notes": [note_json(n) for n in response.notes],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--header", action="append", default=[], help="Name: value")
    ap.add_argument("--assets", action="store_true", help="check what a page links to")
    args = ap.parse_args()
    random.seed(0)  # the range check picks its range at random
    config = ConfigParser()
    # The server is on a private address of the test's own namespaces.
    config.read_dict({"redbot": {"enable_local_access": "True"}})
    resource = HttpResource(config["redbot"], descend=args.assets)
    headers = [tuple(h.split(": ", 1)) for h in args.header]
    resource.set_request(args.url, headers=headers)

    @thor.events.on(resource)
    def check_done() -> None:
        thor.stop()

    thor.schedule(60, thor.stop)  # a server that never answers must not hang the test
    resource.check()
    thor.run()
    out = fetch_json(resource)
    out["done"] = resource.check_done
    out["checks"] = {
        name: {**fetch_json(sub), "started": sub.fetch_started}
        for name, sub in resource.subreqs.items()
    }
    out["assets"] = [fetch_json(linked) for linked, _tag in resource.linked]
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()

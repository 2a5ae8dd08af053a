# Builds the app in memory, exactly as `ssdk build` does, and answers requests from the
# result by path, as the server would: no network, no root, no bundle file.
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ssdk.core.buildtime.build import build, load_app
from ssdk.core.bundle import Bundle

APP = Path(__file__).resolve().parents[1] / "app.py"


@dataclass
class Reply:
    """A response as the server would send it, split into its parts."""

    status: int
    headers: dict[str, str]
    body: bytes


class Site:
    """Every response of a built app, looked up by request path."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    @property
    def paths(self) -> set[str]:
        """Every path the app serves (percent-encoded, as on the wire)."""
        return {r.path for r in self.bundle.manifest.routes if r.kind != "special"}

    def get(self, path: str) -> Reply | None:
        """The reply to `GET path`, or None where the server would answer 404."""
        index = self.bundle.lookup(path)
        if index is None:
            return None
        head, _, body = self.bundle.stream(index).partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        headers = dict(field.split(": ", 1) for field in fields)
        return Reply(int(status_line.split()[1]), headers, body)


def build_site(app_file: Path = APP) -> Site:
    """Build the app in `app_file` (this project's app.py by default)."""
    manifest, blob = build(load_app(app_file), source=str(app_file))
    return Site(Bundle(manifest, blob))

# ssdk/core/buildtime/tables.py: the tables of a blob as a build fills them (docs/bundle.md): the
# response streams, each route's variants, the route keys, and each host's special
# responses.
#
# build.py -> TableBuilder.specials (per host) -> TableBuilder.route (per path) -> blob.build_blob
#
# Owns: stream indexes, and storing identical special responses once (hosts without
# pages of their own share their app's; the C core counts OPTIONS answers by the index
# of section 0's).
# Invariants: a route's variants are laid in the order lower_response made them
# (identity first); a 206 template names its variant's GET stream as its body.
from __future__ import annotations

from ssdk.core import blob as bl
from ssdk.core.buildtime.variants import Variant
from ssdk.core.bundle import RouteRow
from ssdk.core.http import PAGE_TYPE, SPECIALS, Page
from ssdk.core.lower import nsegments


class TableBuilder:
    """Streams, variants, routes and sections, in the order they are added: the blob's
    tables while a build fills them (a worker's mapped bundles are workers.ServedBundles)."""

    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.streams: list[bl.Stream] = []
        self.variants: list[bl.VariantRow] = []
        self.routes: list[bl.RouteKey] = []
        self.sections: list[dict[int, int]] = []
        self.special_rows: list[RouteRow] = []
        self._shared: dict[bl.Stream, int] = {}

    def add(self, stream: bl.Stream, share: bool = False) -> int:
        """The index of a stream laid in now, or with `share` of an identical one."""
        if share and stream in self._shared:
            return self._shared[stream]
        self.streams.append(stream)
        if share:
            self._shared[stream] = len(self.streams) - 1
        return len(self.streams) - 1

    def specials(self, server: str | None, pages: dict[int, Page]) -> None:
        """One host's special responses (its section); the first host's are the
        manifest's rows."""
        row: dict[int, int] = {}
        for idx, sp in SPECIALS.items():
            header, body, conn_off = sp.rendered(server, pages.get(sp.status))
            sent = b"" if sp.head else body
            flags = bl.RESP_CLOSE if sp.close else 0
            row[idx] = self.add(bl.Stream(header, sent, conn_off, sp.status, flags), True)
            if not self.sections:
                ctype = (
                    (pages[sp.status].content_type if sp.status in pages else PAGE_TYPE)
                    if sp.page
                    else ""
                )
                segs = nsegments(len(header) + len(sent), self.mss)
                self.special_rows.append(
                    RouteRow(sp.name, sp.status, ctype, len(body), segs, "special")
                )
        self.sections.append(row)

    def route(self, section: int, key: bytes, variants: list[Variant]) -> None:
        """A path of a host and the responses of each of its variants."""
        first = len(self.variants)
        for v in variants:
            get, head = self.add(v.get), self.add(v.head)
            not_modified = partial = unsat = bl.NONE32
            if v.not_modified is not None:
                not_modified = self.add(v.not_modified)
            if v.partial is not None and v.unsatisfiable is not None:
                p = v.partial
                partial = self.add(
                    bl.Stream(
                        p.header,
                        b"",
                        p.conn_off,
                        p.status,
                        bl.RESP_RANGE,
                        p.clen_off,
                        p.range_off,
                        get,
                    )
                )
                unsat = self.add(v.unsatisfiable)
            etag = int(v.etag.strip('"'), 16) if v.etag else 0
            self.variants.append(
                bl.VariantRow(
                    v.coding, etag, v.last_modified, get, head, not_modified, partial, unsat
                )
            )
        self.routes.append(bl.RouteKey(section, key, first, len(variants)))

    def blob(self, hosts: list[tuple[bytes, int]]) -> bytes:
        return bl.build_blob(
            self.mss, self.streams, self.routes, self.variants, hosts, self.sections
        )

    def nseg(self) -> int:
        return sum(nsegments(len(s.header) + len(s.body), self.mss) for s in self.streams)

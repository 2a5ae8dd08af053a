# A page re-rendered every 30 ms, each version a different 24 KB body that names its
# version and can be recomputed from it; a page rendered again only when a dynamic
# route asks (app.refresh); and one whose every other render fails.
from __future__ import annotations

import hashlib
import itertools

import ssdk

app = ssdk.App()
versions = itertools.count(1)


def body_of(n: int) -> bytes:
    """Version n's body: its number, then 24,000 bytes that only version n has."""
    seed = hashlib.sha256(str(n).encode()).digest()
    filler = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(750))
    return f"v{n}\n".encode() + filler


@app.page("/live", revalidate=0.03)
def live() -> ssdk.Response:
    return ssdk.Response(body_of(next(versions)))


@app.page("/still")
def still() -> str:
    return "<p>never re-rendered</p>"


on_demand = itertools.count(1)
flaky = itertools.count(1)


@app.page("/on-demand")
def on_demand_page() -> str:
    return f"render {next(on_demand)}"


@app.dynamic("/refresh-on-demand")
def ask_on_demand(req: ssdk.Request) -> str:
    app.refresh("/on-demand")
    return ssdk.text("asked")


@app.page("/flaky", revalidate=0.05)
def flaky_page() -> str:
    n = next(flaky)
    if n > 1 and n % 2 == 0:
        raise RuntimeError(f"render {n} fails")
    return f"good {n}"

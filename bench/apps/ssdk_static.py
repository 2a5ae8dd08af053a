# bench/apps/ssdk_static.py: the precomputed side of bench/dynamic_vs_asgi.py. The same
# JSON answer as bench/apps/ssdk_dynamic.py, rendered once at start-up and served from
# packet templates.
# Run: ssdk serve bench/apps/ssdk_static.py --backend af_packet --iface IFACE --ip CIDR
from __future__ import annotations

import ssdk

app = ssdk.App()


@app.page("/hello-static")
def hello_static() -> ssdk.Response:
    return ssdk.json({"hello": "world"})

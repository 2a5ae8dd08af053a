# bench/apps/ssdk_dynamic.py: the dynamic side of bench/dynamic_vs_asgi.py. One dynamic
# route, called per request from the server's loop, that builds a small JSON answer.
# Run: ssdk serve bench/apps/ssdk_dynamic.py --backend af_packet --iface IFACE --ip CIDR
from __future__ import annotations

import ssdk

app = ssdk.App()


@app.dynamic("/hello")
def hello(req: ssdk.Request) -> ssdk.Response:
    return ssdk.json({"hello": "world"})

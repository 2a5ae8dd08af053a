# tests/net/apps/bodysum.py: a page and a dynamic route that answers a POST with the
# length and sha256 of the body it received, so a client can tell every byte of a large
# request arrived (test_net_offloads.py).
import hashlib

import ssdk

app = ssdk.App()


@app.page("/")
def index() -> ssdk.Response:
    return ssdk.html("<h1>hello</h1>")


@app.dynamic("/sum", methods=["POST"])
def body_sum(req: ssdk.Request) -> ssdk.Response:
    return ssdk.json({"len": len(req.body), "sha256": hashlib.sha256(req.body).hexdigest()})

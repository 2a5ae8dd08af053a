# tests/net/apps/slowpipe.py: slow handlers for pipelined requests (test_net_dynamic.py).
# /slow/N waits at a barrier with the other slow handlers of its batch, which they pass
# only if the worker runs them at once, then sleeps so that a higher N finishes sooner:
# the answers come back in the reverse of the requests' order.
import threading
import time

import ssdk

SLOW = 3  # the slow requests a client sends in one write
barrier = threading.Barrier(SLOW, timeout=10)

app = ssdk.App()


@app.page("/")
def index() -> ssdk.Response:
    return ssdk.html("<h1>between</h1>")


@app.dynamic("/slow/{n:int}", blocking=True)
def slow(req: ssdk.Request) -> ssdk.Response:
    n = req.params["n"]
    barrier.wait()
    time.sleep(0.1 * (SLOW - n))
    return ssdk.text(f"slow {n} " + "x" * (700 * n))

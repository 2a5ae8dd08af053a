# tests/net/keepalive_client.py: run inside the client namespace by test_net_keepalive.py.
# Makes the requests of a plan, in order, over one http.client connection and prints, as
# JSON, what came back and how many TCP connections http.client opened (it reconnects
# silently when a server closes).
from __future__ import annotations

import hashlib
import http.client
import json
import sys


class CountingConnection(http.client.HTTPConnection):
    connects = 0

    def connect(self) -> None:
        CountingConnection.connects += 1
        super().connect()


def main() -> None:
    host, plan = sys.argv[1], json.loads(sys.argv[2])
    conn = CountingConnection(host, 80, timeout=30)
    results = []
    for method, path in plan:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
        results.append(
            {
                "method": method,
                "path": path,
                "status": resp.status,
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "content_length": resp.getheader("Content-Length"),
                "local_port": conn.sock.getsockname()[1] if conn.sock else None,
            }
        )
    conn.close()
    json.dump({"connects": CountingConnection.connects, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()

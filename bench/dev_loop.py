# bench/dev_loop.py: `sudo python3 -m bench.dev_loop [--edits N]`. How long the
# developer's loop takes: from `ssdk new demo --template blog` to the first page served
# by `ssdk dev`, and from saving a post to its new text being served (median and worst of
# N edits). ssdk dev runs in a network namespace made for the run, so its TAP device and
# traffic stay there. Writes bench/results/dev_loop.json. It reports; it never asserts.
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import REPO, RESULTS_DIR
from ssdk.tools.netns import _delete_ns, _new_ns

RESULTS = RESULTS_DIR / "dev_loop.json"


def main() -> int:
    ap = argparse.ArgumentParser(description="time the ssdk new / ssdk dev loop")
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (a network namespace and a TAP device)", file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    ssdk = [sys.executable, "-m", "ssdk"]
    ns = f"ssdk-devloop-{os.getpid()}-0"
    with tempfile.TemporaryDirectory(prefix="ssdk-devloop-") as tmp_s:
        tmp = Path(tmp_s)
        _new_ns(ns)
        dev = None
        try:
            t0 = time.monotonic()
            subprocess.run([*ssdk, "new", "demo", "--template", "blog", "--dir", str(tmp)],
                           env=env, cwd=tmp, check=True, capture_output=True)  # fmt: skip
            proj = tmp / "demo"
            argv = ["ip", "netns", "exec", ns, *ssdk, "dev"]
            dev = subprocess.Popen(argv, cwd=proj, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
            lines: list[str] = []
            ready = threading.Event()

            def pump() -> None:
                assert dev is not None and dev.stdout is not None
                for line in dev.stdout:
                    lines.append(line)
                    if "ready:" in line:
                        ready.set()

            threading.Thread(target=pump, daemon=True).start()
            if not ready.wait(120):
                print("ssdk dev did not start:\n" + "".join(lines), file=sys.stderr)
                return 1
            m = re.search(r"ready: (\S+)", "".join(lines))
            assert m is not None
            url = m.group(1).rstrip("/") + "/posts/hello-world"

            def fetch() -> str:
                argv = ["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "5", url]
                return subprocess.run(argv, capture_output=True, text=True).stdout

            while "<h1>" not in fetch():
                time.sleep(0.02)
            first_page = time.monotonic() - t0
            post = proj / "posts" / "hello-world.md"
            base = post.read_text()
            waits = []
            for i in range(args.edits):
                marker = f"edit-{i}-{time.time_ns()}"
                post.write_text(base + f"\n{marker}\n")
                saved = time.monotonic()
                while marker not in fetch():
                    time.sleep(0.02)
                waits.append(time.monotonic() - saved)
                time.sleep(0.3)  # a developer does not save twice in a debounce window
        finally:
            if dev is not None:
                dev.terminate()
                dev.wait(30)
            _delete_ns(ns)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "new_to_first_page_s": round(first_page, 3),
        "save_to_served_s": {"median": round(statistics.median(waits), 3),
                             "max": round(max(waits), 3), "min": round(min(waits), 3),
                             "all": [round(w, 3) for w in waits]},  # fmt: skip
        "edits": args.edits,
        "how": "ssdk new demo --template blog; ssdk dev in a network namespace; curl polls "
               "the post every 20 ms until the saved text is served",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"ssdk new -> first page: {first_page:.2f} s")
    print(f"save -> served, {args.edits} edits: median {statistics.median(waits):.2f} s, "
          f"min {min(waits):.2f} s, max {max(waits):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# tests/net/test_net_browser.py: headless Chromium (Debian's `chromium`) in a client
# namespace loads each page of examples/site from ssdk (its own stack, AF_PACKET) and
# from nginx serving the same folder, takes a 1024x768 screenshot of each, and the two
# must be equal pixel for pixel. The page's own script reports, in the DOM, whether all
# its images and its web font loaded; that report is checked too, so two equally broken
# renderings cannot pass.
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from sitepair import SitePair, require_tool, site_pair

from ssdk.tools.netns import Topology, ns_exec

pytestmark = pytest.mark.net

PAGES = ["/", "/about.html", "/guide/index.html"]
SIZE = (1024, 768)
# What the page's script writes into data-assets once everything has loaded.
REPORT = re.compile(r"images (\d+)/(\d+), font (\w+), files (\d+)/(\d+)")


@pytest.fixture(scope="module")
def both(net_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SitePair]:
    require_tool("chromium")
    with site_pair(tmp_path_factory.mktemp("browser"), "web") as pair:
        yield pair


def chromium(
    topo: Topology, workdir: Path, path: str, *mode: str
) -> subprocess.CompletedProcess[str]:
    """Chromium, headless, in the client namespace of ``topo``, with a profile of its own;
    ``mode`` is --screenshot=FILE or --dump-dom. The virtual time budget lets the page's
    fonts, images and scripts finish before the screenshot or the dump."""
    profile = workdir / f"profile-{len(list(workdir.glob('profile-*')))}"
    argv = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--force-device-scale-factor=1", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}", f"--window-size={SIZE[0]},{SIZE[1]}",
        "--virtual-time-budget=10000", *mode, f"http://{topo.server_ip}{path}",
    ]  # fmt: skip
    proc = subprocess.run(ns_exec(topo.client_ns, argv), capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def screenshot(topo: Topology, workdir: Path, path: str, name: str) -> Image.Image:
    out = workdir / f"{name}.png"
    chromium(topo, workdir, path, f"--screenshot={out}")
    assert out.is_file(), f"chromium wrote no screenshot of {path}"
    with Image.open(out) as img:
        return img.convert("RGB")


@pytest.mark.parametrize("path", PAGES)
def test_the_page_loads_whole_from_ssdk(both: SitePair, tmp_path: Path, path: str) -> None:
    dom = chromium(both.ssdk.topo, tmp_path, path, "--dump-dom").stdout
    assert '<p id="summary" class="ran">' in dom, f"the page's script did not run:\n{dom[:3000]}"
    m = re.search(r'data-assets="([^"]*)"', dom)
    assert m is not None, f"the page's script did not report what loaded:\n{dom[:3000]}"
    report = REPORT.fullmatch(m.group(1))
    assert report is not None, m.group(1)
    shown, images, font, ok, fetched = report.groups()
    assert shown == images and int(images) >= 1, m.group(1)
    assert font == "loaded", m.group(1)
    # the style sheet, the script, the font and the background at least
    assert ok == fetched and int(fetched) >= 4, m.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_ssdk_and_nginx_render_the_same_pixels(both: SitePair, tmp_path: Path, path: str) -> None:
    name = path.strip("/").replace("/", "-") or "home"
    ours = screenshot(both.ssdk.topo, tmp_path, path, f"{name}-ssdk")
    theirs = screenshot(both.nginx.topo, tmp_path, path, f"{name}-nginx")
    assert ours.size == theirs.size == SIZE
    box = ImageChops.difference(ours, theirs).getbbox()
    assert box is None, f"{path}: the screenshots differ within {box} (both are in {tmp_path})"

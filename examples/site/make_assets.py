# examples/site/make_assets.py: writes the site's binary files, so that each can be made
# again from here: the PNG images (Pillow) and the web font (fontTools), a four-glyph
# icon font saved as WOFF. The SVG files are written by hand and live in public/img/.
#
#   python make_assets.py            # rewrites public/img/*.png and public/fonts/*.woff
from __future__ import annotations

import io
import math
from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw

PUBLIC = Path(__file__).resolve().parent / "public"

# The icon font: code point -> glyph name. Every glyph is drawn on a 1000-unit em.
GLYPHS = {0x2192: "arrow", 0x25A0: "packet", 0x25CF: "dot", 0x21BB: "again"}
FONT_FAMILY = "Site Glyphs"
EM = 1000
ADVANCE = 1000
# The font's head.created and head.modified (seconds since 1904-01-01): fixed, so that
# the same script writes the same bytes.
FONT_TIME = 3786825600  # 2024-01-01T00:00:00Z


def _polygon(pen: TTGlyphPen, points: list[tuple[float, float]]) -> None:
    pen.moveTo(_round(points[0]))
    for p in points[1:]:
        pen.lineTo(_round(p))
    pen.closePath()


def _round(p: tuple[float, float]) -> tuple[int, int]:
    return (round(p[0]), round(p[1]))


def _circle(
    cx: float, cy: float, r: float, n: int = 32, clockwise: bool = True
) -> list[tuple[float, float]]:
    """A polygon of ``n`` points on a circle; clockwise for an outer contour (TrueType)."""
    step = (-1 if clockwise else 1) * 2 * math.pi / n
    return [(cx + r * math.cos(step * i), cy + r * math.sin(step * i)) for i in range(n)]


def _draw(name: str) -> TTGlyphPen:
    pen = TTGlyphPen(None)
    if name == "packet":  # a square with a header band cut out of it
        _polygon(pen, [(100, 0), (100, 800), (900, 800), (900, 0)])
        _polygon(pen, [(180, 560), (820, 560), (820, 720), (180, 720)])
    elif name == "arrow":
        _polygon(pen, [(80, 320), (80, 480), (560, 480), (560, 680), (920, 400),
                       (560, 120), (560, 320)])  # fmt: skip
    elif name == "dot":
        _polygon(pen, _circle(500, 400, 330))
    elif name == "again":  # a ring (outer clockwise, inner counter-clockwise)
        _polygon(pen, _circle(500, 400, 360))
        _polygon(pen, _circle(500, 400, 220, clockwise=False))
    # ".notdef" and "space" stay empty
    return pen


def make_font() -> bytes:
    """The icon font as WOFF bytes."""
    order = [".notdef", "space", *GLYPHS.values()]
    fb = FontBuilder(EM, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({0x20: "space", **GLYPHS})
    fb.setupGlyf({name: _draw(name).glyph() for name in order})
    fb.setupHorizontalMetrics({name: (ADVANCE if name != "space" else 300, 0) for name in order})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": FONT_FAMILY, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    fb.setupPost()
    fb.setupHead(unitsPerEm=EM, created=FONT_TIME, modified=FONT_TIME)
    font: TTFont = fb.font
    font.flavor = "woff"
    font.recalcTimestamp = False  # keep head.modified as set above
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def make_logo() -> Image.Image:
    """A 96x96 logo: three stacked segments on a rounded tile."""
    img = Image.new("RGBA", (96, 96), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, 95, 95), radius=18, fill=(29, 39, 49, 255))
    for i, color in enumerate([(46, 134, 171), (241, 143, 1), (199, 62, 29)]):
        top = 20 + i * 20
        d.rectangle((18, top, 77, top + 13), fill=(*color, 255))
        d.rectangle((18, top, 29, top + 13), fill=(255, 255, 255, 255))
    return img


def make_wave() -> Image.Image:
    """A 320x40 band of sine waves (the page's header background)."""
    img = Image.new("RGB", (320, 40), (234, 242, 247))
    d = ImageDraw.Draw(img)
    for k, color in enumerate([(46, 134, 171), (162, 200, 220)]):
        pts = [(x, 20 + (12 - 5 * k) * math.sin((x + 40 * k) / 16)) for x in range(321)]
        d.line(pts, fill=color, width=3)
    return img


def write_all() -> list[Path]:
    """Write every generated file below public/; return their paths."""
    written = []
    for name, image in (("logo.png", make_logo()), ("wave.png", make_wave())):
        path = PUBLIC / "img" / name
        image.save(path, format="PNG", optimize=True)
        written.append(path)
    font = PUBLIC / "fonts" / "glyphs.woff"
    font.write_bytes(make_font())
    written.append(font)
    return written


if __name__ == "__main__":
    for p in write_all():
        print(f"wrote {p.relative_to(PUBLIC.parent)} ({p.stat().st_size} bytes)")

# examples/site: a small real site: pages, a style sheet, a script, PNG and SVG images
# and a web font, all below public/ and served as they are. A folder's index.html is also
# served at the folder's path (/ and /guide/), and /guide redirects to /guide/.
from __future__ import annotations

import ssdk

app = ssdk.App()
app.static("/", "public/")  # /index.html, /css/site.css, /img/logo.png, ...

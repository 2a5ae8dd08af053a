# __project_name__: a static site. Every file below public/ is served as it is, with a
# content type from its extension; a folder's index.html is served at the folder's path
# too (so public/index.html is the root URL), and text files are also stored compressed.
from __future__ import annotations

import ssdk

app = ssdk.App()
app.static("/", "public/")  # /, /index.html, /about.html, /assets/site.css, ...

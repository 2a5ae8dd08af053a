# ssdk: web services on their own user-space TCP/IP stack, declared like a Flask app.
# Importing ssdk stays light: no C extension, no msgspec, no I/O (build and serve tools
# import ssdk.core themselves).
from ssdk.routing import App, Request, Response, html, json, text

__version__ = "0.1.0"

__all__ = ["App", "Request", "Response", "__version__", "html", "json", "text"]

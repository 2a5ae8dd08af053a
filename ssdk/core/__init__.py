"""ssdk.core: HTTP serialization, lowering to segment templates, the bundle format and
the build that ties them together."""

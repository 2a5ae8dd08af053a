"""ssdk.core.buildtime: the build pipeline, everything `ssdk build` runs.

cli.build -> build.build_file -> load_app -> build.build
    -> hosts.sections -> plan.plan (every path) -> render -> variants.lower_response
    -> tables.TableBuilder -> blob.build_blob -> bundle.write_bundle
    -> report (summary, progress, `ssdk routes`)

It also runs inside `ssdk serve` in two places that are builds too: an app given to
serve instead of a bundle is built in memory before the workers start, and the
supervisor re-renders revalidated pages (ssdk/revalidate.py). Nothing here loads the C
extension (the layouts come from the headers, ssdk/core/cdefs.py), and nothing here runs
in a worker's serving loop; a problem is always a BuildError (errors.py) located at the
declaration at fault.

(buildtime, not build: tools take a folder called build/ for output and skip it, as
.gitignore and ruff's default exclusions do.)
"""

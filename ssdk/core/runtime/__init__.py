"""ssdk.core.runtime: what runs while a bundle is served, in each worker.

worker -> engine.Engine (cffi binding of the C core: backends, tables, the loop)
       -> app_calls.AppCalls -> dynamic.Dispatcher (dynamic routes, called from C)
       -> counters.Board (each worker's counters in shared memory; `ssdk stats` reads it)
       -> impair.Impairment (the lossy path a backend may be wrapped in)
counters.find_boards, ssdk stats, tools/netns -> procs.pid_alive (is a pid still running)

Importing engine loads the compiled C core and checks it matches the sources; impair.py
does not import it, so the CLI can check an impairment spec before it loads anything.
Nothing here imports ssdk.core.buildtime: a bundle is all a worker needs, and the app's
module only for its dynamic routes.
"""

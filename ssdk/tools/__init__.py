"""ssdk.tools: the commands around the server, each run by a person beside or before it.

cli.new    -> new.py (a project from templates/)
cli.dev    -> dev.py (rebuild on save, serve on a TAP; without one kernel_serve.py)
cli.demo   -> demo.py (an app on one end of a veth pair, curl on the other)
cli.doctor -> doctor/ -> rtnl.py (netlink, SIOCETHTOOL)   (serve runs its checks too)
cli.stats  -> stats.py (reads the counter board, never the server)
cli.impair -> impair_bridge.py (a lossy bridge between two interfaces)
tests/, bench/, demo, dev -> netns.py (every namespace, veth pair and TAP ssdk makes)

None of it is on a worker's serving path: serve.py and workers.py import nothing from
here, so what is here may use subprocesses, watchfiles or `ip` freely. doctor/ and
rtnl.py read the system without changing it, and serve calls them once before it starts.
It sits outside ssdk/core, which holds what an app becomes (core/buildtime/) and how it
is served (core/runtime/); tools use both, and neither uses tools.
"""

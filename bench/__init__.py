"""ssdk's benchmarks, run from the repository's root as `python3 -m bench.<name>` (root).

bench.wrk_vs_nginx    static files against nginx, wrk (docs/performance.md)
bench.loss_vs_nginx   one download behind a lossy bridge, against nginx
bench.loss_sweep      loss x RTT x size against the kernel, and a shared bottleneck
bench.fct             flow completion time at one connection, against nginx
bench.dynamic_vs_asgi dynamic routes against uvicorn and granian
bench.dev_loop        `ssdk new` to first page, and save to new page, under `ssdk dev`
bench.many_conns      10k to 1M idle connections: memory per connection, against nginx
bench.plot            PNGs in docs/img/ from bench/results/wrk_vs_nginx.json
bench.common          what more than one of them uses
bench.lab             the lossy-path lab of bench.loss_vs_nginx and bench.loss_sweep
bench.parclient       N parallel downloads, one client process of --bottleneck
bench.cpu             /proc/stat and process CPU time, for bench.wrk_vs_nginx
bench.kernel_net      RPS and TCP congestion control in bench.wrk_vs_nginx's namespaces
bench.goals           issue 13's goals judged from bench.wrk_vs_nginx's rows
bench.connload        builds and runs bench/connload, many TCP connections from raw frames

A package, so they share bench/common.py by import and find the checkout's ssdk as the
current directory's, with no sys.path edits. They report; none of them asserts.
"""

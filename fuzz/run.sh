#!/usr/bin/env bash
# fuzz/run.sh SECONDS: builds the fuzzers, makes their route table and seeds, and runs
# fuzz_frames, fuzz_http and fuzz_tls for SECONDS each. Exits non-zero if any finds a
# crash or a sanitizer or harness check reports; the input that did it is kept as
# fuzz/artifacts/<fuzzer>-crash-<sha1> (see docs/testing.md for replaying and
# minimizing it).
#
#   fuzz/run.sh 30        (CI)
#   fuzz/run.sh 600       (a longer local run; the corpus in fuzz/corpus/ grows across runs)
#
# Needs clang and libFuzzer (apt-get install clang libclang-rt-14-dev llvm-14), and the
# Python side of ssdk with scapy (pip install -e '.[test]').
set -euo pipefail
secs="${1:?usage: fuzz/run.sh SECONDS}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/build"
"$here/build.sh"

# The table: a small app with pages, a file of one segment, one of four and one that
# outruns the initial window, a page and a file stored gzip- and br-coded too, a folder
# with an index, an error page and a virtual host, built by ssdk's own build (pure
# Python, no C extension) at a fixed time from fixed bytes.
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" python3 -c '
import os, random, shutil, sys, tempfile
from pathlib import Path
import ssdk
from ssdk.core.buildtime.build import DEFAULT_MSS, build
files = Path(tempfile.mkdtemp(prefix="ssdk-fuzz-"))
rng = random.Random(1)  # fixed: the same table, and so the same coverage, every run
(files / "docs").mkdir()
(files / "small.txt").write_text("hello\n")
(files / "mid.bin").write_bytes(rng.randbytes(5000))
(files / "big.bin").write_bytes(rng.randbytes(30000))
(files / "page.html").write_text("<p>a page of a folder</p>\n" * 40)
(files / "docs" / "index.html").write_text("<h1>docs</h1>\n")
for f in files.rglob("*"):
    os.utime(f, (1_600_000_000, 1_600_000_000))
text = " ".join(f"w{(i * 7919) % 613}" for i in range(4000))  # codes to several segments
app = ssdk.App()
app.page("/")(lambda: ssdk.html("<h1>hello</h1>"))
app.page("/about")(lambda: ssdk.html("<p>about</p>" * 10))
app.page("/text", cache_control="max-age=60")(lambda: ssdk.text(text))
app.static("/files", files)
app.error(404)(lambda: ssdk.html("<p>no such page</p>"))
app.host("example.org", "www.example.org").page("/")(lambda: ssdk.text("example\n"))
_, blob = build(app, mss=DEFAULT_MSS, build_time=1_700_000_000)
Path(sys.argv[1]).write_bytes(blob)
shutil.rmtree(files)
' "$out/table.bin"
rm -rf "$out/seeds"
python3 "$here/make_seeds.py" "$out/seeds"
# fuzz_tls's seeds (fuzz/fuzz_tls.c says what the bytes mean), records the harness seals:
# TLS 1.3 AES-128-GCM, a request, a KeyUpdate asking for ours, close_notify; data, a
# KeyUpdate and data again in pieces of 3, 5, 17... bytes; TLS 1.2 ChaCha20-Poly1305,
# data and a fatal alert.
mkdir -p "$out/seeds/tls"
printf '\x08\x17\x12GET / HTTP/1.1\r\n\r\n\x16\x05\x18\x00\x00\x01\x01\x15\x02\x01\x00' \
    >"$out/seeds/tls/tls13-keyupdate"
printf '\x28\x17\x05hello\x16\x05\x18\x00\x00\x01\x00\x17\x02hi' >"$out/seeds/tls/tls13-split"
printf '\x0e\x17\x04ping\x15\x02\x02\x28' >"$out/seeds/tls/tls12-alert"

# Reports name functions only when a symbolizer is at hand.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
    for s in llvm-symbolizer llvm-symbolizer-14 /usr/lib/llvm-14/bin/llvm-symbolizer; do
        if command -v "$s" >/dev/null; then
            export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"
            break
        fi
    done
fi
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
mkdir -p "$here/artifacts"
failed=()
# Inputs that once failed (fuzz/crashes/<harness>-NAME) must replay clean: regressions.
for input in "$here"/crashes/*; do
    [ -f "$input" ] || continue
    name="fuzz_$(basename "$input" | cut -d- -f1)"
    echo "== replay $(basename "$input") with $name"
    if ! "$out/$name" "$input"; then
        failed+=("$name:$(basename "$input")")
    fi
done
for name in fuzz_frames fuzz_http fuzz_tls; do
    corpus="$here/corpus/${name#fuzz_}"
    mkdir -p "$corpus"
    echo "== $name for ${secs}s"
    # 16 KB leaves room for whole conversations (frames) and for requests past the
    # 4 KB request buffer (http).
    if ! "$out/$name" -max_total_time="$secs" -max_len=16384 -timeout=20 \
            -rss_limit_mb=2048 -print_final_stats=1 -dict="$here/http.dict" \
            -artifact_prefix="$here/artifacts/$name-" \
            "$corpus" "$out/seeds/${name#fuzz_}"; then
        failed+=("$name")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: ${failed[*]} failed; inputs in $here/artifacts/" >&2
    exit 1
fi
echo "fuzz: no crash in ${secs}s per fuzzer"

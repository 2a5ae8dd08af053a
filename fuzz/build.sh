#!/usr/bin/env bash
# fuzz/build.sh: builds the libFuzzer harnesses fuzz/build/fuzz_frames,
# fuzz/build/fuzz_http and fuzz/build/fuzz_tls from the C core (ssdk/csrc/*/*.c, which has no Python dependency)
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   fuzz/build.sh            (needs clang and libFuzzer: apt-get install clang libclang-rt-14-dev)
#
# fuzz/run.sh calls it; docs/testing.md says how to run the fuzzers. Any UB report
# aborts (-fno-sanitize-recover), so libFuzzer counts it as a crash and keeps the input.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
csrc="$here/../ssdk/csrc"
out="$here/build"
CC="${CC:-clang}"
mkdir -p "$out/obj"
SAN=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
# The core's language and warning flags, shared with the release build and the sanitizer
# run (ssdk/csrc/cflags.txt: one flag a line, '#' comments), warnings as errors; then what
# a fuzzing build adds. SSDK_DEBUG: the core's SSDK_ASSERTs (ssdk/csrc/base/check.h) are
# compiled in.
mapfile -t SHARED < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$csrc/cflags.txt")
CFLAGS=("${SHARED[@]}" -g -O1 -DSSDK_DEBUG -fno-omit-frame-pointer)
# The core is compiled for instrumentation only (-fsanitize=fuzzer-no-link): libFuzzer's
# main() is linked once, with the harness.
objs=()
for c in "$csrc"/*/*.c; do
    # The AF_XDP backend and its XDP program's loader need libxdp; the harnesses use the
    # in-memory backend only.
    case "$(basename "$c")" in nic_af_xdp.c|xdp_filter.c) continue ;; esac
    rel="${c#"$csrc"/}"
    o="$out/obj/${rel//\//_}"
    o="${o%.c}.o"
    "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link,address,undefined \
        -fno-sanitize-recover=all -I"$csrc" -c "$c" -o "$o"
    objs+=("$o")
done
# The TLS layer (tls/) calls GnuTLS, which is linked as it is (not instrumented).
for name in fuzz_frames fuzz_http fuzz_tls; do
    "$CC" "${CFLAGS[@]}" "${SAN[@]}" -I"$csrc" "$here/$name.c" "${objs[@]}" -lgnutls \
        -o "$out/$name"
done
echo "built $out/fuzz_frames $out/fuzz_http $out/fuzz_tls"

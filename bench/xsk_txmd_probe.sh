#!/bin/bash
# Runs bench/xsk_txmd_probe.c on a veth pair in two namespaces (named with this shell's
# pid, removed on any exit), for each XDP attachment of the sending end (none, native,
# SKB) and each state of its TX checksum offload, and prints what the peer's TCP counted.
# Needs root. docs/performance.md, "AF_XDP and TX checksum metadata", has one run's output.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
S=xtm-s-$$; C=xtm-c-$$; SI=xts$$; CI=xtc$$
cleanup() { ip netns del $S 2>/dev/null || true; ip netns del $C 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
gcc -O2 -Wall -Wextra -o "$tmp/probe" "$here/xsk_txmd_probe.c"
prog=$(dpkg -L libxdp1 2>/dev/null | grep '/xsk_def_xdp_prog.o$' | head -1)
ip netns add $S; ip netns add $C
ip -n $C link add $CI type veth peer name $SI netns $S
ip -n $C addr add 198.18.0.2/15 dev $CI
for ns in $S $C; do ip -n $ns link set lo up; done
ip -n $S link set $SI up; ip -n $C link set $CI up
smac=$(ip -n $S -br link show $SI | awk '{print $3}')
cmac=$(ip -n $C -br link show $CI | awk '{print $3}')
for xdp in none native skb; do
  ip -n $S link set $SI xdp off
  case $xdp in
    native) ip -n $S link set $SI xdpdrv obj "$prog" sec xdp ;;
    skb) ip -n $S link set $SI xdpgeneric obj "$prog" sec xdp ;;
  esac
  for txcsum in on off; do
    ip netns exec $S ethtool -K $SI tx $txcsum >/dev/null
    for mode in meta badmeta nometa full; do
      ip netns exec $C nstat -n >/dev/null
      out=$(ip netns exec $S "$tmp/probe" $SI $cmac $smac $mode 100)
      sleep 0.2
      seen=$(ip netns exec $C nstat TcpInCsumErrors TcpInSegs TcpOutRsts \
             | awk 'NR>1{printf "%s=%s ", $1, $2}')
      echo "xdp=$xdp tx-csum=$txcsum | $out | peer: $seen"
    done
  done
done

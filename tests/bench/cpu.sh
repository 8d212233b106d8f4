#!/usr/bin/env bash
# `make bench`: runs the purchase benchmark binary once per number of learners and adds CPU per
# purchase: the bench process's own user+system time (the platform, the fake LMS and the load,
# in one process), Postgres's (every postgres process's user+system time over the run), the NATS
# server's, and the whole machine's busy time (run it on an otherwise idle machine; what the
# others leave is mostly the kernel's loopback networking), each divided by the paid purchases.
# usage: cpu.sh <purchase-bench binary> "<learners> [<learners>...]" <seconds> <courses>
set -euo pipefail
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# Ticks of user+system time of every live postgres process, by pid (one awk over /proc).
# A process that ends meanwhile makes cat fail: that must not end the run (pipefail, set -e).
pg_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" {print $1, $14 + $15}'
}
# Ticks of user+system time of the NATS server(s).
nats_ticks() {
  # cat, not awk over the glob: a process that ends meanwhile must not stop the reading.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(nats-server)" {t += $14 + $15} END {print t + 0}'
}
tck=$(getconf CLK_TCK)
for learners in $2; do
  echo "== $learners learners"
  pg0=$(pg_ticks)
  # Backends come and go with the run (its database is dropped at the end): sample them every
  # 0.5 s and keep each one's last reading.
  samples=$(mktemp)
  ( while true; do pg_ticks >> "$samples"; sleep 0.5; done ) &
  sampler=$!
  n0=$(nats_ticks)
  b0=$(busy)
  out=$( { TIMEFORMAT='%U %S'; time "$1" --learners "$learners" --seconds "$3" --courses "$4"; } 2>&1 ) || {
    kill "$sampler" 2>/dev/null || true
    echo "$out"
    echo "purchase-bench failed at $learners learners" >&2
    exit 1
  }
  b1=$(busy)
  n1=$(nats_ticks)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  pg1=$(cat "$samples"; pg_ticks)
  rm -f "$samples"
  echo "$out" | sed '$d'
  paid=$(echo "$out" | awk '/^paid purchases:/{print $3}')
  read -r user sys < <(echo "$out" | tail -1)
  python3 - "$paid" "$b0" "$b1" "$tck" "$user" "$sys" "$pg0" "$pg1" "$n0" "$n1" <<'PY'
import sys
paid, b0, b1, tck, user, sys_, pg0, pg1, n0, n1 = sys.argv[1:]
paid, tck = int(paid), int(tck)
def ticks(text):
    out = {}
    for line in text.splitlines():
        if line.strip():
            p, t = line.split()
            out[p] = max(out.get(p, 0), int(t))
    return out
before, after = ticks(pg0), ticks(pg1)
# A backend that started during the run counts from 0; one that ended counts to its last sample.
postgres = sum(t - before.get(p, 0) for p, t in after.items()) / tck
machine = (int(b1) - int(b0)) / tck
own = float(user) + float(sys_)
nats = (int(n1) - int(n0)) / tck
per = lambda s: s / paid * 1000
print(f"CPU per purchase:              {per(own):.1f} ms platform process (with the load), "
      f"{per(postgres):.1f} ms Postgres, {per(nats):.1f} ms NATS, "
      f"{per(machine - own - postgres - nats):.1f} ms rest (kernel), "
      f"{per(machine):.1f} ms whole machine")
PY
done

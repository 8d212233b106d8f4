#!/usr/bin/env bash
# `make bench`: runs the purchase benchmark binary and adds CPU per purchase: the whole machine's
# busy time over the run (bench process, Postgres and NATS; run it on an otherwise idle machine)
# and the bench process's own user+system time, each divided by the paid purchases.
# usage: cpu.sh <purchase-bench binary> <learners> <seconds> <courses>
set -euo pipefail
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
tck=$(getconf CLK_TCK)
b0=$(busy)
out=$( { TIMEFORMAT='%U %S'; time "$1" --learners "$2" --seconds "$3" --courses "$4"; } 2>&1 )
b1=$(busy)
echo "$out" | sed '$d'
paid=$(echo "$out" | awk '/^paid purchases:/{print $3}')
read -r user sys < <(echo "$out" | tail -1)
python3 - "$paid" "$b0" "$b1" "$tck" "$user" "$sys" <<'PY'
import sys
paid, b0, b1, tck, user, sys_ = sys.argv[1:]
paid = int(paid)
machine = (int(b1) - int(b0)) / int(tck)
own = float(user) + float(sys_)
print(f"CPU per purchase:              {machine / paid * 1000:.1f} ms whole machine, "
      f"{own / paid * 1000:.1f} ms bench process")
PY

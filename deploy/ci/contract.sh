#!/usr/bin/env bash
# `make contract`: the OpenAPI document is the truth. Schemathesis fuzzes every operation of the
# gateway's /api/openapi.json with every check, against a running platform, and any finding fails.
#
#   1. tools: schemathesis (pinned) in the shared virtual environment .venv-ci, installed once;
#   2. the `commerce` binary (dev profile);
#   3. the platform (`commerce serve --services all`) on a free port, against a fresh database and
#      its own NATS subject prefix and stream names, seeded with the demo catalog (`commerce seed`);
#   4. schemathesis over /api/openapi.json (`--checks all`, deploy/ci/schemathesis.toml) three
#      times: as a learner, as a billing-admin and anonymous;
#   5. whatever happens, the platform stops, its database is dropped and its streams are deleted.
#
# The run is bounded for a 2-core machine: MAX_EXAMPLES per operation (default 25), WORKERS (1:
# the platform shares the cores, and CPython 3.11 before 3.11.8 can fail parsing in two threads
# at once, "AST constructor recursion depth mismatch", which hypothesis does on first use).
# Environment: VENV (default .venv-ci), CARGO (default cargo; e.g. "flock /tmp/cargo.lock cargo"),
# CARGO_TARGET_DIR, COMMERCE__AUTH__HS256_SECRET (the Makefile exports the dev secret),
# CONTRACT_ROLES (default "learner billing-admin anonymous"), CONTRACT_REPORT (where the reports go).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${VENV:-.venv-ci}"
PINS="schemathesis==4.32.5"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
WORKERS="${WORKERS:-1}"
ROLES="${CONTRACT_ROLES:-learner billing-admin anonymous}"
REPORT="${CONTRACT_REPORT:-${CARGO_TARGET_DIR:-$HOME/.cache/cadence-target}/contract}"
: "${COMMERCE__AUTH__HS256_SECRET:?set the HS256 dev secret (the Makefile exports one)}"
start=$(date +%s)

# 1. Tools (the venv is shared with k8s-check and alerts-check: only what is missing is added).
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "contract: creating $VENV"
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$VENV/.contract-pins" 2>/dev/null)" != "$PINS" ]]; then
  echo "contract: installing $PINS"
  # shellcheck disable=SC2086 # PINS is a list of requirements.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" >"$VENV/.contract-pins"
fi

# 2. The binary.
# shellcheck disable=SC2086 # CARGO may carry a wrapper (flock).
${CARGO:-cargo} build --quiet -p commerce --bin commerce
bin="${CARGO_TARGET_DIR:-$HOME/.cache/cadence-target}/debug/commerce"

# 3. The platform, in an environment of its own.
tag="$(date +%s)$$"
db="cc_contract_$tag"
suffix="_C$tag"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
mkdir -p "$REPORT"
log="$REPORT/platform.log"
export COMMERCE__HTTP__HOST=127.0.0.1
export COMMERCE__HTTP__PORT="$port"
export COMMERCE__DATABASE__URL="postgres://postgres@127.0.0.1:5432/$db"
export COMMERCE__NATS__SUBJECT_PREFIX="c$tag."
export COMMERCE__NATS__STREAM_SUFFIX="$suffix"
export COMMERCE__TELEMETRY__JSON=false
export COMMERCE__TELEMETRY__FILTER="warn,sqlx=error,sea_orm=error"
export COMMERCE__TELEMETRY__SAMPLE_SECS=0
# The fuzzer sends thousands of requests from one address: the limits are declared (429 is in the
# document) but set out of its way, so every request reaches its route.
export COMMERCE__GATEWAY__RATE_LIMIT_PER_MINUTE=1000000
export COMMERCE__GATEWAY__RATE_LIMIT_BURST=1000000

server=""
cleanup() {
  local rc=$?
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  # JetStream's API over the plain NATS protocol: no client needed to delete the streams.
  if exec 3<>/dev/tcp/127.0.0.1/4222; then
    {
      printf 'CONNECT {"verbose":false,"pedantic":false}\r\n'
      for s in COMMERCE INBOUND DEADLETTER; do printf 'PUB $JS.API.STREAM.DELETE.%s%s 0\r\n\r\n' "$s" "$suffix"; done
      printf 'PING\r\n'
    } >&3
    timeout 5 grep -q -m1 PONG <&3 || true
    exec 3>&-
  fi
  echo "contract: $(($(date +%s) - start))s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$db\""
"$bin" serve --services all >"$log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "contract: the platform did not start" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$base/readyz" >/dev/null
"$bin" seed --url "$base" >/dev/null
curl -fsS "$base/api/openapi.json" >"$REPORT/openapi.json"

# 4. Schemathesis, once per role.
token() { "$bin" dev-token --sub "contract-$1" --roles "$1" --email "contract-$1@example.edu" --name "Contract $1"; }
failed=()
for role in $ROLES; do
  auth=()
  [[ "$role" != anonymous ]] && auth=(-H "Authorization: Bearer $(token "$role")")
  echo "contract: schemathesis as $role"
  if ! "$VENV/bin/schemathesis" --config-file deploy/ci/schemathesis.toml run "$base/api/openapi.json" \
    --checks all --max-examples "$MAX_EXAMPLES" --workers "$WORKERS" --seed 1 --no-color \
    --report junit --report-junit-path "$REPORT/$role.junit.xml" "${auth[@]}" \
    >"$REPORT/$role.txt" 2>&1; then
    failed+=("$role")
  fi
  tail -n 25 "$REPORT/$role.txt"
done

if curl -fsS "$base/readyz" >/dev/null 2>&1; then :; else
  echo "contract: the platform stopped answering during the run (log: $log)" >&2
  failed+=(platform)
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "contract: FAILED for ${failed[*]} (reports in $REPORT)" >&2
  exit 1
fi
echo "contract: no findings (reports in $REPORT)"

#!/usr/bin/env bash
# `make alerts-check`: the Prometheus alert rules in deploy/prometheus/, checked and unit-tested.
#
#   1. promtool: Debian's `prometheus` package is downloaded (not installed: no daemon, no system
#      change) and only /usr/bin/promtool is extracted into $VENV/promtool; made once, reused;
#   2. `promtool check rules` on alerts.yml (syntax, PromQL, templates);
#   3. every alert of alerts.yml has tests (its name in at least two alert_rule_test cases);
#   4. `promtool test rules` on alerts.test.yml (series that must fire, series that must not);
#   5. prometheusrule.yaml (the same rules as a Prometheus Operator PrometheusRule) is exactly what
#      alerts.yml generates; `deploy/ci/alerts-check.sh --write` regenerates it.
#
# Environment: VENV (default .venv-ci), PROMTOOL (a promtool binary to use instead).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${VENV:-.venv-ci}"
DIR=deploy/prometheus
RULES="$DIR/alerts.yml"
TESTS="$DIR/alerts.test.yml"
CRD="$DIR/prometheusrule.yaml"
start=$(date +%s)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. promtool.
if [[ -z "${PROMTOOL:-}" ]]; then
  PROMTOOL="$VENV/promtool/usr/bin/promtool"
  if ! "$PROMTOOL" --version >/dev/null 2>&1; then
    echo "alerts-check: extracting promtool from Debian's prometheus package into $VENV/promtool"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # apt drops privileges to _apt for downloads: let it write there.
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
    if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
      # A fresh machine may have no package lists yet.
      as_root apt-get update -qq
      (cd "$tmp" && apt-get download -qq prometheus >/dev/null)
    fi
    rm -rf "$VENV/promtool.new" && mkdir -p "$VENV/promtool.new"
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$VENV/promtool.new" ./usr/bin/promtool
    rm -rf "$VENV/promtool" && mv "$VENV/promtool.new" "$VENV/promtool"
  fi
fi
echo "alerts-check: $("$PROMTOOL" --version 2>&1 | head -n 1)"

# 5 (first, when asked to write). The PrometheusRule: alerts.yml's groups under spec.
generate_crd() {
  cat <<'EOF'
# GENERATED from alerts.yml by `deploy/ci/alerts-check.sh --write`; do not edit by hand.
# The same rules for the Prometheus Operator: `kubectl apply -f prometheusrule.yaml` (add the labels
# your Prometheus' ruleSelector asks for, e.g. `release: kube-prometheus-stack`).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: cadence-commerce
  namespace: cadence-commerce
  labels:
    app.kubernetes.io/name: cadence-commerce
    app.kubernetes.io/component: alerts
spec:
EOF
  # Drop the file's leading comment block, indent the rest (groups:) under spec.
  awk 'body || !/^#/ { body = 1; print (length($0) ? "  " $0 : "") }' "$RULES"
}
if [[ "${1:-}" == "--write" ]]; then
  generate_crd >"$CRD"
  echo "alerts-check: wrote $CRD"
fi

# 2. Syntax, PromQL and templates.
"$PROMTOOL" check rules "$RULES"

# 3. Every alert is tested.
missing=0
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$RULES" | sort -u)
for a in $alerts; do
  n=$(grep -cE "^ *alertname: *$a *$" "$TESTS" || true)
  if ((n < 2)); then
    echo "alerts-check: $a has $n test cases in $TESTS (a firing one and a quiet one at least)"
    missing=1
  fi
done
((missing == 0)) || { echo "alerts-check: FAILED: untested alerts"; exit 1; }
echo "alerts-check: $(wc -w <<<"$alerts") alerts, each with firing and quiet test cases:" $alerts

# 4. Unit tests.
"$PROMTOOL" test rules "$TESTS"

# 5. The PrometheusRule matches.
if ! diff -u "$CRD" <(generate_crd) >/dev/null 2>&1; then
  diff -u "$CRD" <(generate_crd) | head -n 20 || true
  echo "alerts-check: FAILED: $CRD differs from $RULES; run deploy/ci/alerts-check.sh --write"
  exit 1
fi
echo "alerts-check: $CRD matches $RULES"
echo "alerts-check: passed in $(($(date +%s) - start)) s"

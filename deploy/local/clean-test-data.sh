#!/usr/bin/env bash
# Drops databases left behind by interrupted test runs (each test creates its own cc_test_*).
set -euo pipefail
for d in $(psql -h 127.0.0.1 -U postgres -d postgres -tAc "select datname from pg_database where datname like 'cc_test_%'"); do
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$d\" with (force)" || true
done

#!/usr/bin/env bash
# `make run`: database, migrations, every service behind the gateway on :8080, a demo catalog,
# a dev token and example requests. Ctrl-C stops the platform.
set -euo pipefail
bin="${CARGO_TARGET_DIR:-$HOME/.cache/cadence-target}/debug/commerce"
db="${COMMERCE_DB:-commerce}"
export COMMERCE__DATABASE__URL="${COMMERCE__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/$db}"
export COMMERCE__TELEMETRY__JSON="${COMMERCE__TELEMETRY__JSON:-false}"

psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$db'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$db\""
"$bin" migrate
"$bin" serve --services all &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 60); do
  curl -fsS http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 0.5
done
"$bin" seed --url http://127.0.0.1:8080
learner=$("$bin" dev-token --sub learner-1 --roles learner)
admin=$("$bin" dev-token --sub admin-1 --roles billing-admin)
cat <<MSG

Cadence Commerce is running on http://127.0.0.1:8080  (API docs: http://127.0.0.1:8080/api/docs/)

  export LEARNER=$learner
  export ADMIN=$admin

  curl -s http://127.0.0.1:8080/api/v2/catalog/courses
  curl -s 'http://127.0.0.1:8080/api/v2/catalog/courses?currency=EUR&q=data'
  curl -s http://127.0.0.1:8080/api/v2/catalog/programs
  curl -s http://127.0.0.1:8080/api/v2/catalog/departments/cs
  curl -s -H "Authorization: Bearer \$ADMIN" http://127.0.0.1:8080/api/v2/admin/pricing
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H 'Idempotency-Key: demo-1' -H 'content-type: application/json' \\
       -d '{"lmsCourseId":"lms-demo","title":"Demo","departmentId":"cs","contentCreatorId":"c1","instructorId":"i1","published":true}' \\
       http://127.0.0.1:8080/api/v2/admin/catalog/courses

Ctrl-C stops it.
MSG
wait $server

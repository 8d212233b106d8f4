#!/usr/bin/env bash
# `make run`: database, migrations, every service behind the gateway on :8080, the fake LMS on
# :8090, the mail catcher on :1080 (SMTP :1025), the fake Payout Platform on :8092, the fake
# TaxJar on :8093 (tax collected in US-CA, US-NY and DE), the fake Stripe on :12111 (Stripe is
# the default processor), the fake Square on :8094 (the music department's processor), the fake
# Converge on :8095 (the nursing department's), a demo catalog, dev tokens and example requests.
# Ctrl-C stops everything.
# Real Stripe test mode instead of the fake: export COMMERCE__PAYMENT__STRIPE_SECRET_KEY,
# COMMERCE__PAYMENT__STRIPE_PUBLISHABLE_KEY, COMMERCE__PAYMENT__STRIPE_WEBHOOK_SECRET and
# COMMERCE__PAYMENT__STRIPE_API_BASE=https://api.stripe.com/ before `make run`.
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/cadence-target}/debug"
bin="$target/commerce"
db="${COMMERCE_DB:-commerce}"
export COMMERCE__DATABASE__URL="${COMMERCE__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/$db}"
export COMMERCE__TELEMETRY__JSON="${COMMERCE__TELEMETRY__JSON:-false}"
export COMMERCE__REGISTRATION__LMS_URL="${COMMERCE__REGISTRATION__LMS_URL:-http://127.0.0.1:8090}"
export COMMERCE__PAYOUT__URL="${COMMERCE__PAYOUT__URL:-http://127.0.0.1:8092}"
export COMMERCE__CART_ORDER__TAX_PROVIDER="${COMMERCE__CART_ORDER__TAX_PROVIDER:-taxjar}"
export COMMERCE__CART_ORDER__TAXJAR_API_BASE="${COMMERCE__CART_ORDER__TAXJAR_API_BASE:-http://127.0.0.1:8093/v2}"
export COMMERCE__CART_ORDER__TAXJAR_TOKEN="${COMMERCE__CART_ORDER__TAXJAR_TOKEN:-dev-taxjar-token}"
export COMMERCE__CART_ORDER__TAX_FROM="${COMMERCE__CART_ORDER__TAX_FROM:-US-CA-94103}"
export COMMERCE__CART_ORDER__TAX_NEXUS="${COMMERCE__CART_ORDER__TAX_NEXUS:-US-CA,US-NY,DE}"
export COMMERCE__PAYMENT__DEV_CLOCK="${COMMERCE__PAYMENT__DEV_CLOCK:-true}"
export COMMERCE__PAYMENT__DEFAULT_PROCESSOR="${COMMERCE__PAYMENT__DEFAULT_PROCESSOR:-stripe}"
export COMMERCE__PAYMENT__STRIPE_SECRET_KEY="${COMMERCE__PAYMENT__STRIPE_SECRET_KEY:-sk_test_cadence_fake}"
export COMMERCE__PAYMENT__STRIPE_PUBLISHABLE_KEY="${COMMERCE__PAYMENT__STRIPE_PUBLISHABLE_KEY:-pk_test_cadence_fake}"
export COMMERCE__PAYMENT__STRIPE_WEBHOOK_SECRET="${COMMERCE__PAYMENT__STRIPE_WEBHOOK_SECRET:-whsec_Y2FkZW5jZS1mYWtlLXN0cmlwZS13ZWJob29r}"
export COMMERCE__PAYMENT__STRIPE_API_BASE="${COMMERCE__PAYMENT__STRIPE_API_BASE:-http://127.0.0.1:12111/}"
export COMMERCE__PAYMENT__GOOGLE_PAY_MERCHANT_ID="${COMMERCE__PAYMENT__GOOGLE_PAY_MERCHANT_ID:-BCR2DN4TEST0000}"
export COMMERCE__PAYMENT__PROCESSORS_BY_DEPARTMENT__MUSIC="${COMMERCE__PAYMENT__PROCESSORS_BY_DEPARTMENT__MUSIC:-square}"
export COMMERCE__PAYMENT__PROCESSORS_BY_DEPARTMENT__NURSING="${COMMERCE__PAYMENT__PROCESSORS_BY_DEPARTMENT__NURSING:-converge}"
export COMMERCE__PAYMENT__SQUARE_ACCESS_TOKEN="${COMMERCE__PAYMENT__SQUARE_ACCESS_TOKEN:-EAAAsandbox-cadence-fake}"
export COMMERCE__PAYMENT__SQUARE_APPLICATION_ID="${COMMERCE__PAYMENT__SQUARE_APPLICATION_ID:-sandbox-sq0idb-cadence-fake}"
export COMMERCE__PAYMENT__SQUARE_LOCATION_ID="${COMMERCE__PAYMENT__SQUARE_LOCATION_ID:-LCADENCEFAKE}"
export COMMERCE__PAYMENT__SQUARE_WEBHOOK_SIGNATURE_KEY="${COMMERCE__PAYMENT__SQUARE_WEBHOOK_SIGNATURE_KEY:-cadence-fake-square-signature-key}"
export COMMERCE__PAYMENT__SQUARE_WEBHOOK_URL="${COMMERCE__PAYMENT__SQUARE_WEBHOOK_URL:-http://127.0.0.1:8080/api/v2/payments/webhook/square}"
export COMMERCE__PAYMENT__SQUARE_API_BASE="${COMMERCE__PAYMENT__SQUARE_API_BASE:-http://127.0.0.1:8094}"
export COMMERCE__PAYMENT__CONVERGE_MERCHANT_ID="${COMMERCE__PAYMENT__CONVERGE_MERCHANT_ID:-0021999}"
export COMMERCE__PAYMENT__CONVERGE_USER_ID="${COMMERCE__PAYMENT__CONVERGE_USER_ID:-cadenceapi}"
export COMMERCE__PAYMENT__CONVERGE_PIN="${COMMERCE__PAYMENT__CONVERGE_PIN:-CADENCEFAKEPIN0123456789}"
export COMMERCE__PAYMENT__CONVERGE_API_URL="${COMMERCE__PAYMENT__CONVERGE_API_URL:-http://127.0.0.1:8095/VirtualMerchantDemo/processxml.do}"
export COMMERCE__PAYMENT__CONVERGE_HOSTED_URL="${COMMERCE__PAYMENT__CONVERGE_HOSTED_URL:-http://127.0.0.1:8095/hosted-payments}"

psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$db'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$db\""
"$bin" migrate
# The mail catcher: every email the platform sends, readable at http://127.0.0.1:1080.
maildev=""
if ! (exec 3<>/dev/tcp/127.0.0.1/1025) 2>/dev/null; then
  tools="${CADENCE_TOOLS:-$HOME/.cache/cadence-tools}"
  [ -x "$tools/node_modules/.bin/maildev" ] \
    || npm install --prefix "$tools" --no-audit --no-fund --silent maildev@2
  "$tools/node_modules/.bin/maildev" --ip 127.0.0.1 --smtp 1025 --web 1080 --silent &
  maildev=$!
fi
"$target/fake-lms" --port 8090 &
lms=$!
"$target/fake-payout" --port 8092 &
payout=$!
taxjar=""
case "$COMMERCE__CART_ORDER__TAXJAR_API_BASE" in
  http://127.0.0.1:8093*) "$target/fake-taxjar" --port 8093 & taxjar=$! ;;
esac
stripe=""
case "$COMMERCE__PAYMENT__STRIPE_API_BASE" in
  http://127.0.0.1:12111*) "$target/fake-stripe" --port 12111 & stripe=$! ;;
esac
square=""
case "$COMMERCE__PAYMENT__SQUARE_API_BASE" in
  http://127.0.0.1:8094*) FAKE_SQUARE_WEBHOOK_URL="$COMMERCE__PAYMENT__SQUARE_WEBHOOK_URL" "$target/fake-square" --port 8094 & square=$! ;;
esac
converge=""
case "$COMMERCE__PAYMENT__CONVERGE_API_URL" in
  http://127.0.0.1:8095*) "$target/fake-converge" --port 8095 & converge=$! ;;
esac
"$bin" serve --services all &
server=$!
trap 'kill $server $lms $payout $taxjar $stripe $square $converge $maildev 2>/dev/null; wait $server $lms $payout $taxjar $stripe $square $converge $maildev 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 60); do
  curl -fsS http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 0.5
done
"$bin" seed --url http://127.0.0.1:8080
learner=$("$bin" dev-token --sub learner-1 --roles learner --email zoe@example.edu --name "Zoë Łukasiewicz-Nguyễn")
admin=$("$bin" dev-token --sub admin-1 --roles billing-admin)
enroller=$("$bin" dev-token --sub enroll-1 --roles enrollment-admin --departments cs)
subscriber=$("$bin" dev-token --sub learner-2 --roles learner --email sam@example.edu --name "Sam Okafor")
first_id() { grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4; }
course=$(curl -fsS 'http://127.0.0.1:8080/api/v2/catalog/courses?q=Programming' | first_id)
cat <<MSG

Cadence Commerce is running on http://127.0.0.1:8080  (API docs: http://127.0.0.1:8080/api/docs/)
The fake LMS is on http://127.0.0.1:8090 (GET /received shows the enrollment requests it got;
POST /complete finishes a course for a learner and sends the signed completion webhook).
Emails (order confirmation, welcome, certificate, refunds…) arrive in the mail catcher:
http://127.0.0.1:1080 (SMTP on 127.0.0.1:1025).
The fake Payout Platform is on http://127.0.0.1:8092 (GET /received shows the signed revenue
webhooks it got). Tax is calculated by the fake TaxJar on http://127.0.0.1:8093 (TaxJar's
POST /v2/taxes; tax collected in California, New York and Germany).
Payments go to Stripe ($COMMERCE__PAYMENT__STRIPE_API_BASE): the fake Stripe signs its webhooks
to /api/v2/payments/webhook/stripe; its test cards are Stripe's (pm_card_visa,
pm_card_visa_chargeDeclined, pm_card_authenticationRequired) plus pm_card_googlePay.
Music courses are paid through Square (the fake on :8094 takes Square's sandbox card nonces:
cnon:card-nonce-ok, cnon:card-nonce-declined), nursing courses through Converge (the fake on
:8095 stands in for the Lightbox: POST /hosted-payments/lightbox with the payment's clientSecret
and a test card gives the card token to confirm with).

  export LEARNER=$learner
  export ADMIN=$admin
  export ENROLLER=$enroller
  export SUBSCRIBER=$subscriber
  H='content-type: application/json'

  # browse
  curl -s http://127.0.0.1:8080/api/v2/catalog/courses
  curl -s 'http://127.0.0.1:8080/api/v2/catalog/courses?currency=EUR&q=data'
  curl -s http://127.0.0.1:8080/api/v2/catalog/departments/cs

  # a discount code (admin), applied by the learner; a billing address gives the cart its tax
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H "\$H" -d '{"code":"WELCOME10","departmentId":"cs","discountType":"percentage","discountValue":10}' http://127.0.0.1:8080/api/v2/admin/discounts

  # buy a course: cart → code → address (tax) → currency → checkout → intent (a Stripe PaymentIntent) → confirm
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"itemType":"course","itemId":"$course"}' http://127.0.0.1:8080/api/v2/cart/items
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"code":"welcome10"}' http://127.0.0.1:8080/api/v2/cart/discount
  curl -s -X PUT -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"country":"DE","postalCode":"10115","city":"Berlin"}' http://127.0.0.1:8080/api/v2/cart/billing-address
  curl -s -X PUT -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"currency":"EUR"}' http://127.0.0.1:8080/api/v2/cart/currency   # shown and paid in EUR
  first_id() { grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4; }
  ORDER=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H 'Idempotency-Key: demo-checkout-1' http://127.0.0.1:8080/api/v2/cart/checkout | first_id)
  PAY=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"orderId\":\"\$ORDER\"}" http://127.0.0.1:8080/api/v2/payments/create-intent | first_id)
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"paymentId\":\"\$PAY\",\"paymentMethod\":\"pm_card_visa\"}" http://127.0.0.1:8080/api/v2/payments/confirm
  curl -s -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/orders
  curl -s -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/registrations

  # finish the course in the (fake) LMS: its signed completion webhook issues a certificate
  curl -s -X POST -H "\$H" -d '{"userId":"learner-1","userName":"Zoë Łukasiewicz-Nguyễn","lmsCourseId":"lms-cs101","modulesCompleted":5,"modulesTotal":5}' http://127.0.0.1:8090/complete
  sleep 1; CERT=\$(curl -s -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/certificates | first_id)
  curl -s -H "Authorization: Bearer \$LEARNER" -o certificate.pdf http://127.0.0.1:8080/api/v2/certificates/\$CERT/download
  NUMBER=\$(curl -s -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/certificates/\$CERT | grep -o 'CERT-[0-9]*-[0-9A-Z]*' | head -n 1)
  curl -s http://127.0.0.1:8080/api/v2/certificates/verify/\$NUMBER      # public; share page: .../share/\$NUMBER
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H "\$H" -d '{"reason":"issued in error"}' http://127.0.0.1:8080/api/v2/admin/certificates/\$CERT/revoke

  # ask for a refund, and approve it as a billing-admin (the LMS is told to unenroll)
  REQ=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"reason":"changed my mind"}' http://127.0.0.1:8080/api/v2/orders/\$ORDER/refund-requests | first_id)
  sleep 1; curl -s -H "Authorization: Bearer \$ADMIN" 'http://127.0.0.1:8080/api/v2/admin/refunds?status=requested'
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H "\$H" -d '{}' http://127.0.0.1:8080/api/v2/admin/refunds/\$REQ/approve
  curl -s -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/payments/history

  # the same through Square (music) and Converge (nursing): the processor is chosen by department
  MUSIC=\$(curl -s 'http://127.0.0.1:8080/api/v2/catalog/courses?q=Music' | first_id)
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"itemType\":\"course\",\"itemId\":\"\$MUSIC\"}" http://127.0.0.1:8080/api/v2/cart/items
  curl -s -X PUT -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"country":"US","region":"CA","postalCode":"94103"}' http://127.0.0.1:8080/api/v2/cart/billing-address
  ORDER2=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/cart/checkout | first_id)
  PAY2=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"orderId\":\"\$ORDER2\"}" http://127.0.0.1:8080/api/v2/payments/create-intent | first_id)
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"paymentId\":\"\$PAY2\",\"paymentMethod\":\"cnon:card-nonce-ok\"}" http://127.0.0.1:8080/api/v2/payments/confirm
  NURSING=\$(curl -s 'http://127.0.0.1:8080/api/v2/catalog/courses?q=Clinical' | first_id)
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"itemType\":\"course\",\"itemId\":\"\$NURSING\"}" http://127.0.0.1:8080/api/v2/cart/items
  curl -s -X PUT -H "Authorization: Bearer \$LEARNER" -H "\$H" -d '{"country":"US","region":"CA","postalCode":"94103"}' http://127.0.0.1:8080/api/v2/cart/billing-address
  ORDER3=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" http://127.0.0.1:8080/api/v2/cart/checkout | first_id)
  INTENT3=\$(curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"orderId\":\"\$ORDER3\"}" http://127.0.0.1:8080/api/v2/payments/create-intent)
  PAY3=\$(echo "\$INTENT3" | first_id); SESSION=\$(echo "\$INTENT3" | grep -o '"clientSecret":"[^"]*"' | cut -d'"' -f4)
  TOKEN=\$(curl -s -X POST -d "ssl_txn_auth_token=\$SESSION&card=4111111111111111" http://127.0.0.1:8095/hosted-payments/lightbox)
  curl -s -X POST -H "Authorization: Bearer \$LEARNER" -H "\$H" -d "{\"paymentId\":\"\$PAY3\",\"paymentMethod\":\"\$TOKEN\"}" http://127.0.0.1:8080/api/v2/payments/confirm
  # reconcile a processor's charges and refunds with ours (also on a schedule, and \`commerce reconcile\`)
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H "\$H" -d "{\"processor\":\"square\",\"from\":\"\$(date -u -d '-1 hour' +%FT%TZ)\"}" http://127.0.0.1:8080/api/v2/admin/reconciliation

  # a department subscription: the Computer Science monthly plan (14-day trial), two courses
  # enrolled in through it at no charge, the renewal job run on demand (this dev deployment may
  # move payment's clock: the trial ends and period 1 is charged once; run it again: nothing
  # more), then cancelled at the end of the period
  PLAN=\$(curl -s http://127.0.0.1:8080/api/v2/catalog/departments/cs | grep -o '"id":"[0-9a-f-]\{36\}"[^}]*"interval":"monthly"' | head -n 1 | cut -d'"' -f4)
  SUB=\$(curl -s -X POST -H "Authorization: Bearer \$SUBSCRIBER" -H "\$H" -H 'Idempotency-Key: demo-sub-1' -d "{\"planId\":\"\$PLAN\",\"paymentMethod\":\"pm_card_visa\"}" http://127.0.0.1:8080/api/v2/subscriptions | first_id)
  for q in Data Distributed; do C=\$(curl -s "http://127.0.0.1:8080/api/v2/catalog/courses?q=\$q" | first_id); curl -s -X POST -H "Authorization: Bearer \$SUBSCRIBER" -H "\$H" -d "{\"courseId\":\"\$C\"}" http://127.0.0.1:8080/api/v2/subscriptions/\$SUB/enrollments; done
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" -H "\$H" -d '{"advanceDays":15}' http://127.0.0.1:8080/api/v2/admin/subscriptions/renewals
  curl -s -X POST -H "Authorization: Bearer \$ADMIN" http://127.0.0.1:8080/api/v2/admin/subscriptions/renewals
  curl -s -H "Authorization: Bearer \$SUBSCRIBER" http://127.0.0.1:8080/api/v2/payments/history
  curl -s -X POST -H "Authorization: Bearer \$SUBSCRIBER" -H "\$H" -d '{"atPeriodEnd":true,"reason":"demo"}' http://127.0.0.1:8080/api/v2/subscriptions/\$SUB/cancel
  curl -s -H "Authorization: Bearer \$ADMIN" 'http://127.0.0.1:8080/api/v2/admin/subscriptions?departmentId=cs'

  # revenue: the ledger's reports (settlement currency, minor units), its CSV export and check
  COURSE=$course
  curl -s -H "Authorization: Bearer \$ADMIN" http://127.0.0.1:8080/api/v1/revenue/by-course/\$COURSE
  curl -s -H "Authorization: Bearer \$ADMIN" http://127.0.0.1:8080/api/v1/revenue/by-creator/creator-1
  curl -s -H "Authorization: Bearer \$ADMIN" http://127.0.0.1:8080/api/v1/revenue/export.csv
  curl -s http://127.0.0.1:8092/received
  $bin ledger verify

  # administer
  curl -s -H "Authorization: Bearer \$ADMIN" http://127.0.0.1:8080/api/v2/admin/orders
  curl -s -H "Authorization: Bearer \$ENROLLER" http://127.0.0.1:8080/api/v2/admin/registrations

Ctrl-C stops it.
MSG
wait $server

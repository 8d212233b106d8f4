//! The shop fixture: the whole platform in one process plus a fake LMS speaking the connector
//! contract, and typed steps of the purchase flow.

use super::*;
use fake_lms::FakeLms;
use fake_payout::FakePayout;
use fake_stripe::FakeStripe;
use futures_util::TryStreamExt;
use reqwest::StatusCode;
use runtime::ServiceFactory;
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::{TestApp, TestEnv, eventually};

pub const STRIPE_SK: &str = "sk_test_e2e_fake";
pub const STRIPE_PK: &str = "pk_test_e2e_fake";
pub const STRIPE_WHSEC: &str = "whsec_ZTJlLWZha2Utc3RyaXBlLXdlYmhvb2s";
pub const LMS_KEY: &str = "test-lms-connector-key";
pub const LMS_SECRET: &str = "whsec_dGVzdC1sbXMtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==";
pub const TAXJAR_TOKEN: &str = "test-taxjar-token";
pub const PAYOUT_SECRET: &str = "whsec_dGVzdC1wYXlvdXQtd2ViaG9vay1zZWNyZXQ=";
pub const SQUARE_TOKEN: &str = "EAAAtest-e2e-square";
pub const SQUARE_LOCATION: &str = "LE2ETEST";
pub const SQUARE_APP: &str = "sandbox-sq0idb-e2e";
pub const SQUARE_KEY: &str = "e2e-square-signature-key";
pub const CONVERGE_MERCHANT: &str = "0021999";
pub const CONVERGE_USER: &str = "e2eapi";
pub const CONVERGE_PIN: &str = "E2EPIN0123456789ABCDEF";

/// Fields drop in this order when a test panics before [`Shop::close`]: the platform stops
/// first, then the environment removes its database and streams.
pub struct Shop {
    /// The host the shop's clients call: the whole platform, or the gateway alone when split.
    pub app: TestApp,
    /// When split ([`Shop::open_split`]): every other service, each in its own host.
    pub hosts: Vec<TestApp>,
    pub lms: FakeLms,
    /// Receives every email the platform sends.
    pub smtp: fake_smtp::FakeSmtp,
    /// The fake Payout Platform the ledger's webhooks go to.
    pub payout: FakePayout,
    /// The fake Stripe, when Stripe is the default processor ([`Shop::open_stripe`]).
    pub stripe: Option<FakeStripe>,
    /// The fake TaxJar, when it calculates tax ([`Shop::open_taxjar`]).
    pub taxjar: Option<fake_taxjar::FakeTaxJar>,
    /// The fake Square, when Square is the default processor ([`Shop::open_square`]).
    pub square: Option<fake_square::FakeSquare>,
    /// The fake Converge, when Converge is the default processor ([`Shop::open_converge`]).
    pub converge: Option<fake_converge::FakeConverge>,
    pub env: TestEnv,
    pub admin: String,
}

impl Shop {
    pub async fn open(extra: &[(&str, String)]) -> Shop {
        Self::open_with(extra, commerce::registry()).await
    }

    /// The shop with Stripe (a fake speaking its wire format) as the default processor; Google
    /// Pay (`gpay`) is configured too. Stripe calls time out after 3 s per attempt.
    pub async fn open_stripe(extra: &[(&str, String)]) -> Shop {
        Self::open_stripe_with(extra, commerce::registry()).await
    }

    /// [`Shop::open_stripe`] with the services built by `factories` (a test clock, say).
    pub async fn open_stripe_with(
        extra: &[(&str, String)],
        factories: Vec<Arc<dyn ServiceFactory>>,
    ) -> Shop {
        let stripe = FakeStripe::start(
            fake_stripe::Config::new(STRIPE_SK, String::new(), STRIPE_WHSEC),
            0,
        )
        .unwrap();
        let mut o: Vec<(&str, String)> = vec![
            ("payment.default_processor", "stripe".into()),
            ("payment.stripe_secret_key", STRIPE_SK.into()),
            ("payment.stripe_publishable_key", STRIPE_PK.into()),
            ("payment.stripe_webhook_secret", STRIPE_WHSEC.into()),
            ("payment.stripe_api_base", format!("{}/", stripe.url)),
            ("payment.stripe_timeout_ms", "3000".into()),
            ("payment.google_pay_merchant_id", "BCR2DN4TE2E00000".into()),
        ];
        o.extend(extra.iter().cloned());
        let mut shop = Self::open_with(&o, factories).await;
        stripe.set_webhook_url(&shop.app.url("/api/v2/payments/webhook/stripe"));
        shop.stripe = Some(stripe);
        shop
    }

    /// The shop with TaxJar (a fake speaking its wire format) calculating tax, collected in
    /// California and Germany, calls timing out after 1 s; `extra` adds settings
    /// (`cart_order.tax_on_failure`, say).
    pub async fn open_taxjar(extra: &[(&str, String)]) -> Shop {
        let taxjar = fake_taxjar::FakeTaxJar::start(TAXJAR_TOKEN, 0).unwrap();
        let mut o: Vec<(&str, String)> = vec![
            ("cart_order.tax_provider", "taxjar".into()),
            ("cart_order.taxjar_api_base", taxjar.url.clone()),
            ("cart_order.taxjar_token", TAXJAR_TOKEN.into()),
            ("cart_order.taxjar_timeout_ms", "1000".into()),
            ("cart_order.tax_from", "US-CA-94103".into()),
            ("cart_order.tax_nexus", "US-CA,DE".into()),
        ];
        o.extend(extra.iter().cloned());
        let mut shop = Self::open(&o).await;
        shop.taxjar = Some(taxjar);
        shop
    }

    /// The shop with Square (a fake speaking its wire format) as the default processor: calls
    /// time out after 1 s, tried twice; `extra` adds settings. Webhooks are signed over the URL
    /// the fake posts them to, which is the gateway's route.
    pub async fn open_square(extra: &[(&str, String)]) -> Shop {
        let square = fake_square::FakeSquare::start(
            fake_square::Config::new(SQUARE_TOKEN, SQUARE_LOCATION, String::new(), SQUARE_KEY),
            0,
        )
        .unwrap();
        let mut o: Vec<(&str, String)> = vec![
            ("payment.default_processor", "square".into()),
            ("payment.square_access_token", SQUARE_TOKEN.into()),
            ("payment.square_application_id", SQUARE_APP.into()),
            ("payment.square_location_id", SQUARE_LOCATION.into()),
            ("payment.square_webhook_signature_key", SQUARE_KEY.into()),
            ("payment.square_api_base", square.url.clone()),
            ("payment.square_timeout_ms", "1000".into()),
            ("payment.square_attempts", "2".into()),
        ];
        o.extend(extra.iter().cloned());
        let (mut shop, url) = Self::open_with_webhook_url(&o, "square").await;
        square.set_webhook_url(&url);
        shop.square = Some(square);
        shop
    }

    /// The shop with Converge (a fake speaking its wire format) as the default processor: calls
    /// time out after 1 s, tried twice; `extra` adds settings.
    pub async fn open_converge(extra: &[(&str, String)]) -> Shop {
        let converge = fake_converge::FakeConverge::start(
            fake_converge::Config {
                merchant_id: CONVERGE_MERCHANT.into(),
                user_id: CONVERGE_USER.into(),
                pin: CONVERGE_PIN.into(),
            },
            0,
        )
        .unwrap();
        let mut o: Vec<(&str, String)> = vec![
            ("payment.default_processor", "converge".into()),
            ("payment.converge_merchant_id", CONVERGE_MERCHANT.into()),
            ("payment.converge_user_id", CONVERGE_USER.into()),
            ("payment.converge_pin", CONVERGE_PIN.into()),
            (
                "payment.converge_api_url",
                format!("{}/VirtualMerchantDemo/processxml.do", converge.url),
            ),
            (
                "payment.converge_hosted_url",
                format!("{}/hosted-payments", converge.url),
            ),
            ("payment.converge_timeout_ms", "1000".into()),
            ("payment.converge_attempts", "2".into()),
        ];
        o.extend(extra.iter().cloned());
        let mut shop = Self::open(&o).await;
        shop.converge = Some(converge);
        shop
    }

    /// Opens the shop on a port chosen first, so `payment.<processor>_webhook_url` can name the
    /// gateway's webhook route before the platform starts; returns that URL too.
    async fn open_with_webhook_url(extra: &[(&str, String)], processor: &str) -> (Shop, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/api/v2/payments/webhook/{processor}");
        let key = format!("payment.{processor}_webhook_url");
        let mut o: Vec<(&str, String)> =
            vec![(key.as_str(), url.clone()), ("http.port", port.to_string())];
        o.extend(extra.iter().cloned());
        (Self::open_with(&o, commerce::registry()).await, url)
    }

    /// The fake Square of a shop opened with [`Shop::open_square`].
    pub fn square(&self) -> &fake_square::FakeSquare {
        self.square
            .as_ref()
            .expect("a shop opened with open_square")
    }

    /// The fake Converge of a shop opened with [`Shop::open_converge`].
    pub fn converge(&self) -> &fake_converge::FakeConverge {
        self.converge
            .as_ref()
            .expect("a shop opened with open_converge")
    }

    /// The fake TaxJar of a shop opened with [`Shop::open_taxjar`].
    pub fn taxjar(&self) -> &fake_taxjar::FakeTaxJar {
        self.taxjar
            .as_ref()
            .expect("a shop opened with open_taxjar")
    }

    /// The fake Stripe of a shop opened with [`Shop::open_stripe`].
    pub fn stripe(&self) -> &FakeStripe {
        self.stripe
            .as_ref()
            .expect("a shop opened with open_stripe")
    }

    /// The shop with the services built by `factories` (a test clock, say).
    pub async fn open_with(
        extra: &[(&str, String)],
        factories: Vec<Arc<dyn ServiceFactory>>,
    ) -> Shop {
        Self::open_hosts(extra, factories, false).await
    }

    /// The shop as operators deploy it: every service in its own host (its own listener, pools
    /// and consumers), the gateway proxying to each by `gateway.upstreams`, and the services
    /// calling each other by `internal.urls`.
    pub async fn open_split(extra: &[(&str, String)]) -> Shop {
        Self::open_hosts(extra, commerce::registry(), true).await
    }

    async fn open_hosts(
        extra: &[(&str, String)],
        factories: Vec<Arc<dyn ServiceFactory>>,
        split: bool,
    ) -> Shop {
        let env = TestEnv::new().await;
        let lms = FakeLms::start(
            fake_lms::Config {
                api_key: LMS_KEY.into(),
                webhook_url: String::new(),
                webhook_secret: LMS_SECRET.into(),
            },
            0,
        )
        .unwrap();
        let payout = FakePayout::start(
            fake_payout::Config {
                webhook_secret: PAYOUT_SECRET.into(),
            },
            0,
        )
        .unwrap();
        let smtp = fake_smtp::FakeSmtp::start(0).await.unwrap();
        let mut o: Vec<(&str, String)> = vec![
            ("notification.smtp_port", smtp.port.to_string()),
            ("notification.retry_base_ms", "50".into()),
            ("payout.url", payout.url.clone()),
            ("payout.webhook_secret", PAYOUT_SECRET.into()),
            ("payout.retry_base_ms", "50".into()),
            ("registration.lms_url", lms.url.clone()),
            ("registration.lms_api_key", LMS_KEY.into()),
            ("registration.lms_webhook_secret", LMS_SECRET.into()),
            ("certificate.lms_webhook_secret", LMS_SECRET.into()),
            ("registration.retry_base_ms", "50".into()),
        ];
        o.extend(extra.iter().cloned());
        let (app, hosts) = if split {
            spawn_split(&env, &o, &factories).await
        } else {
            let app = TestApp::spawn(env.settings(&o), &factories, &["all"]).await;
            (app, Vec::new())
        };
        lms.set_webhook_url(&app.url("/api/v1/webhooks/enrollment-status"));
        let admin = env.token("admin", &["billing-admin"], &[]);
        Shop {
            env,
            app,
            hosts,
            lms,
            smtp,
            payout,
            stripe: None,
            taxjar: None,
            square: None,
            converge: None,
            admin,
        }
    }

    /// The shop with cart-order on a clock the test moves (to expire carts and unpaid orders),
    /// its expiry job running every second; `extra` adds settings (TTLs, say).
    pub async fn open_with_order_clock(
        extra: &[(&str, String)],
    ) -> (Shop, Arc<kernel::ManualClock>) {
        let clock = Arc::new(kernel::ManualClock::new(chrono::Utc::now()));
        let mut factories = commerce::registry();
        factories.retain(|f| f.name() != "cart-order");
        factories.push(Arc::new(cart_order::CartOrderService {
            clock: Some(clock.clone()),
            ..Default::default()
        }));
        let mut o: Vec<(&str, String)> = vec![("cart_order.expiry_interval_secs", "1".into())];
        o.extend(extra.iter().cloned());
        (Self::open_with(&o, factories).await, clock)
    }

    pub async fn close(self) {
        self.app.stop().await;
        for host in self.hosts {
            host.stop().await;
        }
        self.smtp.stop();
        self.lms.stop().await;
        self.payout.stop().await;
        if let Some(stripe) = self.stripe {
            stripe.stop().await;
        }
        if let Some(taxjar) = self.taxjar {
            taxjar.stop().await;
        }
        if let Some(square) = self.square {
            square.stop().await;
        }
        if let Some(converge) = self.converge {
            converge.stop().await;
        }
        self.env.cleanup().await;
    }

    pub fn learner(&self, id: &str) -> String {
        self.env.token(id, &["learner"], &[])
    }

    /// A published course in department `cs` priced `cents` (free when 0); returns its id.
    pub async fn course(&self, lms: &str, cents: i64, approval: bool) -> String {
        let mut body = course_body(lms, &format!("Course {lms}"), "cs");
        body["approvalRequired"] = json!(approval);
        let c = post_expect(
            &self.app,
            &self.admin,
            "/api/v2/admin/catalog/courses",
            body,
            StatusCode::CREATED,
        )
        .await;
        let id = c["id"].as_str().unwrap().to_string();
        let price = if cents > 0 {
            json!({
                "courseId": id, "priceType": "one-time", "currency": "USD", "basePrice": cents
            })
        } else {
            json!({
                "courseId": id, "priceType": "free", "currency": "USD", "basePrice": 0
            })
        };
        post_expect(
            &self.app,
            &self.admin,
            "/api/v2/admin/pricing",
            price,
            StatusCode::CREATED,
        )
        .await;
        id
    }

    /// A published program of `courses` with a one-time bundle price; returns its id.
    pub async fn program(&self, courses: &[&str], cents: i64) -> String {
        let p = post_expect(
            &self.app,
            &self.admin,
            "/api/v2/admin/catalog/programs",
            json!({
                "title": "Track", "departmentId": "cs", "courseIds": courses, "published": true
            }),
            StatusCode::CREATED,
        )
        .await;
        let id = p["id"].as_str().unwrap().to_string();
        post_expect(
            &self.app,
            &self.admin,
            "/api/v2/admin/pricing",
            json!({
                "programId": id, "priceType": "one-time", "currency": "USD", "basePrice": cents
            }),
            StatusCode::CREATED,
        )
        .await;
        id
    }

    /// Adds an item to `token`'s cart, which must answer 201; returns the cart.
    pub async fn add(&self, token: &str, kind: &str, id: &str) -> Value {
        expect(
            &format!("add {kind} {id} to the cart"),
            StatusCode::CREATED,
            self.try_add(token, kind, id).await,
        )
    }

    /// Adds an item to `token`'s cart, for a test that asserts a refusal.
    pub async fn try_add(&self, token: &str, kind: &str, id: &str) -> (StatusCode, Value) {
        post(
            &self.app,
            token,
            "/api/v2/cart/items",
            json!({"itemType": kind, "itemId": id}),
        )
        .await
    }

    /// A 10 % discount code of department `cs` (the shop's courses) with `extra` fields
    /// overriding; returns it (201).
    pub async fn discount_code(&self, code: &str, extra: Value) -> Value {
        let mut body = json!({"code": code, "departmentId": "cs", "discountType": "percentage", "discountValue": 10});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        post_expect(
            &self.app,
            &self.admin,
            "/api/v2/admin/discounts",
            body,
            StatusCode::CREATED,
        )
        .await
    }

    /// Sets where `token`'s cart is billed, for a test that asserts the status itself.
    pub async fn bill_to(&self, token: &str, address: Value) -> (StatusCode, Value) {
        send(
            self.app
                .client
                .put(self.app.url("/api/v2/cart/billing-address"))
                .bearer_auth(token)
                .json(&address),
        )
        .await
    }

    /// Checks `token`'s cart out into a new order (201); returns the order.
    pub async fn checkout(&self, token: &str) -> Value {
        expect(
            "checkout",
            StatusCode::CREATED,
            self.try_checkout(token).await,
        )
    }

    /// Checks `token`'s cart out, for a test that asserts the status itself.
    pub async fn try_checkout(&self, token: &str) -> (StatusCode, Value) {
        post(&self.app, token, "/api/v2/cart/checkout", json!({})).await
    }

    /// Creates the payment intent for `order` (201); returns the payment.
    pub async fn intent(&self, token: &str, order: &str) -> Value {
        post_expect(
            &self.app,
            token,
            "/api/v2/payments/create-intent",
            json!({"orderId": order}),
            StatusCode::CREATED,
        )
        .await
    }

    /// Learner `id` (their token) with an order of one new course priced `cents` in LMS course
    /// `lms`, and the order's payment (201).
    pub async fn order_with_payment(
        &self,
        id: &str,
        lms: &str,
        cents: i64,
    ) -> (String, String, Value) {
        let learner = self.learner(id);
        let course = self.course(lms, cents, false).await;
        self.add(&learner, "course", &course).await;
        let oid = self.checkout(&learner).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let intent = self.intent(&learner, &oid).await;
        (learner, oid, intent)
    }

    /// Confirms `payment` with `method`, for a test that asserts the status itself.
    pub async fn try_confirm(
        &self,
        token: &str,
        payment: &Value,
        method: &str,
    ) -> (StatusCode, Value) {
        post(
            &self.app,
            token,
            "/api/v2/payments/confirm",
            json!({"paymentId": payment["id"], "paymentMethod": method}),
        )
        .await
    }

    /// Confirms `payment` with `method` and expects it paid (200, `succeeded`); returns it.
    pub async fn confirm_paid(&self, token: &str, payment: &Value, method: &str) -> Value {
        let (s, paid) = self.try_confirm(token, payment, method).await;
        assert_eq!(s, StatusCode::OK, "{paid}");
        assert_eq!(paid["status"], "succeeded", "{paid}");
        paid
    }

    /// `payment` as its learner's history shows it.
    pub async fn history_entry(&self, token: &str, payment: &Value) -> Value {
        let h = get_as_ok(&self.app, token, "/api/v2/payments/history").await;
        items(&h)
            .iter()
            .find(|p| p["id"] == payment["id"])
            .cloned()
            .unwrap_or_else(|| panic!("payment not in the history: {h}"))
    }

    /// Intent and confirmation with a Stripe test payment method; returns the payment.
    pub async fn pay(&self, token: &str, order: &str, method: &str) -> Value {
        let intent = self.intent(token, order).await;
        post_expect(
            &self.app,
            token,
            "/api/v2/payments/confirm",
            json!({
                "paymentId": intent["id"], "paymentMethod": method
            }),
            StatusCode::OK,
        )
        .await
    }

    /// The order as `token` sees it (200).
    pub async fn order(&self, token: &str, order: &str) -> Value {
        get_as_ok(&self.app, token, &format!("/api/v2/orders/{order}")).await
    }

    /// Waits until the order has status `want`; every poll must answer 200.
    pub async fn order_status(&self, token: &str, order: &str, want: &str) -> Value {
        eventually(WAIT, &format!("order {want}"), || async {
            let o = self.order(token, order).await;
            (o["status"] == want).then_some(o)
        })
        .await
    }

    /// `token`'s own registrations; the answer must be 200 with a list.
    pub async fn registrations(&self, token: &str) -> Vec<Value> {
        let r = get_as_ok(&self.app, token, "/api/v2/registrations").await;
        items(&r).clone()
    }

    /// Waits until `token` has exactly `n` registrations, all with `status`.
    pub async fn registrations_all(&self, token: &str, n: usize, status: &str) -> Vec<Value> {
        eventually(WAIT, &format!("{n} registrations {status}"), || async {
            let regs = self.registrations(token).await;
            (regs.len() == n && regs.iter().all(|r| r["status"] == status)).then_some(regs)
        })
        .await
    }
    /// Waits until the event flow has come to rest: the positive signal to wait for before
    /// asserting that something did *not* happen. It holds when every service's outbox is
    /// published (every event a decision wrote is on the stream), every durable consumer of this
    /// test's streams (registration's order consumer among them) has acknowledged everything it
    /// was sent, and no message reached the streams while this was being checked.
    pub async fn settled(&self) {
        let mut outboxes = Vec::new();
        for schema in ["catalog", "cart_order", "payment", "registration", "payout"] {
            outboxes.push(self.env.schema(schema).await);
        }
        let js = async_nats::jetstream::new(async_nats::connect(&self.env.nats_url).await.unwrap());
        let streams = ["COMMERCE", "INBOUND"].map(|s| format!("{s}{}", self.env.stream_suffix));
        let published = || async {
            for db in &outboxes {
                if bus::outbox::pending(db).await.ok()? > 0 {
                    return None;
                }
            }
            Some(())
        };
        eventually(WAIT, "the event flow settled", || async {
            let before = last_sequences(&js, &streams).await?;
            published().await?;
            let mut consumers = Vec::new();
            for name in &streams {
                let stream = js.get_stream(name).await.ok()?;
                let infos: Vec<_> = stream.consumers().try_collect().await.ok()?;
                for c in infos {
                    if c.num_pending > 0 || c.num_ack_pending > 0 {
                        return None;
                    }
                    consumers.push(c.name);
                }
            }
            if !consumers.iter().any(|c| c == registration::ORDERS_CONSUMER) {
                return None;
            }
            published().await?;
            (last_sequences(&js, &streams).await? == before).then_some(())
        })
        .await;
    }
}

/// The last sequence of each stream, or `None` when one cannot be read.
async fn last_sequences(
    js: &async_nats::jetstream::Context,
    streams: &[String],
) -> Option<Vec<u64>> {
    let mut seqs = Vec::new();
    for name in streams {
        let mut stream = js.get_stream(name).await.ok()?;
        seqs.push(stream.info().await.ok()?.state.last_sequence);
    }
    Some(seqs)
}

/// The catalog the happy-path tests buy from: course A alone (49.00) and a program of courses B
/// (59.00) and C (79.00) priced as a bundle (110.00); together 159.00.
pub struct Basket {
    pub a: String,
    pub c: String,
    pub p: String,
}

impl Basket {
    pub async fn stock(shop: &Shop) -> Basket {
        let a = shop.course("lms-a", 4900, false).await;
        let b = shop.course("lms-b", 5900, false).await;
        let c = shop.course("lms-c", 7900, false).await;
        let p = shop.program(&[&b, &c], 11_000).await;
        Basket { a, c, p }
    }

    /// Course A and the program in `learner`'s cart, checked out; returns the order id.
    pub async fn check_out(&self, shop: &Shop, learner: &str) -> String {
        shop.add(learner, "course", &self.a).await;
        shop.add(learner, "program", &self.p).await;
        let order = shop.checkout(learner).await;
        order["id"].as_str().unwrap().to_string()
    }
}

/// `learner-1` has bought the whole [`Basket`] with a good card: the order is completed and
/// its three courses are enrolled.
pub struct Bought {
    pub basket: Basket,
    pub learner: String,
    pub oid: String,
    pub paid: Value,
    pub regs: Vec<Value>,
}

impl Bought {
    pub async fn everything(shop: &Shop) -> Bought {
        let basket = Basket::stock(shop).await;
        let learner = shop.learner("learner-1");
        let oid = basket.check_out(shop, &learner).await;
        let paid = shop.pay(&learner, &oid, "pm_card_visa").await;
        shop.order_status(&learner, &oid, "completed").await;
        let regs = shop.registrations_all(&learner, 3, "enrolled").await;
        Bought {
            basket,
            learner,
            oid,
            paid,
            regs,
        }
    }
}

/// The typed helpers' own guard: a list read that the platform refuses fails loudly, with the
/// status, instead of reading as an empty list ("another learner sees nothing" on a 401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "expected 200 OK, got 401 Unauthorized")]
async fn a_refused_list_read_panics_instead_of_reading_as_empty() {
    let shop = Shop::open(&[]).await;
    shop.registrations("not-a-token").await;
}

/// One host per service on ports chosen before any starts, so each knows every other's URL:
/// the gateway's upstreams and every service's internal URLs name them all. Returns the gateway's
/// host and the others.
async fn spawn_split(
    env: &TestEnv,
    common: &[(&str, String)],
    factories: &[Arc<dyn ServiceFactory>],
) -> (TestApp, Vec<TestApp>) {
    let listeners: Vec<std::net::TcpListener> = factories
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(listeners);
    let mut routing: Vec<(String, String)> = Vec::new();
    for (f, port) in factories.iter().zip(&ports) {
        // Keys accept `_` for `-` (`cart_order`), as environment variables must.
        let key = f.name().replace('-', "_");
        let url = format!("http://127.0.0.1:{port}");
        if f.name() != "gateway" {
            routing.push((format!("gateway.upstreams.{key}"), url.clone()));
        }
        routing.push((format!("internal.urls.{key}"), url));
    }
    let mut gateway = None;
    let mut hosts = Vec::new();
    for (f, port) in factories.iter().zip(&ports) {
        let mut o: Vec<(&str, String)> = common.to_vec();
        o.extend(routing.iter().map(|(k, v)| (k.as_str(), v.clone())));
        o.push(("http.port", port.to_string()));
        // Eight hosts share Postgres with the tests running beside this one.
        o.push(("database.max_connections", "3".into()));
        let app = TestApp::spawn(env.settings(&o), factories, &[f.name()]).await;
        if f.name() == "gateway" {
            gateway = Some(app);
        } else {
            hosts.push(app);
        }
    }
    (gateway.expect("the registry has a gateway"), hosts)
}

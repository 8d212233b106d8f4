//! A small demo catalog, created through the public API (so it exercises the same paths a UI
//! does). Safe to run twice: existing items are left alone.

use reqwest::StatusCode;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct SeedError(pub String);

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

async fn send(
    client: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Result<(StatusCode, Value), SeedError> {
    let r = client
        .request(method, &url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| SeedError(format!("{url}: {e}")))?;
    let status = r.status();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    if !status.is_success() && status != StatusCode::CONFLICT {
        return Err(SeedError(format!("{url}: {status} {v}")));
    }
    Ok((status, v))
}

/// Seeds departments, courses with prices (three in Computer Science, one each in Music and
/// Nursing, which `make run` routes to Square and Converge), a program bundle, plans and a EUR
/// rate.
pub async fn seed(base: &str, admin_token: &str) -> Result<(), SeedError> {
    let c = reqwest::Client::new();
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    send(
        &c,
        admin_token,
        put.clone(),
        format!("{base}/api/v2/admin/catalog/departments/cs"),
        json!({"name": "Computer Science"}),
    )
    .await?;
    send(
        &c,
        admin_token,
        put.clone(),
        format!("{base}/api/v2/admin/catalog/departments/cs-ai"),
        json!({"name": "Artificial Intelligence", "parentId": "cs"}),
    )
    .await?;
    for (id, name) in [("music", "Music"), ("nursing", "Nursing")] {
        send(
            &c,
            admin_token,
            put.clone(),
            format!("{base}/api/v2/admin/catalog/departments/{id}"),
            json!({ "name": name }),
        )
        .await?;
    }
    let existing = c
        .get(format!(
            "{base}/api/v2/admin/catalog/courses?department=cs&limit=100"
        ))
        .bearer_auth(admin_token)
        .send()
        .await
        .map_err(|e| SeedError(e.to_string()))?
        .json::<Value>()
        .await
        .map_err(|e| SeedError(e.to_string()))?;
    if existing["items"].as_array().is_some_and(|a| !a.is_empty()) {
        return Ok(());
    }
    let courses = [
        (
            "lms-cs101",
            "Introduction to Programming",
            4900,
            false,
            "cs",
        ),
        ("lms-cs201", "Data Structures", 5900, false, "cs"),
        ("lms-cs301", "Distributed Systems", 7900, true, "cs"),
        ("lms-mu101", "Music Theory", 3900, false, "music"),
        ("lms-nu101", "Clinical Foundations", 6900, false, "nursing"),
    ];
    let mut ids = Vec::new();
    for (lms, title, price, approval, department) in courses {
        let (_, course) = send(
            &c,
            admin_token,
            post.clone(),
            format!("{base}/api/v2/admin/catalog/courses"),
            json!({
                "lmsCourseId": lms, "title": title, "departmentId": department,
                "description": format!("{title}: a Cadence course."),
                "contentCreatorId": "creator-1", "instructorId": "instructor-1",
                "approvalRequired": approval, "published": true,
                "revenueSplit": {"platform": 0.3, "creator": 0.4, "instructor": 0.3}
            }),
        )
        .await?;
        let id = course["id"]
            .as_str()
            .ok_or_else(|| SeedError(format!("no course id in {course}")))?
            .to_string();
        send(
            &c,
            admin_token,
            post.clone(),
            format!("{base}/api/v2/admin/pricing"),
            json!({
                "courseId": id, "priceType": "one-time", "currency": "USD", "basePrice": price
            }),
        )
        .await?;
        if department == "cs" {
            ids.push(id);
        }
    }
    let (_, program) = send(&c, admin_token, post.clone(), format!("{base}/api/v2/admin/catalog/programs"), json!({
        "title": "Software Engineering Track", "departmentId": "cs", "courseIds": ids, "published": true
    }))
    .await?;
    let pid = program["id"]
        .as_str()
        .ok_or_else(|| SeedError(format!("no program id in {program}")))?;
    send(
        &c,
        admin_token,
        post.clone(),
        format!("{base}/api/v2/admin/pricing"),
        json!({
            "programId": pid, "priceType": "one-time", "currency": "USD", "basePrice": 14900
        }),
    )
    .await?;
    for (interval, price, trial) in [("monthly", 2900, 14), ("annual", 29000, 0)] {
        send(&c, admin_token, post.clone(), format!("{base}/api/v2/admin/pricing"), json!({
            "departmentId": "cs", "priceType": "subscription", "currency": "USD", "basePrice": price,
            "subscription": {"interval": interval, "trialDays": trial}
        }))
        .await?;
    }
    send(
        &c,
        admin_token,
        put,
        format!("{base}/api/v2/admin/catalog/exchange-rates/EUR"),
        json!({"rate": "0.92"}),
    )
    .await?;
    Ok(())
}
impl std::error::Error for SeedError {}

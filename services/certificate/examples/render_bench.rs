//! How large and how fast a certificate PDF is, in the build it runs in:
//! `cargo run --release -p certificate --example render_bench [N]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use certificate::domain::template::{Design, Layout, Signature};
use certificate::pdf::{Printed, render};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let number = "CERT-2026-7K3M9QX2R4TPW8YZ".to_string();
    let printed = Printed {
        recipient_name: "Zoë Łukasiewicz-Nguyễn".into(),
        course_name: "Σοφία Κωνσταντίνου: Distributed Systems".into(),
        certificate_type: "course".into(),
        completion_date: "28 November 2026".into(),
        issue_date: "28 November 2026".into(),
        expiry_date: Some("28 November 2027".into()),
        verification_url: format!(
            "https://commerce.example.edu/api/v2/certificates/verify/{number}"
        ),
        number,
        revoked: None,
    };
    for (layout, font, background) in [
        (Layout::Landscape, "DejaVu Sans", None),
        (Layout::Portrait, "DejaVu Serif", None),
        (
            Layout::Landscape,
            "DejaVu Sans",
            Some(gradient_png(1600, 1100)),
        ),
    ] {
        let with_background = background.is_some();
        let design = Design {
            layout,
            font_family: font.into(),
            background_image: background,
            signatures: vec![
                Signature {
                    name: "Ada Lovelace".into(),
                    title: "Dean".into(),
                    signature_image: None,
                },
                Signature {
                    name: "Дмитрий Шостакович".into(),
                    title: "Programme director".into(),
                    signature_image: None,
                },
            ],
            ..Design::default()
        };
        let first = Instant::now();
        let pdf = render(&design, &printed).unwrap();
        let cold = first.elapsed();
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let out = render(&design, &printed).unwrap();
            times.push(t.elapsed());
            assert_eq!(out.len(), pdf.len());
        }
        times.sort();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:?} {font}{}: {} bytes ({:.0} KB); first render {:.1} ms (loads the fonts); \
             then over {n}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            layout,
            if with_background {
                " with a 1600x1100 background"
            } else {
                ""
            },
            pdf.len(),
            pdf.len() as f64 / 1024.0,
            ms(cold),
            ms(times[n / 2]),
            ms(times[n * 99 / 100]),
            ms(times[n - 1]),
        );
    }
}

/// A PNG with a smooth two-colour gradient, like a designed certificate background.
fn gradient_png(w: u32, h: u32) -> String {
    use base64::Engine;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 200])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageOutputFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(out)
}

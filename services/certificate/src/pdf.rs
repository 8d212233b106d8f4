//! The certificate as a PDF (genpdf): the department's design, the recipient, what was completed,
//! the dates, the number, the signatures, and the verification URL printed and as a QR code.
//!
//! Fonts are the DejaVu subsets shipped in `fonts/` (Latin, Greek, Cyrillic, Vietnamese), loaded
//! once per process. The QR code is drawn as vector lines, so it stays sharp at any zoom. A
//! template's background is scaled to at most 800 px and washed out behind the text; signature
//! images to at most 600 × 200 px above each signature line.

use crate::domain::template::{self, Design, Layout};
use genpdf::elements::{Break, Paragraph, TableLayout};
use genpdf::fonts::{FontData, FontFamily};
use genpdf::style::{Color, Style};
use genpdf::{Alignment, Element, Mm, Position, RenderResult, Rotation, Scale, Size};
use image::GenericImageView;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything printed on a certificate.
#[derive(Debug, Clone)]
pub struct Printed {
    pub recipient_name: String,
    /// The course or program name.
    pub course_name: String,
    /// `course` or `program`.
    pub certificate_type: String,
    pub completion_date: String,
    pub issue_date: String,
    pub expiry_date: Option<String>,
    pub number: String,
    pub verification_url: String,
    /// Set when the certificate is revoked: printed across the page.
    pub revoked: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("font: {0}")]
    Font(String),
    #[error("render: {0}")]
    Render(String),
    #[error("qr code: {0}")]
    Qr(String),
    #[error("image: {0}")]
    Image(String),
}

/// Decodes a stored template image and fits it within `max_w` × `max_h` pixels, composited on
/// white (PDF images here carry no transparency); `wash` keeps that share of the ink (0–100).
fn decode_image(
    b64: &str,
    max_w: u32,
    max_h: u32,
    wash: u32,
) -> Result<Arc<image::DynamicImage>, PdfError> {
    use sha2::{Digest, Sha256};
    type Cache = Mutex<HashMap<[u8; 32], Arc<image::DynamicImage>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut h = Sha256::new();
    h.update(b64.as_bytes());
    h.update([max_w, max_h, wash].map(u32::to_le_bytes).concat());
    let key: [u8; 32] = h.finalize().into();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(img) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(img.clone());
    }
    let img = Arc::new(decode_uncached(b64, max_w, max_h, wash)?);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    // A handful of templates are in use at a time; a full cache starts over.
    if map.len() >= IMAGE_CACHE_ENTRIES {
        map.clear();
    }
    map.insert(key, img.clone());
    Ok(img)
}

/// Decoded template images kept in memory (each at most 800 × 800 RGB, under 2 MB).
const IMAGE_CACHE_ENTRIES: usize = 32;

fn decode_uncached(
    b64: &str,
    max_w: u32,
    max_h: u32,
    wash: u32,
) -> Result<image::DynamicImage, PdfError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| PdfError::Image(e.to_string()))?;
    let img = image::load_from_memory(&bytes).map_err(|e| PdfError::Image(e.to_string()))?;
    let img = if img.width() > max_w || img.height() > max_h {
        img.resize(max_w, max_h, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let rgba = img.to_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (x, y, p) in rgba.enumerate_pixels() {
        let a = u32::from(p[3]);
        let px = |c: u8| {
            let on_white = (u32::from(c) * a + 255 * (255 - a)) / 255;
            let washed = 255 - (255 - on_white) * wash / 100;
            u8::try_from(washed).unwrap_or(255)
        };
        rgb.put_pixel(x, y, image::Rgb([px(p[0]), px(p[1]), px(p[2])]));
    }
    Ok(image::DynamicImage::ImageRgb8(rgb))
}

/// Millimetres per pixel at the DPI images are placed with.
const IMAGE_DPI: f64 = 300.0;

fn image_mm(px: u32) -> f64 {
    f64::from(px) / IMAGE_DPI * 25.4
}

struct Faces {
    sans: FontFamily<FontData>,
    serif: FontFamily<FontData>,
}

/// A family of two embedded faces, regular and bold: the layout uses no italics. genpdf wants
/// four, and embeds each it is given; the italic slots name the viewer's built-in fonts (with
/// the regular face's metrics), so they cost nothing and are never drawn.
fn family(
    regular: &'static [u8],
    bold: &'static [u8],
    builtin: [printpdf::BuiltinFont; 2],
) -> Result<FontFamily<FontData>, PdfError> {
    let load = |b: &'static [u8], builtin: Option<printpdf::BuiltinFont>| {
        FontData::new(b.to_vec(), builtin).map_err(|e| PdfError::Font(e.to_string()))
    };
    Ok(FontFamily {
        regular: load(regular, None)?,
        bold: load(bold, None)?,
        italic: load(regular, Some(builtin[0]))?,
        bold_italic: load(bold, Some(builtin[1]))?,
    })
}

fn faces() -> Result<&'static Faces, PdfError> {
    use printpdf::BuiltinFont::*;
    static FACES: OnceLock<Result<Faces, String>> = OnceLock::new();
    FACES
        .get_or_init(|| {
            let load = || -> Result<Faces, PdfError> {
                Ok(Faces {
                    sans: family(
                        include_bytes!("../fonts/DejaVuSans-Regular.ttf"),
                        include_bytes!("../fonts/DejaVuSans-Bold.ttf"),
                        [HelveticaOblique, HelveticaBoldOblique],
                    )?,
                    serif: family(
                        include_bytes!("../fonts/DejaVuSerif-Regular.ttf"),
                        include_bytes!("../fonts/DejaVuSerif-Bold.ttf"),
                        [TimesItalic, TimesBoldItalic],
                    )?,
                })
            };
            load().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PdfError::Font(e.clone()))
}

/// The value of a template variable on this certificate.
pub fn variable(p: &Printed, name: &str) -> Option<String> {
    Some(match name {
        "recipientName" => p.recipient_name.clone(),
        "courseName" => p.course_name.clone(),
        "certificateType" => p.certificate_type.clone(),
        "completionDate" => p.completion_date.clone(),
        "issueDate" => p.issue_date.clone(),
        "expiryDate" => p.expiry_date.clone().unwrap_or_else(|| "never".into()),
        "certificateNumber" => p.number.clone(),
        "verificationUrl" => p.verification_url.clone(),
        _ => return None,
    })
}

/// Renders `p` in `design` to PDF bytes.
pub fn render(design: &Design, p: &Printed) -> Result<Vec<u8>, PdfError> {
    let faces = faces()?;
    let fonts = if design.font_family == "DejaVu Serif" {
        faces.serif.clone()
    } else {
        faces.sans.clone()
    };
    let (r, g, b) = template::parse_color(&design.primary_color).unwrap_or((0x1F, 0x3A, 0x93));
    let primary = Color::Rgb(r, g, b);
    let mut doc = genpdf::Document::new(fonts);
    doc.set_title(format!("{} — {}", design.title_text, p.number));
    doc.set_minimal_conformance();
    let a4 = Size::new(210, 297);
    let landscape = design.layout == Layout::Landscape;
    doc.set_paper_size(if landscape { Size::new(297, 210) } else { a4 });
    let background = match &design.background_image {
        Some(b64) => Some(decode_image(b64, 800, 800, 35)?),
        None => None,
    };
    doc.set_page_decorator(Border {
        color: primary,
        background,
    });
    doc.set_font_size(12);
    let fill = |t: &str| template::substitute(t, |n| variable(p, n));
    // The element carries the style too: genpdf measures a line by its element's style, so a
    // large string in a default-sized element would overlap the line above.
    let center = |text: String, style: Style| {
        let mut para = Paragraph::new(genpdf::style::StyledString::new(text, style));
        para.set_alignment(Alignment::Center);
        para.styled(style)
    };
    doc.push(Break::new(if landscape { 0.5 } else { 3.0 }));
    doc.push(center(
        fill(&design.title_text),
        Style::new().bold().with_font_size(30).with_color(primary),
    ));
    doc.push(Break::new(2.0));
    doc.push(center("awarded to".into(), Style::new().with_font_size(12)));
    doc.push(Break::new(0.5));
    doc.push(center(
        p.recipient_name.clone(),
        Style::new().bold().with_font_size(26),
    ));
    doc.push(Break::new(1.0));
    doc.push(center(
        fill(&design.body_template),
        Style::new().with_font_size(14),
    ));
    doc.push(Break::new(0.5));
    doc.push(center(
        p.course_name.clone(),
        Style::new().bold().with_font_size(18).with_color(primary),
    ));
    if let Some(revoked) = &p.revoked {
        doc.push(Break::new(0.5));
        doc.push(center(
            revoked.clone(),
            Style::new()
                .bold()
                .with_font_size(16)
                .with_color(Color::Rgb(200, 0, 0)),
        ));
    }
    doc.push(Break::new(if landscape { 2.0 } else { 6.0 }));
    if !design.signatures.is_empty() {
        let mut table = TableLayout::new(vec![1; design.signatures.len()]);
        let mut row = table.row();
        for s in &design.signatures {
            let mut cell = genpdf::elements::LinearLayout::vertical();
            if let Some(b64) = &s.signature_image {
                let img = decode_image(b64, 600, 200, 100)?;
                // At most 45 mm wide and 15 mm high on the page.
                let (w, h) = (image_mm(img.width()), image_mm(img.height()));
                let k = (45.0 / w).min(15.0 / h);
                let picture = genpdf::elements::Image::from_dynamic_image((*img).clone())
                    .map_err(|e| PdfError::Image(e.to_string()))?
                    .with_alignment(Alignment::Center)
                    .with_dpi(IMAGE_DPI)
                    .with_scale(Scale::new(k, k));
                cell.push(picture);
            }
            cell.push(center("______________________".into(), Style::new()));
            cell.push(center(fill(&s.name), Style::new().bold()));
            cell.push(center(fill(&s.title), Style::new().with_font_size(10)));
            row.push_element(cell);
        }
        row.push().map_err(|e| PdfError::Render(e.to_string()))?;
        doc.push(table);
        doc.push(Break::new(2.0));
    }
    let mut footer = TableLayout::new(vec![3, 1]);
    let mut facts = genpdf::elements::LinearLayout::vertical();
    let small = Style::new().with_font_size(10);
    facts.push(Paragraph::new(genpdf::style::StyledString::new(
        format!("Certificate number: {}", p.number),
        small.bold(),
    )));
    facts.push(Paragraph::new(genpdf::style::StyledString::new(
        format!(
            "Completed: {}   Issued: {}",
            p.completion_date, p.issue_date
        ),
        small,
    )));
    if let Some(exp) = &p.expiry_date {
        facts.push(Paragraph::new(genpdf::style::StyledString::new(
            format!("Valid until: {exp}"),
            small,
        )));
    }
    facts.push(Paragraph::new(genpdf::style::StyledString::new(
        "Scan the code or open the address below to verify this certificate.".to_string(),
        small,
    )));
    footer
        .row()
        .element(facts)
        .element(QrCode::new(&p.verification_url)?)
        .push()
        .map_err(|e| PdfError::Render(e.to_string()))?;
    doc.push(footer);
    // Full width: a URL has no space to wrap at, and a paragraph drops a word wider than it.
    let url_style = Style::new().with_font_size(9).with_color(primary);
    doc.push(
        Paragraph::new(genpdf::style::StyledString::new(
            p.verification_url.clone(),
            url_style,
        ))
        .styled(url_style),
    );
    let mut out = Vec::with_capacity(256 * 1024);
    doc.render(&mut out)
        .map_err(|e| PdfError::Render(e.to_string()))?;
    Ok(out)
}

/// The background image (stretched to the page) and a frame in the primary colour, inside a
/// 10 mm margin; content starts 22 mm in.
struct Border {
    color: Color,
    background: Option<Arc<image::DynamicImage>>,
}

impl genpdf::PageDecorator for Border {
    fn decorate_page<'a>(
        &mut self,
        _context: &genpdf::Context,
        mut area: genpdf::render::Area<'a>,
        _style: Style,
    ) -> Result<genpdf::render::Area<'a>, genpdf::error::Error> {
        let size = area.size();
        if let Some(img) = &self.background {
            let (w, h) = (image_mm(img.width()), image_mm(img.height()));
            let scale = Scale::new(f64::from(size.width) / w, f64::from(size.height) / h);
            // Placed by its lower left corner: the bottom of the page.
            area.add_image(
                img,
                Position::new(0, size.height),
                scale,
                Rotation::from_degrees(0.0),
                Some(IMAGE_DPI),
            );
        }
        let style = Style::new().with_color(self.color);
        // Three strokes side by side make a 1 mm frame; one more, inset, makes it double.
        for inset in [10.0, 10.35, 10.7, 12.5] {
            let (x0, y0) = (Mm::from(inset), Mm::from(inset));
            let x1 = size.width - Mm::from(inset);
            let y1 = size.height - Mm::from(inset);
            area.draw_line(
                vec![
                    Position::new(x0, y0),
                    Position::new(x1, y0),
                    Position::new(x1, y1),
                    Position::new(x0, y1),
                    Position::new(x0, y0),
                ],
                style,
            );
        }
        area.add_margins(genpdf::Margins::all(22));
        Ok(area)
    }
}

/// One point, the width of every stroke genpdf draws.
const STROKE_MM: f64 = 25.4 / 72.0;
/// Two strokes per module row: about 0.71 mm per module, 29 mm for the code of a typical URL
/// (version 4, 33 modules, with its quiet zone): read at 150 dpi and by phone cameras.
const STROKES_PER_MODULE: usize = 2;
/// The quiet zone the QR specification asks for, in modules.
const QUIET: usize = 4;

/// A QR code element: dark modules drawn as runs of horizontal strokes.
pub struct QrCode {
    width: usize,
    dark: Vec<bool>,
}

impl QrCode {
    pub fn new(payload: &str) -> Result<QrCode, PdfError> {
        let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
            .map_err(|e| PdfError::Qr(e.to_string()))?;
        Ok(QrCode {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect(),
        })
    }

    fn module_mm() -> f64 {
        STROKE_MM * STROKES_PER_MODULE as f64
    }

    /// The side of the printed code with its quiet zone.
    pub fn side_mm(&self) -> f64 {
        (self.width + 2 * QUIET) as f64 * Self::module_mm()
    }
}

impl Element for QrCode {
    fn render(
        &mut self,
        _context: &genpdf::Context,
        area: genpdf::render::Area<'_>,
        _style: Style,
    ) -> Result<RenderResult, genpdf::error::Error> {
        let side = self.side_mm();
        // Right-aligned in its cell.
        let left = (f64::from(area.size().width) - side).max(0.0);
        let m = Self::module_mm();
        let black = Style::new().with_color(Color::Rgb(0, 0, 0));
        for row in 0..self.width {
            let mut col = 0;
            while col < self.width {
                if !self.dark[row * self.width + col] {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < self.width && self.dark[row * self.width + col] {
                    col += 1;
                }
                let x0 = left + (QUIET + start) as f64 * m;
                let x1 = left + (QUIET + col) as f64 * m;
                for k in 0..STROKES_PER_MODULE {
                    let y = (QUIET + row) as f64 * m + (k as f64 + 0.5) * STROKE_MM;
                    area.draw_line(vec![Position::new(x0, y), Position::new(x1, y)], black);
                }
            }
        }
        Ok(RenderResult {
            size: Size::new(area.size().width, side),
            has_more: false,
        })
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::disallowed_methods)]
mod tests {
    use super::*;

    pub fn printed(name: &str) -> Printed {
        Printed {
            recipient_name: name.into(),
            course_name: "Distributed Systems".into(),
            certificate_type: "course".into(),
            completion_date: "2026-11-28".into(),
            issue_date: "2026-11-28".into(),
            expiry_date: None,
            number: "CERT-2026-0123456789ABCDEF".into(),
            verification_url:
                "https://commerce.example/api/v2/certificates/verify/CERT-2026-0123456789ABCDEF"
                    .into(),
            revoked: None,
        }
    }

    #[test]
    fn renders_every_script_in_both_layouts_and_fonts() {
        for name in [
            "Zoë Łukasiewicz-Nguyễn",
            "Σοφία Κωνσταντίνου",
            "Дмитрий Шостакович",
        ] {
            for (layout, font) in [
                (Layout::Landscape, "DejaVu Sans"),
                (Layout::Portrait, "DejaVu Serif"),
            ] {
                let mut d = Design::default();
                d.layout = layout;
                d.font_family = font.into();
                d.signatures = vec![template::Signature {
                    name: "Ada Lovelace".into(),
                    title: "Dean".into(),
                    signature_image: None,
                }];
                let pdf = render(&d, &printed(name)).unwrap();
                assert_eq!(pages(&pdf), 1, "everything fits on one page");
                if let Ok(dir) = std::env::var("CERT_PDF_DIR") {
                    let file = format!("{dir}/{}-{}.pdf", layout.as_str(), name.len());
                    std::fs::write(file, &pdf).unwrap();
                }
                assert!(pdf.starts_with(b"%PDF-"));
                // A debug build leaves the page and font maps uncompressed; a release build
                // compresses them (measured in the issue note: about 420 KB).
                let limit = if cfg!(debug_assertions) { 640 } else { 500 };
                assert!(pdf.len() < limit * 1024, "{} bytes", pdf.len());
            }
        }
    }

    fn pages(pdf: &[u8]) -> usize {
        pdf.windows(b"/Type/Page/".len())
            .filter(|w| w == b"/Type/Page/")
            .count()
    }

    fn png(w: u32, h: u32) -> String {
        use base64::Engine;
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                128,
                if x < w / 2 { 255 } else { 0 },
            ])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut out, image::ImageOutputFormat::Png)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    #[test]
    fn background_and_signature_images_are_drawn() {
        let mut d = Design::default();
        d.background_image = Some(png(1600, 1100));
        d.signatures = vec![template::Signature {
            name: "Ada Lovelace".into(),
            title: "Dean".into(),
            signature_image: Some(png(300, 100)),
        }];
        assert!(d.validate().is_ok());
        let with = render(&d, &printed("Zoë")).unwrap();
        if let Ok(dir) = std::env::var("CERT_PDF_DIR") {
            std::fs::write(format!("{dir}/images.pdf"), &with).unwrap();
        }
        let without = render(&Design::default(), &printed("Zoë")).unwrap();
        assert_eq!(pages(&with), 1, "everything fits on one page");
        let images = |pdf: &[u8]| {
            pdf.windows(b"/Subtype /Image".len())
                .filter(|w| w == b"/Subtype /Image")
                .count()
                + pdf
                    .windows(b"/Subtype/Image".len())
                    .filter(|w| w == b"/Subtype/Image")
                    .count()
        };
        assert_eq!(images(&without), 0);
        assert_eq!(images(&with), 2, "the background and the signature");
        let mut bad = Design::default();
        bad.background_image = Some("iVBORw0KGgo=".into());
        assert!(matches!(
            render(&bad, &printed("Zoë")),
            Err(PdfError::Image(_))
        ));
    }

    #[test]
    fn template_variables_are_filled_from_the_certificate() {
        let p = printed("Zoë");
        assert_eq!(variable(&p, "recipientName").as_deref(), Some("Zoë"));
        assert_eq!(variable(&p, "expiryDate").as_deref(), Some("never"));
        for v in template::VARIABLES {
            assert!(variable(&p, v).is_some(), "{v}");
        }
    }

    #[test]
    fn the_qr_code_fits_beside_the_facts() {
        let q = QrCode::new(&printed("x").verification_url).unwrap();
        assert!(q.side_mm() < 32.0, "{}", q.side_mm());
    }
}

//! Certificate templates (the spec's `ICertificateTemplate`): what an admin may save, and the
//! substitution of `{{variables}}` into its texts. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// Every variable a template may use.
pub const VARIABLES: &[&str] = &[
    "recipientName",
    "courseName",
    "certificateType",
    "completionDate",
    "issueDate",
    "expiryDate",
    "certificateNumber",
    "verificationUrl",
];

/// The font families the project ships (`services/certificate/fonts`).
pub const FONT_FAMILIES: &[&str] = &["DejaVu Sans", "DejaVu Serif"];

/// Largest stored image (background or signature), decoded.
pub const MAX_IMAGE_BYTES: usize = 256 * 1024;
/// Largest side of a stored image, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 4_000;
pub const MAX_TEXT: usize = 2_000;
pub const MAX_SIGNATURES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Portrait,
    Landscape,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Portrait => "portrait",
            Layout::Landscape => "landscape",
        }
    }
    pub fn parse(s: &str) -> Option<Layout> {
        match s {
            "portrait" => Some(Layout::Portrait),
            "landscape" => Some(Layout::Landscape),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    pub name: String,
    pub title: String,
    /// A PNG or JPEG as base64 (at most 256 KiB decoded), stored with the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_image: Option<String>,
}

/// The design a department gives its certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Design {
    pub name: String,
    pub layout: Layout,
    pub title_text: String,
    /// Text with `{{variables}}` from [`VARIABLES`].
    pub body_template: String,
    #[serde(default)]
    pub signatures: Vec<Signature>,
    /// One of the shipped families: `DejaVu Sans`, `DejaVu Serif`.
    pub font_family: String,
    /// `#RRGGBB`.
    pub primary_color: String,
    /// A PNG or JPEG as base64 (at most 256 KiB decoded), stored with the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<String>,
}

/// A field that cannot be saved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Default for Design {
    /// The design of a department that has saved none.
    fn default() -> Design {
        Design {
            name: "Default".into(),
            layout: Layout::Landscape,
            title_text: "Certificate of Completion".into(),
            body_template: "has successfully completed the following {{certificateType}} \
                            on {{completionDate}}:"
                .into(),
            signatures: vec![],
            font_family: "DejaVu Sans".into(),
            primary_color: "#1F3A93".into(),
            background_image: None,
        }
    }
}

impl Design {
    /// Refuses what could not be rendered as the admin meant it: unknown variables, an unknown
    /// font, a colour that is not `#RRGGBB`, an image that is not a PNG/JPEG or is too large.
    pub fn validate(&self) -> Result<(), Invalid> {
        let text = |field: &str, v: &str, required: bool| {
            if required && v.trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
            if v.chars().count() > MAX_TEXT {
                return Err(invalid(field, format!("at most {MAX_TEXT} characters")));
            }
            variables_known(v).map_err(|r| invalid(field, r))
        };
        text("name", &self.name, true)?;
        text("titleText", &self.title_text, true)?;
        text("bodyTemplate", &self.body_template, true)?;
        if !FONT_FAMILIES.contains(&self.font_family.as_str()) {
            return Err(invalid(
                "fontFamily",
                format!("one of: {}", FONT_FAMILIES.join(", ")),
            ));
        }
        parse_color(&self.primary_color)
            .ok_or_else(|| invalid("primaryColor", "a colour as #RRGGBB"))?;
        if let Some(img) = &self.background_image {
            check_image(img).map_err(|r| invalid("backgroundImage", r))?;
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(invalid(
                "signatures",
                format!("at most {MAX_SIGNATURES} signatures"),
            ));
        }
        for (i, s) in self.signatures.iter().enumerate() {
            text(&format!("signatures[{i}].name"), &s.name, true)?;
            text(&format!("signatures[{i}].title"), &s.title, false)?;
            if let Some(img) = &s.signature_image {
                check_image(img)
                    .map_err(|r| invalid(format!("signatures[{i}].signatureImage"), r))?;
            }
        }
        Ok(())
    }
}

/// `#RRGGBB` → (r, g, b).
pub fn parse_color(s: &str) -> Option<(u8, u8, u8)> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let p = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((p(0)?, p(2)?, p(4)?))
}

/// A base64 PNG or JPEG within the size limit.
fn check_image(b64: &str) -> Result<(), String> {
    use base64::Engine;
    // Base64 is 4/3 of the bytes: refuse what is too large before decoding it.
    if b64.len() > MAX_IMAGE_BYTES / 3 * 4 + 4 {
        return Err(format!("at most {} KiB", MAX_IMAGE_BYTES / 1024));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| "not base64".to_string())?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(format!("at most {} KiB", MAX_IMAGE_BYTES / 1024));
    }
    let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    if !(png || jpeg) {
        return Err("a PNG or JPEG image".into());
    }
    // Decoded now, not at the first download: the dimensions first (a small file can declare a
    // huge image), then the pixels.
    let reader = image::io::Reader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable image: {e}"))?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("unreadable image: {e}"))?;
    if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
        return Err(format!(
            "at most {MAX_IMAGE_SIDE} × {MAX_IMAGE_SIDE} pixels"
        ));
    }
    image::load_from_memory(&bytes).map_err(|e| format!("unreadable image: {e}"))?;
    Ok(())
}

/// Every `{{name}}` in `text` names a known variable, and every `{{` is closed.
pub fn variables_known(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` is never closed".to_string())?;
        let name = after[..end].trim();
        if !VARIABLES.contains(&name) {
            return Err(format!(
                "unknown variable `{{{{{name}}}}}`; known: {}",
                VARIABLES.join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// Replaces every `{{name}}` with its value (`text` was validated when it was saved; an
/// unknown name would stay as written).
pub fn substitute(text: &str, value_of: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match value_of(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::disallowed_methods)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn the_default_design_is_valid() {
        assert!(Design::default().validate().is_ok());
    }

    #[test]
    fn unknown_variables_are_refused_with_the_field() {
        let mut d = Design::default();
        d.body_template = "Hello {{recipientName}}, {{grade}}".into();
        let e = d.validate().unwrap_err();
        assert_eq!(e.field, "bodyTemplate");
        assert!(e.reason.contains("{{grade}}"), "{}", e.reason);
        d.body_template = "Hello {{recipientName".into();
        assert_eq!(d.validate().unwrap_err().field, "bodyTemplate");
        let mut d = Design::default();
        d.signatures = vec![Signature {
            name: "{{nope}}".into(),
            title: "Dean".into(),
            signature_image: None,
        }];
        assert_eq!(d.validate().unwrap_err().field, "signatures[0].name");
    }

    #[test]
    fn colours_fonts_and_images_are_checked() {
        for bad in ["blue", "#12345", "#GGGGGG", "123456", "#1234567"] {
            let mut d = Design::default();
            d.primary_color = bad.into();
            assert_eq!(d.validate().unwrap_err().field, "primaryColor", "{bad}");
        }
        assert_eq!(parse_color("#FF8000"), Some((255, 128, 0)));
        let mut d = Design::default();
        d.font_family = "Comic Sans".into();
        assert_eq!(d.validate().unwrap_err().field, "fontFamily");
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let encode = |w: u32, h: u32| {
            let mut out = Vec::new();
            image::DynamicImage::ImageRgb8(image::RgbImage::new(w, h))
                .write_to(&mut out, image::ImageOutputFormat::Png)
                .unwrap();
            out
        };
        let mut d = Design::default();
        d.background_image = Some(b64(&encode(40, 30)));
        assert!(d.validate().is_ok());
        // A PNG header followed by junk is not an image.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend([0u8; 100]);
        d.background_image = Some(b64(&png));
        assert_eq!(d.validate().unwrap_err().field, "backgroundImage");
        d.background_image = Some(b64(&encode(4_001, 1)));
        assert_eq!(d.validate().unwrap_err().field, "backgroundImage");
        png.resize(MAX_IMAGE_BYTES + 1, 0);
        d.background_image = Some(b64(&png));
        assert_eq!(d.validate().unwrap_err().field, "backgroundImage");
        d.background_image = Some(b64(b"GIF89a..."));
        assert_eq!(d.validate().unwrap_err().field, "backgroundImage");
        d.background_image = Some("%%%".into());
        assert_eq!(d.validate().unwrap_err().field, "backgroundImage");
    }

    #[test]
    fn substitution_fills_every_variable() {
        let out = substitute("{{recipientName}} did {{ courseName }}.", |n| match n {
            "recipientName" => Some("Zoë".into()),
            "courseName" => Some("Rust".into()),
            _ => None,
        });
        assert_eq!(out, "Zoë did Rust.");
        assert_eq!(substitute("no vars", |_| None), "no vars");
        assert_eq!(substitute("{{x}} and {{", |_| None), "{{x}} and {{");
    }
}

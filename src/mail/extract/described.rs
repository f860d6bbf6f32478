//! Attachments that are not turned into text (images, archives, anything unknown) get a
//! one-line description instead: type, size and, for images, the pixel dimensions read from
//! the header by imagesize (no decoding). Their bytes never reach the text.

use super::{Attachment, Budget, Format};

/// Describes `attachment` into `out`.
pub fn describe(attachment: &Attachment, format: Format, out: &mut Budget<'_>) {
    let mime = attachment
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let mut line = format!("{mime}, {}", human_size(attachment.bytes.len()));
    if let Some(name) = &attachment.filename {
        line = format!("{name}: {line}");
    }
    if let Ok(size) = imagesize::blob_size(&attachment.bytes) {
        line.push_str(&format!(", {}×{} pixels", size.width, size.height));
    }
    line.push_str(match format {
        Format::Image => ". An image: it holds no text to read here.",
        _ => ". No text can be read from this type of file.",
    });
    out.push(&line);
}

/// `bytes` as a person reads a size: "512 bytes", "12.3 KB", "4.0 MB".
fn human_size(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    let size = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} bytes"),
        1024..1_048_576 => format!("{:.1} KB", size / KB),
        _ => format!("{:.1} MB", size / KB / KB),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::Limits;
    use super::*;

    /// The start of a PNG: its signature and IHDR (width 3, height 2), 29 bytes.
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x06\x00\x00\x00";

    #[test]
    fn images_are_described_with_their_dimensions_never_dumped() {
        let limits = Limits::default();
        let mut out = Budget::new(Format::Image, &limits, Instant::now() + limits.time);
        let image = Attachment {
            bytes: PNG.to_vec(),
            content_type: "image/png".into(),
            filename: Some("logo.png".into()),
        };
        describe(&image, Format::Image, &mut out);
        let text = out.finish(None).text;
        assert_eq!(
            text,
            "logo.png: image/png, 29 bytes, 3×2 pixels. An image: it holds no text to read here."
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(12_600), "12.3 KB");
        assert_eq!(human_size(4 * 1024 * 1024), "4.0 MB");
    }
}

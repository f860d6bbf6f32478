//! Reading a large message without downloading it whole. From the message's
//! BODYSTRUCTURE, a [`Plan`] says which sections to fetch in one FETCH: the header, each
//! part's MIME header, the text parts, every small part, and for a big attachment nothing
//! but (for base64) its last few hundred bytes. [`Plan::assemble`] then puts the sections
//! back together into a *skeleton*: the same MIME tree with the same headers, boundaries,
//! part ids and text, in which big attachments are empty. The skeleton reads like the
//! whole message ([`crate::mail::message::read_message`]) except for those attachments'
//! sizes, which the plan works out instead: exactly for 7bit/8bit/binary, from the
//! encoded length and line layout for base64, as the encoded length (an upper bound) for
//! quoted-printable. An attached message keeps its own header (for its name).
//!
//! Pure: no I/O. A structure it cannot rebuild (a multipart without a boundary) gives no
//! plan, and the caller fetches the whole message instead.

use std::collections::HashMap;

use async_imap::imap_proto::{
    BodyContentCommon, BodyContentSinglePart, BodyStructure, ContentEncoding, MessageSection,
    SectionPath,
};

/// Parts at most this big are fetched whole, whatever they are.
const SMALL_PART: u32 = 16 * 1024;

/// Text parts marked as attachments are fetched whole up to this size (a reader may show
/// them as the body when nothing else is).
const TEXT_ATTACHMENT_LIMIT: u32 = 1024 * 1024;

/// How much of the end of a skipped base64 part is fetched to work out its decoded size.
const TAIL: u32 = 256;

/// Which sections of a message to fetch, and how they fit together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    root: Node,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Multipart {
        path: Vec<u32>,
        boundary: String,
        children: Vec<Node>,
    },
    Leaf {
        path: Vec<u32>,
        content: Content,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Content {
    /// The part's bytes, fetched.
    Whole,
    /// An attached message: only its header is fetched; `octets` is its whole length.
    EmbeddedHeader { octets: u32 },
    /// Left out; its decoded size is worked out from `octets` (and the tail, for base64).
    Skipped { octets: u32, encoding: Encoding },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Identity,
    Base64,
    QuotedPrintable,
}

/// A message put back together from its sections, and the decoded sizes of the parts left
/// out of it, by IMAP part id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skeleton {
    pub raw: Vec<u8>,
    pub sizes: HashMap<String, usize>,
}

impl Plan {
    /// The plan for a message with this structure; `None` when it cannot be rebuilt.
    pub fn new(structure: &BodyStructure<'_>) -> Option<Plan> {
        let root = match structure {
            BodyStructure::Multipart { .. } => node(structure, Vec::new())?,
            // The body of a message that is not multipart is part 1.
            _ => node(structure, vec![1])?,
        };
        Some(Plan { root })
    }

    /// The FETCH items (inside the parentheses, without UID and FLAGS).
    pub fn items(&self) -> String {
        let mut items = vec!["BODY.PEEK[HEADER]".to_owned()];
        self.root.items(true, &mut items);
        items.join(" ")
    }

    /// The message rebuilt from the fetched sections (`section` looks one up); `None` when
    /// the server left one out.
    pub fn assemble<'a>(
        &self,
        section: impl Fn(&SectionPath) -> Option<&'a [u8]>,
    ) -> Option<Skeleton> {
        let mut raw = section(&SectionPath::Full(MessageSection::Header))?.to_vec();
        let mut sizes = HashMap::new();
        self.root.assemble(&section, &mut raw, &mut sizes)?;
        Some(Skeleton { raw, sizes })
    }
}

fn node(structure: &BodyStructure<'_>, path: Vec<u32>) -> Option<Node> {
    Some(match structure {
        BodyStructure::Multipart { common, bodies, .. } => {
            let boundary = param(common, "boundary")?.to_owned();
            let children = bodies
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut child = path.clone();
                    child.push(u32::try_from(i + 1).ok()?);
                    node(body, child)
                })
                .collect::<Option<Vec<_>>>()?;
            Node::Multipart {
                path,
                boundary,
                children,
            }
        }
        BodyStructure::Text { common, other, .. } => {
            let attachment = is_attachment(common);
            let content = match !attachment || other.octets <= TEXT_ATTACHMENT_LIMIT {
                true => Content::Whole,
                false => skipped(other),
            };
            Node::Leaf { path, content }
        }
        BodyStructure::Message { other, .. } => {
            let content = match (other.octets <= SMALL_PART, encoding(other)) {
                (true, _) => Content::Whole,
                // Only an unencoded message has a header to fetch on its own.
                (false, Encoding::Identity) => Content::EmbeddedHeader {
                    octets: other.octets,
                },
                (false, _) => skipped(other),
            };
            Node::Leaf { path, content }
        }
        BodyStructure::Basic { other, .. } => {
            let content = match other.octets <= SMALL_PART {
                true => Content::Whole,
                false => skipped(other),
            };
            Node::Leaf { path, content }
        }
    })
}

fn skipped(other: &BodyContentSinglePart<'_>) -> Content {
    Content::Skipped {
        octets: other.octets,
        encoding: encoding(other),
    }
}

fn encoding(other: &BodyContentSinglePart<'_>) -> Encoding {
    match other.transfer_encoding {
        ContentEncoding::Base64 => Encoding::Base64,
        ContentEncoding::QuotedPrintable => Encoding::QuotedPrintable,
        _ => Encoding::Identity,
    }
}

fn param<'a>(common: &'a BodyContentCommon<'_>, name: &str) -> Option<&'a str> {
    common
        .ty
        .params
        .as_ref()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_ref())
        .filter(|value| !value.is_empty())
}

fn is_attachment(common: &BodyContentCommon<'_>) -> bool {
    common
        .disposition
        .as_ref()
        .is_some_and(|d| d.ty.eq_ignore_ascii_case("attachment"))
}

fn dotted(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl Node {
    fn path(&self) -> &[u32] {
        match self {
            Node::Multipart { path, .. } | Node::Leaf { path, .. } => path,
        }
    }

    /// `root`: this node's header is the message header, not a MIME header of its own.
    fn items(&self, root: bool, items: &mut Vec<String>) {
        let id = dotted(self.path());
        if !root {
            items.push(format!("BODY.PEEK[{id}.MIME]"));
        }
        match self {
            Node::Multipart { children, .. } => {
                for child in children {
                    child.items(false, items);
                }
            }
            Node::Leaf { content, .. } => match content {
                Content::Whole => items.push(format!("BODY.PEEK[{id}]")),
                Content::EmbeddedHeader { .. } => items.push(format!("BODY.PEEK[{id}.HEADER]")),
                Content::Skipped {
                    octets,
                    encoding: Encoding::Base64,
                } if *octets > TAIL => {
                    items.push(format!("BODY.PEEK[{id}]<{}.{TAIL}>", octets - TAIL));
                }
                Content::Skipped { .. } => {}
            },
        }
    }

    fn assemble<'a>(
        &self,
        section: &impl Fn(&SectionPath) -> Option<&'a [u8]>,
        raw: &mut Vec<u8>,
        sizes: &mut HashMap<String, usize>,
    ) -> Option<()> {
        match self {
            Node::Multipart {
                boundary, children, ..
            } => {
                for child in children {
                    raw.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                    let mime = SectionPath::Part(child.path().to_vec(), Some(MessageSection::Mime));
                    raw.extend_from_slice(section(&mime)?);
                    child.assemble(section, raw, sizes)?;
                    raw.extend_from_slice(b"\r\n");
                }
                raw.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            Node::Leaf { path, content } => {
                let id = dotted(path);
                match content {
                    Content::Whole => {
                        raw.extend_from_slice(section(&SectionPath::Part(path.clone(), None))?);
                    }
                    Content::EmbeddedHeader { octets } => {
                        let header = SectionPath::Part(path.clone(), Some(MessageSection::Header));
                        raw.extend_from_slice(section(&header)?);
                        sizes.insert(id, *octets as usize);
                    }
                    Content::Skipped { octets, encoding } => {
                        let size = match encoding {
                            Encoding::Identity | Encoding::QuotedPrintable => *octets as usize,
                            Encoding::Base64 => {
                                let tail = section(&SectionPath::Part(path.clone(), None));
                                base64_decoded_size(*octets as usize, tail.unwrap_or_default())
                            }
                        };
                        sizes.insert(id, size);
                    }
                }
            }
        }
        Some(())
    }
}

/// The decoded size of a base64 part of `octets` encoded bytes whose last bytes are
/// `tail`. Encoders write lines of one length (76 characters and CRLF, mostly): the last
/// full line in the tail gives that length, the last line and its `=` padding come from the
/// tail too. When the tail does not fit that picture, an estimate for 76-character lines.
pub fn base64_decoded_size(octets: usize, tail: &[u8]) -> usize {
    let estimate = || (octets * 76 / 78) * 3 / 4;
    let text_end = tail
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let text = &tail[..text_end];
    let trailing = tail.len() - text_end;
    let padding = text.iter().rev().take_while(|&&b| b == b'=').count().min(2);
    if tail.len() >= octets {
        // The whole part: count its characters.
        let chars = text.iter().filter(|b| !b.is_ascii_whitespace()).count();
        return (chars / 4 * 3 + (chars % 4) * 3 / 4).saturating_sub(padding);
    }
    let mut breaks = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i);
    let (Some(last), Some(before)) = (breaks.next_back(), breaks.next_back()) else {
        return estimate();
    };
    let line_with_eol = last - before;
    let eol = if text[last - 1] == b'\r' { 2 } else { 1 };
    let line = line_with_eol.saturating_sub(eol);
    let last_line = text.len() - last - 1;
    let Some(full) = (octets - trailing).checked_sub(last_line) else {
        return estimate();
    };
    if line == 0 || full % line_with_eol != 0 {
        return estimate();
    }
    let chars = full / line_with_eol * line + last_line;
    (chars / 4 * 3 + (chars % 4) * 3 / 4).saturating_sub(padding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::imap_proto::{AttributeValue, Response};
    use base64::Engine;

    fn structure(bodystructure: &str) -> BodyStructure<'static> {
        let line = format!("* 1 FETCH (BODYSTRUCTURE {bodystructure})\r\n");
        let (_, response) = Response::parse(line.as_bytes()).expect("a FETCH line");
        let Response::Fetch(_, mut attributes) = response.into_owned() else {
            panic!("not a FETCH")
        };
        match attributes.remove(0) {
            AttributeValue::BodyStructure(s) => s,
            other => panic!("no BODYSTRUCTURE: {other:?}"),
        }
    }

    const TEXT: &str = r#"("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)"#;
    const BIG_PDF: &str = r#"("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 400000 NIL ("attachment" ("filename" "a.pdf")) NIL NIL)"#;
    const SMALL_PNG: &str = r#"("image" "png" NIL "<logo@x>" NIL "base64" 1000 NIL NIL NIL NIL)"#;

    /// Text and small parts are fetched whole, a big attachment only by its MIME header
    /// and (base64) its tail; nested multiparts get their MIME headers and dotted ids.
    #[test]
    fn plans_fetch_text_and_small_parts_and_only_the_tail_of_big_ones() {
        let s = structure(&format!(
            r#"(({TEXT}{SMALL_PNG} "related" ("boundary" "r") NIL NIL NIL){BIG_PDF} "mixed" ("boundary" "m") NIL NIL NIL)"#
        ));
        let plan = Plan::new(&s).unwrap();
        assert_eq!(
            plan.items(),
            "BODY.PEEK[HEADER] BODY.PEEK[1.MIME] BODY.PEEK[1.1.MIME] BODY.PEEK[1.1] \
             BODY.PEEK[1.2.MIME] BODY.PEEK[1.2] BODY.PEEK[2.MIME] BODY.PEEK[2]<399744.256>"
        );
        let single = Plan::new(&structure(TEXT)).unwrap();
        assert_eq!(single.items(), "BODY.PEEK[HEADER] BODY.PEEK[1]");
        let no_boundary = structure(&format!(r#"({TEXT} "mixed" NIL NIL NIL NIL)"#));
        assert_eq!(Plan::new(&no_boundary), None);
    }

    /// The skeleton is the message with the big part emptied: headers, boundaries and
    /// text as the server sent them, and the left-out part's decoded size on the side.
    #[test]
    fn skeletons_rebuild_the_tree_around_left_out_parts() {
        let s = structure(&format!(
            r#"({TEXT}{BIG_PDF} "mixed" ("boundary" "m") NIL NIL NIL)"#
        ));
        let plan = Plan::new(&s).unwrap();
        let tail = format!("{}\r\n{}\r\nAAAA\r\n", "A".repeat(76), "A".repeat(76));
        let sections: Vec<(SectionPath, Vec<u8>)> = vec![
            (
                SectionPath::Full(MessageSection::Header),
                b"Subject: s\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n".to_vec(),
            ),
            (
                SectionPath::Part(vec![1], Some(MessageSection::Mime)),
                b"Content-Type: text/plain\r\n\r\n".to_vec(),
            ),
            (SectionPath::Part(vec![1], None), b"hello".to_vec()),
            (
                SectionPath::Part(vec![2], Some(MessageSection::Mime)),
                b"Content-Type: application/pdf\r\n\r\n".to_vec(),
            ),
            (SectionPath::Part(vec![2], None), tail.into_bytes()),
        ];
        let find = |path: &SectionPath| {
            sections
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, data)| data.as_slice())
        };
        let skeleton = plan.assemble(find).unwrap();
        assert_eq!(
            String::from_utf8(skeleton.raw).unwrap(),
            "Subject: s\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
             --m\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --m\r\nContent-Type: application/pdf\r\n\r\n\r\n--m--\r\n"
        );
        // 400000 octets of 78-byte lines ending in a 4-character line + CRLF.
        assert!(skeleton.sizes.contains_key("2"));
        let missing = |path: &SectionPath| match path {
            SectionPath::Part(p, None) if p == &[1] => None,
            other => find(other),
        };
        assert_eq!(
            plan.assemble(missing),
            None,
            "a missing section gives no skeleton"
        );
    }

    /// The decoded size of base64 comes out exact for any line length and padding, from
    /// the tail alone; a tail without line structure falls back to an estimate.
    #[test]
    fn base64_sizes_are_exact_from_the_tail() {
        let engine = base64::engine::general_purpose::STANDARD;
        for (len, line, eol) in [
            (300_000usize, 76usize, "\r\n"),
            (300_001, 76, "\r\n"),
            (300_002, 76, "\r\n"),
            (123_456, 64, "\n"),
            (99_999, 72, "\r\n"),
            (57, 76, "\r\n"),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let encoded = engine.encode(&data);
            let mut wrapped = encoded
                .as_bytes()
                .chunks(line)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(eol);
            wrapped.push_str(eol);
            let octets = wrapped.len();
            let tail = &wrapped.as_bytes()[octets.saturating_sub(256)..];
            assert_eq!(
                base64_decoded_size(octets, tail),
                len,
                "{len} {line} {eol:?}"
            );
        }
        // One endless line: no structure to read, an estimate within a few percent.
        let estimate = base64_decoded_size(400_000, &[b'A'; 256]);
        assert!((290_000..=300_000).contains(&estimate), "{estimate}");
    }
}

//! Text a person would not see, removed from an HTML body before it becomes Markdown:
//! mail can hide instructions for a model in text that its human reader never sees.
//! Works on the DOM html2text parsed (html5ever), before it is rendered.
//!
//! Removed with their whole subtree: elements with the `hidden` attribute, `<template>`,
//! and elements whose own style (inline, or a `<style>` rule with a simple selector such
//! as `p`, `.pre`, `#x`, `td.a.b`; rules inside `@media` and other at-rules are left out,
//! as they apply only to some screens) says `display:none`, `opacity:0`, zero (≤1px) height,
//! max-height, width or max-width with `overflow:hidden`, `text-indent` far off the left
//! (≤ -500px), absolute or fixed positioning far off screen (left/top ≤ -500px), or a
//! zero `clip: rect(0 0 0 0)`. Text nodes are removed where the inherited style makes
//! them invisible: `visibility:hidden`, `font-size` 0 or ≤1px (a child with a real size
//! shows again, as in a browser), a transparent colour, or a colour alike to the nearest
//! background (CSS `background-color`/`background`, or `bgcolor`; white when none is set;
//! unknown, so never compared, under a background image or gradient).
//! A link left without text goes too (its URL would still be listed). `aria-hidden`
//! text is kept: it is hidden from screen readers, not from the eye. `<noscript>` is kept
//! too: mail clients run no scripts, so they show it. Comments, `<script>`, `<style>` and
//! `<head>` are html2text's to leave out.

use std::collections::HashMap;
use std::rc::Rc;

use html2text::{Element, Handle, RcDom};

/// The most a colour channel may differ from the background for text to count as hidden.
const ALIKE: i32 = 12;

/// Offsets at least this far left or up put text off screen (px).
const OFF_SCREEN_PX: f32 = -500.0;

/// Removes from `dom` the elements and text a reader would not see.
pub fn drop_hidden(dom: &RcDom) {
    let sheet = StyleSheet::of(&dom.document);
    let mut stack = vec![(dom.document.clone(), Inherited::root())];
    let mut emptied_links = Vec::new();
    while let Some((node, inherited)) = stack.pop() {
        let mut removed: Vec<Handle> = Vec::new();
        for child in node.children.borrow().iter() {
            match &child.data {
                Element { name, attrs, .. } => {
                    let tag = (*name.local).to_ascii_lowercase();
                    let attrs: Vec<(String, String)> = attrs
                        .borrow()
                        .iter()
                        .map(|a| ((*a.name.local).to_ascii_lowercase(), a.value.to_string()))
                        .collect();
                    let element = ElementInfo::new(&tag, &attrs);
                    let style = sheet.style_of(&element);
                    if hides_subtree(&element, &style) {
                        removed.push(child.clone());
                    } else if !matches!(tag.as_str(), "head" | "style" | "script" | "title") {
                        stack.push((child.clone(), inherited.child(&element, &style)));
                    }
                }
                html2text::Comment { .. } | html2text::Document => {}
                _ if inherited.hides_text() => removed.push(child.clone()),
                _ => {}
            }
        }
        if !removed.is_empty() {
            let mut children = node.children.borrow_mut();
            children.retain(|c| !removed.iter().any(|r| Rc::ptr_eq(r, c)));
            if children.is_empty() && is_link(&node) {
                emptied_links.push(node.clone());
            }
        }
    }
    // A link whose text was all hidden goes too: its URL would still be listed.
    for link in emptied_links {
        if let Some(parent) = link.get_parent() {
            parent
                .children
                .borrow_mut()
                .retain(|c| !Rc::ptr_eq(c, &link));
        }
    }
}

fn is_link(node: &Handle) -> bool {
    matches!(&node.data, Element { name, .. } if (*name.local).eq_ignore_ascii_case("a"))
}

/// What a selector can match on.
struct ElementInfo<'a> {
    tag: &'a str,
    attrs: &'a [(String, String)],
}

impl<'a> ElementInfo<'a> {
    fn new(tag: &'a str, attrs: &'a [(String, String)]) -> Self {
        ElementInfo { tag, attrs }
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_ascii_whitespace().any(|c| c == class))
    }
}

/// The declarations that apply to one element: property (lower case) → value (lower
/// case, `!important` removed).
type Style = HashMap<String, String>;

/// Whether the element itself (and so all it holds) is out of sight.
fn hides_subtree(element: &ElementInfo<'_>, style: &Style) -> bool {
    if element.tag == "template" || element.attr("hidden").is_some() {
        return true;
    }
    let get = |p: &str| style.get(p).map(String::as_str);
    if get("display") == Some("none") {
        return true;
    }
    if get("opacity")
        .and_then(|o| o.parse::<f32>().ok())
        .is_some_and(|o| o <= 0.01)
    {
        return true;
    }
    let clipped = ["overflow", "overflow-x", "overflow-y"]
        .iter()
        .any(|p| matches!(get(p), Some("hidden" | "clip")));
    let tiny = |p: &str| get(p).and_then(length).is_some_and(|l| l.at_most_one_px());
    if clipped
        && ["height", "max-height", "width", "max-width"]
            .iter()
            .any(|p| tiny(p))
    {
        return true;
    }
    let far_off = |p: &str| get(p).and_then(length).is_some_and(|l| l.far_off_screen());
    if far_off("text-indent") {
        return true;
    }
    let positioned = matches!(get("position"), Some("absolute" | "fixed"));
    if positioned && (far_off("left") || far_off("top")) {
        return true;
    }
    get("clip").is_some_and(|c| {
        let squeezed: String = c.chars().filter(|c| !matches!(c, ' ' | ',')).collect();
        squeezed.replace("px", "") == "rect(0000)"
    })
}

/// What an element passes on to its text: colour, background, size, visibility.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Inherited {
    /// The text colour; `None` when not known (a link's own colour, say).
    color: Option<Rgba>,
    /// The nearest background; `None` when not known (an image or gradient).
    background: Option<Rgba>,
    /// Font size zero or ≤1px.
    tiny_font: bool,
    /// `visibility: hidden` (or collapse).
    invisible: bool,
}

impl Inherited {
    /// Black text on white, as a mail client starts.
    fn root() -> Self {
        Inherited {
            color: Some(Rgba::BLACK),
            background: Some(Rgba::WHITE),
            tiny_font: false,
            invisible: false,
        }
    }

    fn hides_text(&self) -> bool {
        self.tiny_font
            || self.invisible
            || matches!((self.color, self.background), (Some(c), Some(b)) if c.alike(b))
    }

    /// What `element`, styled `style`, passes on.
    fn child(&self, element: &ElementInfo<'_>, style: &Style) -> Self {
        let mut next = *self;
        if element.tag == "a" {
            next.color = None;
        }
        if let Some(color) = style.get("color").map(String::as_str).or_else(|| {
            (element.tag == "font")
                .then(|| element.attr("color"))
                .flatten()
        }) {
            next.color = Rgba::parse(color);
        }
        if let Some(background) = background_of(element, style) {
            next.background = background;
        }
        if let Some(size) = style.get("font-size") {
            next.tiny_font = length(size).is_some_and(|l| l.at_most_one_px());
        }
        match style.get("visibility").map(String::as_str) {
            Some("hidden" | "collapse") => next.invisible = true,
            Some("visible") => next.invisible = false,
            _ => {}
        }
        next
    }
}

/// The background an element sets: `Some(None)` for one that cannot be known (an image
/// or gradient), `None` when it sets none (or a transparent one: the parent's shows).
fn background_of(element: &ElementInfo<'_>, style: &Style) -> Option<Option<Rgba>> {
    let mut set = None;
    if let Some(color) = element.attr("bgcolor").and_then(Rgba::parse) {
        set = Some(Some(color));
    }
    for property in ["background", "background-color", "background-image"] {
        let Some(value) = style.get(property) else {
            continue;
        };
        if value.contains("url(") || value.contains("gradient(") {
            return Some(None);
        }
        if let Some(color) = first_colour(value) {
            set = Some(Some(color));
        }
    }
    set.filter(|c| c.is_none_or(|c| c.a > 0))
}

/// The first colour in a `background` shorthand.
fn first_colour(value: &str) -> Option<Rgba> {
    if let Some(start) = value.find("rgb") {
        let end = value[start..].find(')')? + start + 1;
        return Rgba::parse(&value[start..end]);
    }
    value.split_ascii_whitespace().find_map(Rgba::parse)
}

/// A colour with alpha (0 to 255).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rgba {
    r: u8,
    g: u8,
    b: u8,
    a: u8,
}

impl Rgba {
    const BLACK: Rgba = Rgba::opaque(0, 0, 0);
    const WHITE: Rgba = Rgba::opaque(255, 255, 255);

    const fn opaque(r: u8, g: u8, b: u8) -> Self {
        Rgba { r, g, b, a: 255 }
    }

    /// `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()` or a common colour name.
    fn parse(value: &str) -> Option<Self> {
        let value = value.trim().to_ascii_lowercase();
        if let Some(hex) = value.strip_prefix('#') {
            return Self::hex(hex);
        }
        if value.starts_with("rgb") {
            return Self::functional(&value);
        }
        let named = match value.as_str() {
            "transparent" => Rgba {
                a: 0,
                ..Self::WHITE
            },
            "white" => Self::WHITE,
            "black" => Self::BLACK,
            "red" => Self::opaque(255, 0, 0),
            "green" => Self::opaque(0, 128, 0),
            "lime" => Self::opaque(0, 255, 0),
            "blue" => Self::opaque(0, 0, 255),
            "yellow" => Self::opaque(255, 255, 0),
            "gray" | "grey" => Self::opaque(128, 128, 128),
            "silver" => Self::opaque(192, 192, 192),
            "whitesmoke" => Self::opaque(245, 245, 245),
            "snow" => Self::opaque(255, 250, 250),
            "ivory" => Self::opaque(255, 255, 240),
            "navy" => Self::opaque(0, 0, 128),
            "orange" => Self::opaque(255, 165, 0),
            _ => return None,
        };
        Some(named)
    }

    fn hex(hex: &str) -> Option<Self> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok().map(|d| d * 17);
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        match hex.len() {
            3 | 4 => Some(Rgba {
                r: digit(0)?,
                g: digit(1)?,
                b: digit(2)?,
                a: if hex.len() == 4 { digit(3)? } else { 255 },
            }),
            6 | 8 => Some(Rgba {
                r: pair(0)?,
                g: pair(2)?,
                b: pair(4)?,
                a: if hex.len() == 8 { pair(6)? } else { 255 },
            }),
            _ => None,
        }
    }

    /// `rgb(1, 2, 3)`, `rgba(1,2,3,0.5)`, `rgb(1 2 3 / 50%)`.
    fn functional(value: &str) -> Option<Self> {
        let inner = value.split_once('(')?.1.strip_suffix(')')?;
        let parts: Vec<&str> = inner
            .split(|c: char| c == ',' || c == '/' || c.is_ascii_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        let channel = |p: &str| -> Option<u8> {
            match p.strip_suffix('%') {
                Some(pct) => Some((pct.parse::<f32>().ok()?.clamp(0.0, 100.0) * 2.55) as u8),
                None => Some(p.parse::<f32>().ok()?.clamp(0.0, 255.0) as u8),
            }
        };
        let alpha = |p: &str| -> Option<u8> {
            let fraction = match p.strip_suffix('%') {
                Some(pct) => pct.parse::<f32>().ok()? / 100.0,
                None => p.parse::<f32>().ok()?,
            };
            Some((fraction.clamp(0.0, 1.0) * 255.0) as u8)
        };
        match parts.as_slice() {
            [r, g, b] => Some(Rgba::opaque(channel(r)?, channel(g)?, channel(b)?)),
            [r, g, b, a] => Some(Rgba {
                r: channel(r)?,
                g: channel(g)?,
                b: channel(b)?,
                a: alpha(a)?,
            }),
            _ => None,
        }
    }

    /// Whether text of this colour is lost on `background`: (nearly) transparent, or
    /// every channel within [`ALIKE`] of the background's.
    fn alike(self, background: Rgba) -> bool {
        if self.a < 26 {
            return true;
        }
        let near = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs() <= ALIKE;
        near(self.r, background.r) && near(self.g, background.g) && near(self.b, background.b)
    }
}

/// A CSS length.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Length {
    value: f32,
    /// Lower case unit, empty for a bare number.
    px_per_unit: Option<f32>,
}

impl Length {
    /// Zero in any unit, or at most one pixel.
    fn at_most_one_px(&self) -> bool {
        self.value == 0.0 || self.px_per_unit.is_some_and(|k| self.value * k <= 1.0)
    }

    /// Far to the left or above the page (in pixels, or em at 16px).
    fn far_off_screen(&self) -> bool {
        self.px_per_unit
            .is_some_and(|k| self.value * k <= OFF_SCREEN_PX)
    }
}

/// `0`, `0px`, `-9999px`, `1pt`, `0.5em`; `None` for keywords and other values.
fn length(value: &str) -> Option<Length> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let value: f32 = number.parse().ok()?;
    let px_per_unit = match unit {
        "px" => Some(1.0),
        "pt" => Some(4.0 / 3.0),
        "em" | "rem" => Some(16.0),
        "" if value == 0.0 => Some(1.0),
        "%" | "vh" | "vw" | "" | "ex" | "ch" => None,
        _ => return None,
    };
    Some(Length { value, px_per_unit })
}

/// The `<style>` rules with simple selectors, in document order.
struct StyleSheet {
    rules: Vec<(Selector, Vec<(String, String)>)>,
}

/// A compound selector: an optional tag, ids and classes, all of which must match.
#[derive(Debug, PartialEq, Eq)]
struct Selector {
    tag: Option<String>,
    ids: Vec<String>,
    classes: Vec<String>,
}

impl Selector {
    /// A simple selector (`p`, `.a`, `#b`, `td.a.b`, `*`); `None` for anything with
    /// combinators, attributes or pseudo-classes, which this sheet leaves to html2text.
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        if text.is_empty() {
            return None;
        }
        let mut selector = Selector {
            tag: None,
            ids: Vec::new(),
            classes: Vec::new(),
        };
        let name_end = text.find(['.', '#']).unwrap_or(text.len());
        let tag = &text[..name_end];
        if !tag.is_empty() && tag != "*" {
            selector.tag = Some(valid_name(tag)?.to_owned());
        }
        let mut rest = &text[name_end..];
        while let Some(kind) = rest.chars().next() {
            let end = rest[1..].find(['.', '#']).map_or(rest.len(), |i| i + 1);
            let name = valid_name(&rest[1..end])?.to_owned();
            match kind {
                '.' => selector.classes.push(name),
                _ => selector.ids.push(name),
            }
            rest = &rest[end..];
        }
        Some(selector)
    }

    fn matches(&self, element: &ElementInfo<'_>) -> bool {
        self.tag.as_deref().is_none_or(|t| t == element.tag)
            && self.ids.iter().all(|id| {
                element
                    .attr("id")
                    .is_some_and(|v| v.eq_ignore_ascii_case(id))
            })
            && self.classes.iter().all(|c| element.has_class(c))
    }
}

fn valid_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(name)
}

impl StyleSheet {
    /// The rules of every `<style>` element under `root`.
    fn of(root: &Handle) -> Self {
        let mut css = String::new();
        let mut stack = vec![root.clone()];
        while let Some(node) = stack.pop() {
            let is_style = matches!(&node.data, Element { name, .. } if (*name.local).eq_ignore_ascii_case("style"));
            if is_style {
                css.push_str(&style_text(&node));
                css.push('\n');
                continue;
            }
            stack.extend(node.children.borrow().iter().cloned());
        }
        StyleSheet {
            rules: parse_rules(&css),
        }
    }

    /// The declarations for `element`: matching rules in order, then its `style`
    /// attribute, the later overriding the earlier.
    fn style_of(&self, element: &ElementInfo<'_>) -> Style {
        let mut style = Style::new();
        for (selector, declarations) in &self.rules {
            if selector.matches(element) {
                style.extend(declarations.iter().cloned());
            }
        }
        if let Some(inline) = element.attr("style") {
            style.extend(declarations(inline));
        }
        style
    }
}

/// The CSS text of a `<style>` element: serialised (raw text, unescaped) and unwrapped.
fn style_text(style: &Handle) -> String {
    let mut html = Vec::new();
    if style.serialize(&mut html).is_err() {
        return String::new();
    }
    let html = String::from_utf8_lossy(&html);
    let inner = html.split_once('>').map_or("", |(_, rest)| rest);
    inner.strip_suffix("</style>").unwrap_or(inner).to_owned()
}

/// The rules of a style sheet whose selectors are simple; rules inside at-rules
/// (`@media`, `@supports`, …) are skipped.
fn parse_rules(css: &str) -> Vec<(Selector, Vec<(String, String)>)> {
    let css = strip_comments(css).replace("<!--", "").replace("-->", "");
    let mut rules = Vec::new();
    let mut rest = css.as_str();
    while let Some(open) = rest.find('{') {
        let prelude = rest[..open].trim();
        let Some(close) = matching_brace(&rest[open..]).map(|c| c + open) else {
            break;
        };
        if !prelude.starts_with('@') {
            let body = &rest[open + 1..close];
            let declared = declarations(body);
            for selector in prelude.split(',').filter_map(Selector::parse) {
                rules.push((selector, declared.clone()));
            }
        }
        rest = &rest[close + 1..];
    }
    rules
}

/// The index of the `}` closing the `{` at the start of `text`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn strip_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start + 2..]
            .find("*/")
            .map_or("", |end| &rest[start + 2 + end + 2..]);
    }
    out.push_str(rest);
    out
}

/// `a: b; c: d !important` as (property, value) pairs, lower case.
fn declarations(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|declaration| {
            let (property, value) = declaration.split_once(':')?;
            let value = value.trim().to_ascii_lowercase();
            let value = value.trim_end_matches("!important").trim().to_owned();
            Some((property.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::body::html_to_markdown;
    use super::*;

    /// Each trick hides "SECRET" from the eye; the visible words around it stay.
    #[test]
    fn hidden_text_is_dropped() {
        let cases = [
            r##"<p hidden>SECRET</p>"##,
            r##"<div style="display:none">SECRET</div>"##,
            r##"<div style="DISPLAY: NONE !important">SECRET</div>"##,
            r##"<style>.pre{display:none}</style><span class="pre">SECRET</span>"##,
            r##"<style>#x { visibility: hidden }</style><span id="x">SECRET</span>"##,
            r##"<style>td.a.b{font-size:0}</style><table><tr><td class="b a">SECRET</td></tr></table>"##,
            r##"<span style="visibility:hidden">SECRET</span>"##,
            r##"<span style="font-size:0">SECRET</span>"##,
            r##"<span style="font-size:0px;line-height:0">SECRET</span>"##,
            r##"<span style="font-size:1px">SECRET</span>"##,
            r##"<div style="max-height:0;overflow:hidden">SECRET</div>"##,
            r##"<div style="width:0;height:0;overflow:hidden">SECRET</div>"##,
            r##"<div style="height:1px;overflow:hidden">SECRET</div>"##,
            r##"<div style="opacity:0">SECRET</div>"##,
            r##"<div style="opacity:0.0">SECRET</div>"##,
            r##"<span style="color:#fff">SECRET</span>"##,
            r##"<span style="color:#FFFFFF">SECRET</span>"##,
            r##"<span style="color:white">SECRET</span>"##,
            r##"<span style="color:#fefefe">SECRET</span>"##,
            r##"<span style="color:rgb(255, 255, 255)">SECRET</span>"##,
            r##"<span style="color:transparent">SECRET</span>"##,
            r##"<span style="color:rgba(0,0,0,0)">SECRET</span>"##,
            r##"<font color="#ffffff">SECRET</font>"##,
            r##"<div style="background:#123456"><span style="color:#123456">SECRET</span></div>"##,
            r##"<table bgcolor="#000000"><tr><td style="color:#000">SECRET</td></tr></table>"##,
            r##"<div style="background-color:#000">SECRET</div>"##,
            r##"<div style="text-indent:-9999px">SECRET</div>"##,
            r##"<div style="position:absolute;left:-10000px">SECRET</div>"##,
            r##"<div style="position:absolute;clip:rect(0,0,0,0)">SECRET</div>"##,
            r##"<template><p>SECRET</p></template>"##,
            r##"<a href="https://SECRET.test/x" style="color:#fff">click here</a>"##,
            r##"<div style="display:none"><p style="display:block">SECRET</p></div>"##,
        ];
        for html in cases {
            let page = format!("<html><body><p>Before</p>{html}<p>After</p></body></html>");
            let text = html_to_markdown(&page);
            assert!(!text.contains("SECRET"), "{html}: {text}");
            assert!(
                text.contains("Before") && text.contains("After"),
                "{html}: {text}"
            );
        }
    }

    /// What a person does see stays, including look-alikes of the tricks.
    #[test]
    fn visible_text_stays() {
        let cases = [
            r##"<span style="color:#ff0000">SEEN</span>"##,
            r##"<span style="color:#999">SEEN</span>"##,
            r##"<div style="background:#000;color:#fff">SEEN</div>"##,
            r##"<table bgcolor="black"><tr><td><font color="white">SEEN</font></td></tr></table>"##,
            r##"<div style="background:url(x.png) #fff;color:#fff">SEEN</div>"##,
            r##"<div style="color:#fff"><span style="color:#333">SEEN</span></div>"##,
            r##"<div style="font-size:0"><span style="font-size:14px">SEEN</span></div>"##,
            r##"<div style="visibility:hidden"><span style="visibility:visible">SEEN</span></div>"##,
            r##"<span aria-hidden="true">★</span> SEEN"##,
            r##"<div style="height:0">SEEN</div>"##,
            r##"<div style="max-height:0">SEEN</div>"##,
            r##"<div style="opacity:0.9">SEEN</div>"##,
            r##"<div style="text-indent:20px">SEEN</div>"##,
            r##"<div style="position:relative;left:-20px">SEEN</div>"##,
            r##"<style>@media (max-width:600px){.desk{display:none}}</style><p class="desk">SEEN</p>"##,
            r##"<style>.other{display:none}</style><p class="others">SEEN</p>"##,
            r##"<div style="color:#fff"><a href="https://x.test/">SEEN</a></div>"##,
            r##"<noscript>SEEN</noscript>"##,
        ];
        for html in cases {
            let page = format!("<html><body>{html}</body></html>");
            let text = html_to_markdown(&page);
            assert!(text.contains("SEEN"), "{html}: {text}");
        }
    }

    #[test]
    fn colours_parse() {
        let cases = [
            ("#fff", Some(Rgba::WHITE)),
            ("#FfFfFf", Some(Rgba::WHITE)),
            ("#ffff", Some(Rgba::WHITE)),
            (
                "#00000000",
                Some(Rgba {
                    a: 0,
                    ..Rgba::BLACK
                }),
            ),
            ("rgb(255,255,255)", Some(Rgba::WHITE)),
            ("rgb(100% 100% 100%)", Some(Rgba::WHITE)),
            (
                "rgba(0, 0, 0, 0.5)",
                Some(Rgba {
                    a: 127,
                    ..Rgba::BLACK
                }),
            ),
            ("White", Some(Rgba::WHITE)),
            ("#ggg", None),
            ("#12345", None),
            ("currentcolor", None),
            ("rgb(1,2)", None),
        ];
        for (text, want) in cases {
            assert_eq!(Rgba::parse(text), want, "{text}");
        }
    }

    #[test]
    fn selectors_parse_simple_forms_only() {
        let simple = |tag: Option<&str>, ids: &[&str], classes: &[&str]| Selector {
            tag: tag.map(str::to_owned),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            classes: classes.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(Selector::parse("P"), Some(simple(Some("p"), &[], &[])));
        assert_eq!(
            Selector::parse(".a.b"),
            Some(simple(None, &[], &["a", "b"]))
        );
        assert_eq!(
            Selector::parse("td#x.y"),
            Some(simple(Some("td"), &["x"], &["y"]))
        );
        for complex in ["div p", "a > b", "a:hover", "[hidden]", "a+b", ".", ""] {
            assert_eq!(Selector::parse(complex), None, "{complex}");
        }
    }

    #[test]
    fn style_sheets_skip_comments_and_at_rules() {
        let rules = parse_rules(
            "/* .x{display:none} */ .a { color: red } @media print { .b { display:none } } \
             .c, div.d { display: none !important }",
        );
        let names: Vec<String> = rules
            .iter()
            .map(|(s, d)| format!("{:?}{:?}={}", s.tag, s.classes, d[0].1))
            .collect();
        assert_eq!(
            names,
            [
                "None[\"a\"]=red",
                "None[\"c\"]=none",
                "Some(\"div\")[\"d\"]=none"
            ]
        );
    }
}

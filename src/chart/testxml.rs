//! A deliberately strict, dependency-free XML reader for the chart tests: it rejects unbalanced or
//! mismatched tags, unquoted or duplicate attributes, raw `<`/`&` in text and unknown entities, and returns
//! the element tree so tests can assert on what was drawn rather than on string fragments.

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Unescaped character data directly inside this element, trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This element and all below it, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.descendants());
        }
        out
    }

    pub fn all(&self, name: &str) -> Vec<&Element> {
        self.descendants()
            .into_iter()
            .filter(|e| e.name == name)
            .collect()
    }

    /// Trimmed text of every `<text>` element, in document order.
    pub fn texts(&self) -> Vec<String> {
        self.all("text").iter().map(|e| e.text.clone()).collect()
    }

    /// The (x, y) pairs of a `points` attribute.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.attr("points")
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|p| {
                let (x, y) = p.split_once(',')?;
                Some((x.parse().ok()?, y.parse().ok()?))
            })
            .collect()
    }

    pub fn num(&self, name: &str) -> f64 {
        self.attr(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Parses one document with a single root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut p = Parser {
        s: doc.as_bytes(),
        i: 0,
    };
    p.skip_misc()?;
    let root = p.element()?;
    p.skip_misc()?;
    if p.i != p.s.len() {
        return Err(format!("content after the root element at byte {}", p.i));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn starts(&self, t: &str) -> bool {
        self.s[self.i..].starts_with(t.as_bytes())
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn skip_until(&mut self, end: &str) -> Result<(), String> {
        while self.i < self.s.len() {
            if self.starts(end) {
                self.i += end.len();
                return Ok(());
            }
            self.i += 1;
        }
        Err(format!("unterminated construct, expected {end:?}"))
    }

    /// Whitespace, comments and the XML declaration around the root.
    fn skip_misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_ws();
            if self.starts("<?") {
                self.skip_until("?>")?;
            } else if self.starts("<!--") {
                self.skip_until("-->")?;
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || b":-_.".contains(&self.s[self.i]))
        {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("expected a name at byte {start}"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn element(&mut self) -> Result<Element, String> {
        if !self.starts("<") {
            return Err(format!("expected '<' at byte {}", self.i));
        }
        self.i += 1;
        let name = self.name()?;
        let mut el = Element {
            name,
            attrs: vec![],
            text: String::new(),
            children: vec![],
        };
        loop {
            let before = self.i;
            self.skip_ws();
            if self.starts("/>") {
                self.i += 2;
                return Ok(el);
            }
            if self.starts(">") {
                self.i += 1;
                break;
            }
            if self.i == before {
                return Err(format!(
                    "attributes must be separated by space at byte {}",
                    self.i
                ));
            }
            let key = self.name()?;
            if el.attr(&key).is_some() {
                return Err(format!("duplicate attribute {key}"));
            }
            if !self.starts("=") {
                return Err(format!("attribute {key} has no value"));
            }
            self.i += 1;
            let quote = *self.s.get(self.i).ok_or("unexpected end")?;
            if quote != b'"' && quote != b'\'' {
                return Err(format!("attribute {key} is not quoted"));
            }
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != quote {
                if self.s[self.i] == b'<' {
                    return Err(format!("raw '<' in attribute {key}"));
                }
                self.i += 1;
            }
            if self.i >= self.s.len() {
                return Err("unterminated attribute".into());
            }
            let raw = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.i += 1;
            el.attrs.push((key, unescape(&raw)?));
        }
        let mut text = String::new();
        loop {
            if self.i >= self.s.len() {
                return Err(format!("<{}> is never closed", el.name));
            }
            if self.starts("</") {
                self.i += 2;
                let end = self.name()?;
                if end != el.name {
                    return Err(format!("</{end}> closes <{}>", el.name));
                }
                self.skip_ws();
                if !self.starts(">") {
                    return Err(format!("malformed </{end}>"));
                }
                self.i += 1;
                el.text = text.trim().to_string();
                return Ok(el);
            }
            if self.starts("<!--") {
                self.skip_until("-->")?;
            } else if self.starts("<") {
                el.children.push(self.element()?);
            } else {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != b'<' {
                    self.i += 1;
                }
                let raw = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                text.push_str(&unescape(&raw)?);
            }
        }
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..]
            .find(';')
            .ok_or_else(|| format!("bare '&' in {raw:?}"))?;
        let ent = &rest[amp + 1..amp + semi];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = ent.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = ent.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{ent};"))?
            }
        };
        out.push(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_rejects_what_a_browser_would_reject() {
        assert!(parse("<a><b></a></b>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("<a x=1/>").is_err());
        assert!(parse("<a>x & y</a>").is_err());
        assert!(parse("<a>1 < 2</a>").is_err());
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("<a x=\"1\" x=\"2\"/>").is_err());
        let ok = parse("<?xml version=\"1.0\"?><a k='v &amp; w'><b>1 &lt; 2</b><c/></a>").unwrap();
        assert_eq!(ok.attr("k"), Some("v & w"));
        assert_eq!(ok.all("b")[0].text, "1 < 2");
    }
}

//! The query string as received: splitting into `name=value` pairs, percent-decoding, and
//! dispatching the system query options of one request to their parsers. Also the inverse,
//! percent-encoding option values for `@odata.nextLink`.

use super::ast::RawOptions;
use super::error::{Fail, QueryError, QueryErrorKind};
use super::parser::{apply_level_option, unsupported_option};
use super::QueryLimits;

/// A request's options after parsing and before checking (`Query<Unchecked>`): names are
/// still strings and nothing is typed. Only [`UncheckedQuery::check`] turns
/// it into a [`CheckedQuery`](super::CheckedQuery).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UncheckedQuery {
    pub options: RawOptions,
    pub skiptoken: Option<String>,
    /// Every recognised option with its decoded text, in canonical lower-case spelling; used
    /// for error positions and to rebuild `@odata.nextLink`.
    pub texts: Vec<(&'static str, String)>,
}

impl UncheckedQuery {
    pub(crate) fn text_of(&self, option: &str) -> &str {
        self.texts.iter().find(|(n, _)| *n == option).map(|(_, t)| t.as_str()).unwrap_or("")
    }
}

/// Which options a request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Collection,
    SingleEntity,
}

const KNOWN: &[&str] =
    &["$filter", "$orderby", "$select", "$expand", "$top", "$skip", "$count", "$skiptoken", "$format"];

/// Splits and parses a raw (still percent-encoded) query string.
pub fn parse_raw(raw: Option<&str>, limits: &QueryLimits, target: Target) -> Result<UncheckedQuery, QueryError> {
    let mut q = UncheckedQuery::default();
    let Some(raw) = raw else { return Ok(q) };
    if raw.len() > limits.max_query_len {
        return Err(QueryError::new(
            "query",
            QueryErrorKind::LimitExceeded,
            None,
            format!("the query string is longer than max_query_len ({} bytes)", limits.max_query_len),
        ));
    }
    let mut offset = 0;
    for part in raw.split('&') {
        let part_start = offset;
        offset += part.len() + 1;
        if part.is_empty() {
            continue;
        }
        let (raw_name, raw_value, value_start) = match part.find('=') {
            Some(eq) => (&part[..eq], &part[eq + 1..], part_start + eq + 1),
            None => (part, "", part_start + part.len()),
        };
        let name = decode(raw_name, part_start)?;
        // Only `$`-prefixed names are system query options; anything else belongs to the
        // application (or to a proxy) and is none of the query engine's business.
        if !name.starts_with('$') {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let Some(canonical) = KNOWN.iter().copied().find(|k| *k == lower) else {
            let mut fail = unsupported_option(&name, 0);
            fail.pos = None;
            return Err(fail.into_error(&name, &name));
        };
        let value = decode(raw_value, value_start)?;
        if q.texts.iter().any(|(n, _)| *n == canonical) {
            return Err(QueryError::new(canonical, QueryErrorKind::Syntax, None, "the option is given more than once"));
        }
        if target == Target::SingleEntity && !matches!(canonical, "$select" | "$expand" | "$format") {
            return Err(QueryError::new(
                canonical,
                QueryErrorKind::Unsupported,
                None,
                "only $select and $expand apply to a single entity",
            ));
        }
        let fail = |f: Fail| f.into_error(canonical, &value);
        match canonical {
            "$skiptoken" => q.skiptoken = Some(value.clone()),
            "$format" => check_format(&value).map_err(fail)?,
            _ => apply_level_option(&mut q.options, canonical, &value, 0, 0, limits, 1).map_err(fail)?,
        }
        q.texts.push((canonical, value));
    }
    Ok(q)
}

/// `$format` only selects JSON, which is all OpenTI speaks.
fn check_format(value: &str) -> Result<(), Fail> {
    let v = value.trim().to_ascii_lowercase();
    let media = v.split(';').next().unwrap_or("").trim();
    if media == "json" || media == "application/json" {
        Ok(())
    } else {
        Err(Fail::at(QueryErrorKind::Unsupported, 0, format!("format '{value}' is not supported; only json is")))
    }
}

/// Percent-decodes one name or value; `+` is a space, as in HTML form encoding (which most
/// OData servers accept, and clients that mean a plus sign send `%2B`).
pub fn decode(s: &str, offset: usize) -> Result<String, QueryError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
                match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        return Err(QueryError::new(
                            "query",
                            QueryErrorKind::Syntax,
                            Some(offset + i),
                            "invalid percent-encoding",
                        ))
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        QueryError::new(
            "query",
            QueryErrorKind::Syntax,
            Some(offset + e.utf8_error().valid_up_to()),
            "the decoded query string is not valid UTF-8",
        )
    })
}

/// Percent-encodes an option value for a URL query. Characters that are harmless in a
/// query and make links readable (`'`, `(`, `)`, `,`, `/`, `:`, `$`, `*`, `;`) stay as
/// they are; `&`, `=`, `+`, `#`, `%`, spaces and non-ASCII are encoded.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~'(),/:$*;@!".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("Name%20eq%20'a+b'%2B", 0).unwrap(), "Name eq 'a b'+");
        assert_eq!(decode("%C3%A9", 0).unwrap(), "é");
        assert_eq!(decode("a%2", 4).unwrap_err().position, Some(5));
        assert!(decode("%FF", 0).is_err());
        assert_eq!(decode(&encode("a&b=c d+é'()"), 0).unwrap(), "a&b=c d+é'()");
    }

    #[test]
    fn dispatch() {
        let l = QueryLimits::default();
        let q = parse_raw(
            Some("$filter=Id%20eq%201&foo=bar&$TOP=5&$format=application/json;odata.metadata=minimal"),
            &l,
            Target::Collection,
        )
        .unwrap();
        assert!(q.options.filter.is_some());
        assert_eq!(q.options.top, Some(5));
        let e = parse_raw(Some("$search=abc"), &l, Target::Collection).unwrap_err();
        assert_eq!((e.kind, e.option.as_str()), (QueryErrorKind::Unsupported, "$search"));
        let e = parse_raw(Some("$foo=1"), &l, Target::Collection).unwrap_err();
        assert!(e.message.contains("$foo"), "{e}");
        let e = parse_raw(Some("$top=1&$top=2"), &l, Target::Collection).unwrap_err();
        assert_eq!(e.kind, QueryErrorKind::Syntax);
        let e = parse_raw(Some("$filter=Id eq 1"), &l, Target::SingleEntity).unwrap_err();
        assert_eq!((e.kind, e.option.as_str()), (QueryErrorKind::Unsupported, "$filter"));
        let e = parse_raw(Some("$format=xml"), &l, Target::Collection).unwrap_err();
        assert_eq!(e.kind, QueryErrorKind::Unsupported);
        let e = parse_raw(Some("$filter=Name%20eq%20"), &l, Target::Collection).unwrap_err();
        assert_eq!(e.message, "$filter: expected a value after 'eq' at position 8");
        let long = "a".repeat(l.max_query_len + 1);
        assert_eq!(parse_raw(Some(&long), &l, Target::Collection).unwrap_err().kind, QueryErrorKind::LimitExceeded);
    }
}

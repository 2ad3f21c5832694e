//! Tokens of the OData common-expression syntax (`$filter`, `$orderby`, `$select`).
//!
//! The lexer works on one option's percent-decoded text and records the byte offset of every
//! token. Literal recognition is done here, once, so the parser never looks at characters:
//! strings (`'it''s'`), integers and decimals (a leading `-` directly before a digit is part
//! of the number, because OData's binary minus is spelled `sub`), `DateTimeOffset`
//! (`2026-11-22T10:00:00Z`, offsets, fractional seconds), `Date` (`2026-11-22`), GUIDs and
//! typed literals such as `OpenTI.AlertSeverity'High'`.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::error::{Fail, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: property, function, keyword (`eq`, `and`, `true`, …) or qualified type name.
    Ident(String),
    Str(String),
    Int(i64),
    Decimal(f64),
    DateTimeOffset(DateTime<FixedOffset>),
    Date(NaiveDate),
    Guid(String),
    /// `type'text'`, e.g. `OpenTI.AlertSeverity'High'` or `duration'P1D'`.
    Typed {
        type_name: String,
        text: String,
    },
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
    Minus,
    Star,
    Eof,
}

impl Tok {
    /// How the token is named in error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(_) => "a string literal".into(),
            Tok::Int(_) | Tok::Decimal(_) => "a number".into(),
            Tok::DateTimeOffset(_) => "a DateTimeOffset literal".into(),
            Tok::Date(_) => "a Date literal".into(),
            Tok::Guid(_) => "a GUID literal".into(),
            Tok::Typed { type_name, .. } => format!("a {type_name} literal"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Slash => "'/'".into(),
            Tok::Colon => "':'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Star => "'*'".into(),
            Tok::Eof => "the end of the expression".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset in the option text (including the caller's base offset).
    pub pos: usize,
}

/// Operator keywords: an identifier glued to a quote (`eq'x'`) is read as keyword + string
/// rather than as a typed literal, because that is what every client means by it.
const OPERATOR_WORDS: &[&str] =
    &["eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "has", "in", "add", "sub", "mul", "div", "divby", "mod"];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$'
}
fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Splits `text` into tokens; `base` is added to every offset (used for nested `$expand`
/// options, whose positions are reported in the enclosing `$expand` text).
pub fn tokenize(text: &str, base: usize) -> Result<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let pos = base + i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let simple = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b',' => Some(Tok::Comma),
            b'/' => Some(Tok::Slash),
            b':' => Some(Tok::Colon),
            b'*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(tok) = simple {
            out.push(Token { tok, pos });
            i += 1;
            continue;
        }
        if c == b'\'' {
            let (s, next) = string_literal(text, i, base)?;
            out.push(Token { tok: Tok::Str(s), pos });
            i = next;
            continue;
        }
        // GUIDs may start with a letter or a digit, so they are tried before both.
        if let Some(len) = guid_len(&bytes[i..]) {
            out.push(Token { tok: Tok::Guid(text[i..i + len].to_ascii_lowercase()), pos });
            i += len;
            continue;
        }
        if c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            if c.is_ascii_digit() {
                if let Some((tok, len)) = date_literal(text, i, base)? {
                    out.push(Token { tok, pos });
                    i += len;
                    continue;
                }
            }
            let (tok, len) = number_literal(text, i, base)?;
            out.push(Token { tok, pos });
            i += len;
            continue;
        }
        if c == b'-' {
            out.push(Token { tok: Tok::Minus, pos });
            i += 1;
            continue;
        }
        if is_ident_start(c) {
            let start = i;
            i += 1;
            // Qualified names (`OpenTI.AlertSeverity`) keep their dots.
            while i < bytes.len()
                && (is_ident_char(bytes[i])
                    || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(|b| is_ident_start(*b))))
            {
                i += 1;
            }
            let name = &text[start..i];
            if bytes.get(i) == Some(&b'\'') && !OPERATOR_WORDS.iter().any(|w| w.eq_ignore_ascii_case(name)) {
                let (s, next) = string_literal(text, i, base)?;
                out.push(Token { tok: Tok::Typed { type_name: name.to_string(), text: s }, pos });
                i = next;
            } else {
                out.push(Token { tok: Tok::Ident(name.to_string()), pos });
            }
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        return Err(Fail::syntax(pos, format!("unexpected character '{ch}'")));
    }
    out.push(Token { tok: Tok::Eof, pos: base + bytes.len() });
    Ok(out)
}

/// Reads `'…'` starting at byte `start` (the opening quote); `''` is an escaped quote.
/// Returns the unescaped text and the offset after the closing quote.
pub fn string_literal(text: &str, start: usize, base: usize) -> Result<(String, usize)> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = start + 1;
    let mut run = i;
    loop {
        match bytes.get(i) {
            None => return Err(Fail::syntax(base + start, "unterminated string literal")),
            Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => {
                out.push_str(&text[run..=i]);
                i += 2;
                run = i;
            }
            Some(b'\'') => {
                out.push_str(&text[run..i]);
                break;
            }
            // NUL is refused here because PostgreSQL cannot store it in text: letting it
            // through would turn a bad request into a database error.
            Some(0) => return Err(Fail::syntax(base + i, "NUL character in string literal")),
            Some(_) => i += 1,
        }
    }
    Ok((out, i + 1))
}

fn guid_len(b: &[u8]) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (n, len) in GROUPS.iter().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
        for _ in 0..*len {
            if !b.get(i).is_some_and(u8::is_ascii_hexdigit) {
                return None;
            }
            i += 1;
        }
    }
    if b.get(i).is_some_and(|c| is_ident_char(*c) || *c == b'-') {
        return None;
    }
    Some(i)
}

/// `YYYY-MM-DD` or `YYYY-MM-DDThh:mm[:ss[.fff…]](Z|±hh:mm)`. Returns None when the text at
/// `start` does not look like a date at all (it is then a number).
fn date_literal(text: &str, start: usize, base: usize) -> Result<Option<(Tok, usize)>> {
    let b = &text.as_bytes()[start..];
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if !(digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7) && b.get(7) == Some(&b'-') && digits(8..10)) {
        return Ok(None);
    }
    let pos = base + start;
    let date_text = &text[start..start + 10];
    if !matches!(b.get(10), Some(b'T') | Some(b't')) {
        if b.get(10).is_some_and(|c| is_ident_char(*c)) {
            return Err(Fail::syntax(pos, format!("malformed date literal '{}'", &text[start..start + 11])));
        }
        let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d")
            .map_err(|_| Fail::syntax(pos, format!("invalid date '{date_text}'")))?;
        return Ok(Some((Tok::Date(date), 10)));
    }
    let mut end = 11;
    while b.get(end).is_some_and(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'+' | b'-' | b'Z' | b'z')) {
        end += 1;
    }
    let mut literal = text[start..start + end].to_string();
    // An unencoded '+' in a query string arrives as a space ("…10:00:00 01:00"); accept the
    // offset anyway instead of failing a request that every client library produces.
    let rest = &b[end..];
    if !literal.contains(['+', 'Z', 'z'])
        && !literal[11..].contains('-')
        && rest.len() >= 6
        && rest[0] == b' '
        && rest[1..3].iter().all(u8::is_ascii_digit)
        && rest[3] == b':'
        && rest[4..6].iter().all(u8::is_ascii_digit)
        && !rest.get(6).is_some_and(|c| is_ident_char(*c))
    {
        literal.push('+');
        literal.push_str(&text[start + end + 1..start + end + 6]);
        end += 6;
    }
    match parse_datetime(&literal) {
        Some(dt) => Ok(Some((Tok::DateTimeOffset(dt), end))),
        None => Err(Fail::syntax(pos, format!("invalid DateTimeOffset literal '{literal}'"))),
    }
}

/// Parses an OData DateTimeOffset: RFC 3339, with seconds optional.
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt);
    }
    // `2026-11-22T10:00Z`: seconds omitted, which RFC 3339 does not allow but OData does.
    let t = s.find(['T', 't'])?;
    let time = &s[t + 1..];
    let zone_at = time.find(['Z', 'z', '+', '-'])?;
    if time[..zone_at].len() == 5 {
        let with_seconds = format!("{}:00{}", &s[..t + 1 + zone_at], &time[zone_at..]);
        return DateTime::parse_from_rfc3339(&with_seconds).ok();
    }
    None
}

fn number_literal(text: &str, start: usize, base: usize) -> Result<(Tok, usize)> {
    let b = &text.as_bytes()[start..];
    let mut i = usize::from(b[0] == b'-');
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut is_decimal = false;
    if b.get(i) == Some(&b'.') {
        if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return Err(Fail::syntax(base + start + i, "expected digits after the decimal point"));
        }
        is_decimal = true;
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+') | Some(b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            is_decimal = true;
            i = j;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
    }
    if b.get(i).is_some_and(|c| is_ident_char(*c)) {
        return Err(Fail::syntax(base + start, format!("malformed number '{}'", &text[start..start + i + 1])));
    }
    let lit = &text[start..start + i];
    if !is_decimal {
        if let Ok(v) = lit.parse::<i64>() {
            return Ok((Tok::Int(v), i));
        }
    }
    // Integers beyond Int64 are Edm.Decimal in OData.
    match lit.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((Tok::Decimal(v), i)),
        _ => Err(Fail::syntax(base + start, format!("number '{lit}' is out of range"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s, 0).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn literals() {
        assert_eq!(toks("'it''s'"), vec![Tok::Str("it's".into()), Tok::Eof]);
        assert_eq!(toks("''"), vec![Tok::Str(String::new()), Tok::Eof]);
        assert_eq!(toks("-12 3.5 1e3"), vec![Tok::Int(-12), Tok::Decimal(3.5), Tok::Decimal(1000.0), Tok::Eof]);
        assert_eq!(toks("-9223372036854775808"), vec![Tok::Int(i64::MIN), Tok::Eof]);
        assert_eq!(toks("9223372036854775808"), vec![Tok::Decimal(9223372036854775808.0), Tok::Eof]);
        assert_eq!(toks("2026-11-22"), vec![Tok::Date(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()), Tok::Eof]);
        let dt = |s: &str| Tok::DateTimeOffset(DateTime::parse_from_rfc3339(s).unwrap());
        assert_eq!(toks("2026-11-22T10:00:00Z"), vec![dt("2026-11-22T10:00:00Z"), Tok::Eof]);
        assert_eq!(toks("2026-11-22T10:00Z"), vec![dt("2026-11-22T10:00:00Z"), Tok::Eof]);
        assert_eq!(toks("2026-11-22T10:00:00.125+02:00"), vec![dt("2026-11-22T10:00:00.125+02:00"), Tok::Eof]);
        assert_eq!(toks("2026-11-22T10:00:00 02:00"), vec![dt("2026-11-22T10:00:00+02:00"), Tok::Eof]);
        assert_eq!(toks("2026-11-22T10:00:00-05:30"), vec![dt("2026-11-22T10:00:00-05:30"), Tok::Eof]);
        assert_eq!(
            toks("0A1B2C3D-0000-4000-8000-00000000000F"),
            vec![Tok::Guid("0a1b2c3d-0000-4000-8000-00000000000f".into()), Tok::Eof]
        );
        assert_eq!(
            toks("OpenTI.AlertSeverity'High'"),
            vec![Tok::Typed { type_name: "OpenTI.AlertSeverity".into(), text: "High".into() }, Tok::Eof]
        );
        assert_eq!(toks("eq'x'"), vec![Tok::Ident("eq".into()), Tok::Str("x".into()), Tok::Eof]);
    }

    #[test]
    fn errors_carry_positions() {
        assert_eq!(tokenize("Name eq 'abc", 0).unwrap_err().pos, Some(8));
        assert_eq!(tokenize("Id eq 12ab", 0).unwrap_err().pos, Some(6));
        assert_eq!(tokenize("Id eq 1.", 0).unwrap_err().pos, Some(7));
        assert_eq!(tokenize("x # y", 10).unwrap_err().pos, Some(12));
        assert_eq!(tokenize("CreatedAt gt 2026-13-01T00:00:00Z", 0).unwrap_err().pos, Some(13));
        assert!(tokenize("'a\0b'", 0).is_err());
        assert!(tokenize("1e999", 0).is_err());
    }
}

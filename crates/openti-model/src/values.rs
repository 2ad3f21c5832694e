//! What an IOC value means: validation and normalisation of IOC values per type (SPEC A.5),
//! and the matching normalisation of values observed in telemetry, so that both sides of a
//! comparison are in the same form.
//!
//! Two halves live here on purpose. The API side ([`normalize_ioc_value`]) is strict: a value
//! that could never match, or that means something other than what the client probably meant,
//! is a 400 with a message that says how to fix it. The event side (`observed_*`,
//! [`file_base_name`], [`decode_hex_digest`]) is lenient and never fails loudly: telemetry is
//! whatever sensors send, and a value that cannot be normalised simply matches nothing.
//! Keeping both in one file is what guarantees that an IOC stored as `evil.com` meets an
//! observed `EVIL.COM.` in the same form.
//!
//! Normal forms, by type:
//!
//! | type | normal form |
//! | --- | --- |
//! | Sha1, Sha256, Md5 | 40/64/32 hex digits, lower case |
//! | IpAddress | canonical text of an address or a CIDR block; IPv4-mapped IPv6 folded to IPv4; host bits of a block cleared (`10.1.2.3/8` → `10.0.0.0/8`); a full-length prefix is the bare address |
//! | DomainName | Equals/EndWith: a host name, lower case, no trailing dot, IDN as punycode. StartWith/Contains: a lower-case ASCII fragment of one |
//! | Url | Equals/StartWith: an absolute URL as the `url` crate serialises it (scheme and host lower case, default port dropped). EndWith/Contains: an ASCII fragment, case kept. Regex: the pattern |
//! | FileName | a file name without a path, case-folded (see [`fold_case`]); Regex: the pattern, matched case-insensitively |
//!
//! Surrounding whitespace is trimmed from every value except regular expressions, where it
//! may be part of the pattern.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::enums::{DetectionFunction, IocType};
use crate::error::ErrorCode;

/// A value that is not valid for its IOC type. `code` is the OData error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    /// InvalidHashValue, InvalidIpAddress, InvalidDomainName, InvalidUrl or InvalidRequestBody.
    pub code: &'static str,
    pub message: String,
}

impl ValueError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ValueError {
        ValueError { code: code.as_str(), message: message.into() }
    }

    /// The code as the error table's enum.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::parse(self.code).unwrap_or(ErrorCode::InvalidRequestBody)
    }
}

/// Longest IOC value, in characters (SPEC A.5).
pub const MAX_VALUE_CHARS: usize = 2048;
/// Longest file name, in characters (the Windows `MAX_PATH`): a longer name cannot exist.
pub const MAX_FILE_NAME_CHARS: usize = 260;
/// Longest host name in its textual form, without the trailing dot (RFC 1035 §2.3.4).
pub const MAX_HOST_NAME_LEN: usize = 253;
/// Longest label of a host name (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Compiled-size limit of one IOC regular expression. Patterns are tenant input; the limit
/// keeps one pattern from costing megabytes of memory in every matcher.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Nesting limit of one IOC regular expression (guards the parser's recursion).
pub const REGEX_NEST_LIMIT: u32 = 64;
/// Compiled-size cap of a whole [`RegexSet`] built by [`build_ioc_regex_set`].
pub const REGEX_SET_SIZE_LIMIT: usize = 64 * 1024 * 1024;

/// The error code used for a bad value of `ioc_type` (SPEC A.9).
fn type_code(ioc_type: IocType) -> ErrorCode {
    match ioc_type {
        IocType::Sha1 | IocType::Sha256 | IocType::Md5 => ErrorCode::InvalidHashValue,
        IocType::IpAddress => ErrorCode::InvalidIpAddress,
        IocType::DomainName => ErrorCode::InvalidDomainName,
        IocType::Url => ErrorCode::InvalidUrl,
        IocType::FileName => ErrorCode::InvalidRequestBody,
    }
}

/// Quotes a value for an error message, shortened so that a 2 KiB value does not make a
/// 2 KiB message.
fn shown(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("'{}…'", &value[..cut]),
        None => format!("'{value}'"),
    }
}

/// Checks that `function` is allowed for `ioc_type` (SPEC A.5); code BadRequest otherwise.
pub fn check_function(ioc_type: IocType, function: DetectionFunction) -> Result<(), ValueError> {
    if ioc_type.allows(function) {
        return Ok(());
    }
    let allowed: Vec<&str> = ioc_type.allowed_functions().iter().map(|f| f.as_str()).collect();
    Err(ValueError::new(
        ErrorCode::BadRequest,
        format!("DetectionFunction {function} is not allowed for Type {ioc_type}; allowed: {}", allowed.join(", ")),
    ))
}

/// Validates `raw` for `ioc_type` used with `function` and returns its normalised form.
///
/// Normalising a normalised value returns it unchanged, so the matcher may call this again.
pub fn normalize_ioc_value(ioc_type: IocType, function: DetectionFunction, raw: &str) -> Result<String, ValueError> {
    check_function(ioc_type, function)?;
    let code = type_code(ioc_type);
    if raw.trim().is_empty() {
        return Err(ValueError::new(code, format!("Value must not be empty for Type {ioc_type}")));
    }
    if raw.chars().count() > MAX_VALUE_CHARS {
        return Err(ValueError::new(code, format!("Value is longer than {MAX_VALUE_CHARS} characters")));
    }
    if function == DetectionFunction::Regex {
        // A pattern is kept as written: whitespace may be part of it.
        compile_ioc_regex(ioc_type, raw)?;
        return Ok(raw.to_string());
    }
    let value = raw.trim();
    match ioc_type {
        IocType::Sha1 => normalize_hash(value, 40, "SHA1"),
        IocType::Sha256 => normalize_hash(value, 64, "SHA256"),
        IocType::Md5 => normalize_hash(value, 32, "MD5"),
        IocType::IpAddress => parse_ip_block(value).map(ip_block_text),
        IocType::DomainName => match function {
            DetectionFunction::Equals | DetectionFunction::EndWith => normalize_host_name(value),
            _ => normalize_domain_fragment(value),
        },
        IocType::Url => match function {
            DetectionFunction::Equals | DetectionFunction::StartWith => normalize_absolute_url(value),
            _ => normalize_url_fragment(value),
        },
        IocType::FileName => normalize_file_name(value),
    }
}

fn normalize_hash(value: &str, len: usize, name: &str) -> Result<String, ValueError> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(value.to_ascii_lowercase());
    }
    let found = if value.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{} hexadecimal characters", value.len())
    } else {
        "characters that are not hexadecimal digits".to_string()
    };
    Err(ValueError::new(
        ErrorCode::InvalidHashValue,
        format!("{} is not a valid {name}: expected exactly {len} hexadecimal characters, found {found}", shown(value)),
    ))
}

// ---------------------------------------------------------------------------------------------
// IP addresses and blocks

/// Parses an IOC IP value: an IPv4/IPv6 address or CIDR block, optionally in brackets.
///
/// Host bits of a block are cleared rather than rejected (`10.1.2.3/8` is `10.0.0.0/8`):
/// feeds commonly write a block by one of its addresses, and the block is unambiguous.
/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, and blocks inside `::ffff:0:0/96`) folds to IPv4,
/// because observed addresses are folded the same way ([`observed_ip`]).
pub fn parse_ip_block(value: &str) -> Result<IpNet, ValueError> {
    let invalid = |why: &str| {
        ValueError::new(
            ErrorCode::InvalidIpAddress,
            format!("{} is not a valid IP address or CIDR block: {why}", shown(value)),
        )
    };
    let text = value.trim();
    let (addr_text, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr_text = addr_text.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr_text);
    if addr_text.contains('%') {
        return Err(invalid("zone ids (%…) are not allowed"));
    }
    let addr: IpAddr =
        addr_text.parse().map_err(|_| invalid("expected an address such as 203.0.113.7 or 2001:db8::1"))?;
    let net = match prefix {
        None => IpNet::from(addr),
        Some(p) => {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("the prefix length after '/' must be a number"));
            }
            let len: u8 = p.parse().map_err(|_| invalid("the prefix length after '/' must be a number"))?;
            IpNet::new(addr, len)
                .map_err(|_| {
                    invalid(if addr.is_ipv4() {
                        "an IPv4 prefix length is at most 32"
                    } else {
                        "an IPv6 prefix length is at most 128"
                    })
                })?
                .trunc()
        }
    };
    Ok(fold_mapped_block(net))
}

/// Folds a block inside `::ffff:0:0/96` to the IPv4 block it maps.
fn fold_mapped_block(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if v6.prefix_len() >= 96 {
            if let Some(v4) = v6.network().to_ipv4_mapped() {
                if let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96) {
                    return IpNet::V4(n);
                }
            }
        }
    }
    net
}

/// The canonical text of a block: a full-length prefix is the bare address.
pub fn ip_block_text(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// An observed IP address, leniently: surrounding ASCII whitespace, brackets (`[::1]`), a port
/// (`[::1]:443`, `1.2.3.4:80`) and an IPv6 zone id (`fe80::1%eth0`) are stripped;
/// IPv4-mapped IPv6 folds to IPv4.
pub fn observed_ip(raw: &str) -> Option<IpAddr> {
    let mut s = raw.trim_ascii();
    if let Some(rest) = s.strip_prefix('[') {
        s = &rest[..rest.find(']')?];
    }
    if let Some(zone) = s.find('%') {
        s = &s[..zone];
    }
    let addr = match s.parse::<IpAddr>() {
        Ok(a) => a,
        Err(_) => {
            // `1.2.3.4:80`: only IPv4 can carry an unbracketed port without ambiguity.
            let (host, port) = s.rsplit_once(':')?;
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
        }
    };
    Some(fold_mapped_addr(addr))
}

fn fold_mapped_addr(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

// ---------------------------------------------------------------------------------------------
// Domain names

/// Normalises a full host name (DomainName with Equals or EndWith): lower case, one
/// trailing dot dropped, IDN converted to punycode, labels of 1–63 characters of
/// `[a-z0-9-_]`, at most 253 characters.
pub fn normalize_host_name(value: &str) -> Result<String, ValueError> {
    let invalid = |why: &str| {
        ValueError::new(ErrorCode::InvalidDomainName, format!("{} is not a valid domain name: {why}", shown(value)))
    };
    let v = value.strip_suffix('.').unwrap_or(value);
    if v.is_empty() {
        return Err(invalid("it is empty"));
    }
    if v.contains("://") || v.contains('/') {
        return Err(invalid("give the host name only (e.g. 'evil.com'), or use Type Url for a URL"));
    }
    if v.starts_with("*.") {
        return Err(invalid(
            "wildcards are not supported; use DetectionFunction EndWith with the parent domain (e.g. 'evil.com')",
        ));
    }
    if v.contains(':') {
        return Err(invalid("a domain name has no port or colon; an IPv6 address needs Type IpAddress"));
    }
    let ascii = if v.is_ascii() {
        v.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(v).map_err(|_| invalid("it is not a valid internationalised domain name"))?
    };
    check_host_labels(&ascii).map_err(|why| invalid(&why))?;
    if ascii.parse::<Ipv4Addr>().is_ok() {
        return Err(invalid("it is an IP address; use Type IpAddress"));
    }
    Ok(ascii)
}

fn check_host_labels(host: &str) -> Result<(), String> {
    if host.len() > MAX_HOST_NAME_LEN {
        return Err(format!("it is longer than {MAX_HOST_NAME_LEN} characters"));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("it has an empty label ('..' or a leading dot)".into());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!("the label '{label}' is longer than {MAX_LABEL_LEN} characters"));
        }
        if let Some(c) = label.chars().find(|c| !is_host_char(*c)) {
            return Err(format!(
                "'{}' is not allowed in a host name (letters, digits, '-', '_' and '.')",
                c.escape_default()
            ));
        }
    }
    Ok(())
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

/// Normalises a fragment of a host name (DomainName with StartWith or Contains): lower case,
/// ASCII characters of a host name only.
fn normalize_domain_fragment(value: &str) -> Result<String, ValueError> {
    let invalid = |why: &str| {
        ValueError::new(
            ErrorCode::InvalidDomainName,
            format!("{} is not a valid domain name fragment: {why}", shown(value)),
        )
    };
    if !value.is_ascii() {
        return Err(invalid(
            "observed host names are compared in their punycode (xn--) form; give the fragment in that form",
        ));
    }
    if value.len() > MAX_HOST_NAME_LEN {
        return Err(invalid(&format!("it is longer than {MAX_HOST_NAME_LEN} characters")));
    }
    let lower = value.to_ascii_lowercase();
    if let Some(c) = lower.chars().find(|c| !(is_host_char(*c) || *c == '.')) {
        return Err(invalid(&format!(
            "'{}' is not allowed in a host name (letters, digits, '-', '_' and '.')",
            c.escape_default()
        )));
    }
    Ok(lower)
}

/// An observed host name, leniently: ASCII whitespace trimmed, one trailing dot dropped, lower
/// case, IDN converted to punycode where possible. `None` only for an empty value.
pub fn observed_domain(raw: &str) -> Option<Cow<'_, str>> {
    let s = trim_host(raw)?;
    if !s.is_ascii() {
        return Some(Cow::Owned(idna::domain_to_ascii(s).unwrap_or_else(|_| fold_case(s).into_owned())));
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(s.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(s))
    }
}

/// [`observed_domain`] without allocating in the common case: an ASCII host that needs
/// lower-casing is written to `buf`. Only a non-ASCII (IDN) host, or one longer than the
/// buffer, allocates.
pub fn observed_domain_buf<'a>(raw: &'a str, buf: &'a mut [u8]) -> Option<Cow<'a, str>> {
    let s = trim_host(raw)?;
    if !s.is_ascii() || s.len() > buf.len() {
        return observed_domain(s).map(|c| Cow::Owned(c.into_owned()));
    }
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(Cow::Borrowed(s));
    }
    let out = &mut buf[..s.len()];
    out.copy_from_slice(s.as_bytes());
    out.make_ascii_lowercase();
    // ASCII lower-casing of ASCII text keeps it valid UTF-8.
    std::str::from_utf8(out).ok().map(Cow::Borrowed)
}

/// Whether `raw` is already an observed domain in normal form, i.e. [`observed_domain`]
/// would return it unchanged: lets a caller skip preparing a buffer.
#[inline]
pub fn is_normal_observed_domain(raw: &str) -> bool {
    let b = raw.as_bytes();
    !b.is_empty()
        && b[b.len() - 1] != b'.'
        && !b[0].is_ascii_whitespace()
        && !b[b.len() - 1].is_ascii_whitespace()
        && b.iter().all(|c| c.is_ascii() && !c.is_ascii_uppercase())
}

fn trim_host(raw: &str) -> Option<&str> {
    let s = raw.trim_ascii();
    let s = s.strip_suffix('.').unwrap_or(s);
    (!s.is_empty()).then_some(s)
}

/// The host of a RemoteUrl value that is not a URL (no `://`): an HTTP Host header or a TLS
/// SNI, possibly with a port (`evil.com:8443`) or a path (`evil.com/x`). `None` for a URL, for
/// an empty value and for an IP literal, which is no domain name.
pub fn observed_bare_host(raw: &str) -> Option<&str> {
    let s = raw.trim_ascii();
    if has_scheme_separator(s) {
        return None;
    }
    let end = s.bytes().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(s.len());
    let mut host = &s[..end];
    if host.starts_with('[') {
        return None; // bracketed IPv6 literal
    }
    if let Some((h, port)) = host.rsplit_once(':') {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            host = h;
        }
    }
    if host.is_empty() || host.contains(':') || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    Some(host)
}

// ---------------------------------------------------------------------------------------------
// URLs

/// A URL in normal form, with the position of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedUrl<'a> {
    url: Cow<'a, str>,
    host_start: usize,
    host_end: usize,
    host_is_domain: bool,
}

impl<'a> ObservedUrl<'a> {
    /// The normalised URL.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host as it appears in the normalised URL (IPv6 in brackets).
    pub fn host(&self) -> &str {
        self.url.get(self.host_start..self.host_end).unwrap_or("")
    }

    /// Whether the host is a domain name (not an IP literal), i.e. is matched as a DomainName.
    pub fn host_is_domain(&self) -> bool {
        self.host_is_domain
    }

    /// Whether normalising needed a copy (the raw text was not in normal form).
    pub fn is_owned(&self) -> bool {
        matches!(self.url, Cow::Owned(_))
    }

    /// The normalised URL and its host, owned.
    pub fn into_parts(self) -> (String, String) {
        let host = self.host().to_string();
        (self.url.into_owned(), host)
    }
}

/// Parses and normalises an absolute URL with the `url` crate (WHATWG rules: scheme and host
/// lower case, default port dropped, dot segments resolved, unsafe characters
/// percent-encoded, IDN hosts in punycode). The host of a non-special scheme is opaque to the
/// `url` crate; it is lower-cased here so that all hosts compare case-insensitively.
fn parse_url(text: &str) -> Result<ObservedUrl<'static>, String> {
    if !text.contains("://") {
        return Err("it is not an absolute URL: it needs a scheme and a host, e.g. 'http://evil.com/path'".into());
    }
    let mut url = url::Url::parse(text).map_err(|e| format!("it is not a valid URL ({e})"))?;
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => return Err("it has no host; give an absolute URL such as 'http://evil.com/path'".into()),
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        url.set_host(Some(&host.to_ascii_lowercase())).map_err(|e| format!("it is not a valid URL ({e})"))?;
    }
    let host_is_domain = matches!(url.host(), Some(url::Host::Domain(_)));
    let serialised = url.as_str();
    let host_str = url.host_str().unwrap_or("");
    // host_str() is a slice of as_str(): its offset is its position.
    let host_start = (host_str.as_ptr() as usize).saturating_sub(serialised.as_ptr() as usize);
    let host_end = host_start + host_str.len();
    let url_text: String = url.into();
    Ok(ObservedUrl { url: Cow::Owned(url_text), host_start, host_end, host_is_domain })
}

fn normalize_absolute_url(value: &str) -> Result<String, ValueError> {
    parse_url(value)
        .map(|u| u.url.into_owned())
        .map_err(|why| ValueError::new(ErrorCode::InvalidUrl, format!("{} is not a valid URL: {why}", shown(value))))
}

/// A URL fragment (EndWith/Contains) is compared with normalised URLs, which are ASCII and
/// contain no whitespace: a fragment with either could never match.
fn normalize_url_fragment(value: &str) -> Result<String, ValueError> {
    let invalid = |why: &str| {
        ValueError::new(ErrorCode::InvalidUrl, format!("{} is not a valid URL fragment: {why}", shown(value)))
    };
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(&format!(
            "'{}' never appears in a normalised URL; percent-encode it as it appears in the URL",
            c.escape_default()
        )));
    }
    if !value.is_ascii() {
        return Err(invalid("normalised URLs are ASCII; percent-encode the path and give hosts in punycode (xn--)"));
    }
    Ok(value.to_string())
}

/// An observed URL in normal form. `None` when the value is not an absolute URL with a host
/// (a bare host is matched only as a domain: see [`observed_bare_host`]).
///
/// The common case does not allocate: a URL already in normal form (an `http`/`https` URL
/// with a lower-case ASCII domain host, no default port and a path without characters the
/// URL standard rewrites) is returned borrowed. Everything else goes through the `url` crate.
pub fn observed_url(raw: &str) -> Option<ObservedUrl<'_>> {
    if let Some((host_start, host_end)) = fast_normal_url(raw) {
        return Some(ObservedUrl { url: Cow::Borrowed(raw), host_start, host_end, host_is_domain: true });
    }
    if !has_scheme_separator(raw) {
        return None; // a bare host: no allocation for it
    }
    parse_url(raw.trim()).ok()
}

fn has_scheme_separator(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| w == b"://")
}

/// Returns the host's position if `s` is certainly already in the form `url` would
/// serialise it to. Conservative: anything unusual returns `None` and takes the slow path.
/// One pass over the bytes; a property test checks it against the `url` crate.
fn fast_normal_url(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let (default_port, host_start) = if b.starts_with(b"https://") {
        (443u32, 8)
    } else if b.starts_with(b"http://") {
        (80u32, 7)
    } else {
        return None;
    };
    // Host: labels of lower-case letters, digits and '-'. Empty labels, punycode labels
    // (the `url` crate validates them) and anything else take the slow path.
    let mut i = host_start;
    let mut label = i;
    loop {
        match *b.get(i)? {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => i += 1,
            b'.' => {
                if i == label || b[label..i].starts_with(b"xn--") {
                    return None;
                }
                i += 1;
                label = i;
            }
            b':' | b'/' => break,
            _ => return None,
        }
    }
    // A host whose last label starts with a digit may be an IPv4 address in one of the forms
    // the URL standard rewrites (`0x7f.1`, `127.1`).
    if i == label || b[label..i].starts_with(b"xn--") || b[label].is_ascii_digit() {
        return None;
    }
    let host_end = i;
    if b[i] == b':' {
        let start = i + 1;
        let len = b[start..].iter().position(|c| !c.is_ascii_digit())?;
        if len == 0 || len > 5 || b[start] == b'0' || b.get(start + len) != Some(&b'/') {
            return None;
        }
        let port = b[start..start + len].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        if port > 65535 || port == default_port {
            return None;
        }
        i = start + len;
    }
    // Path, query, fragment: printable ASCII the URL standard leaves alone, and no dot
    // segments (which it resolves). `b[i]` is the '/' that starts the path.
    let mut in_path = true;
    let mut segment = i + 1;
    let dot_segment = |seg: &[u8]| seg == b"." || seg == b"..";
    for j in i + 1..b.len() {
        let c = b[j];
        if !URL_KEPT[usize::from(c)] {
            return None;
        }
        if in_path {
            match c {
                b'/' | b'?' | b'#' => {
                    if dot_segment(&b[segment..j]) {
                        return None;
                    }
                    segment = j + 1;
                    in_path = c == b'/';
                }
                b'%' if b.get(j + 1) == Some(&b'2') && matches!(b.get(j + 2), Some(b'e' | b'E')) => return None,
                _ => {}
            }
        }
    }
    if in_path && dot_segment(&b[segment..]) {
        return None;
    }
    Some((host_start, host_end))
}

/// Bytes the URL standard keeps as they are in the path, query and fragment of a special
/// URL: printable ASCII except those it percent-encodes somewhere (`"`, `<`, `>`, backtick,
/// `{`, `}`, `^`, `|`, `'`) and the backslash, which it reads as `/`.
static URL_KEPT: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0x21;
    while c <= 0x7e {
        table[c] = true;
        c += 1;
    }
    let excluded = b"\"<>`{}\\^|'";
    let mut k = 0;
    while k < excluded.len() {
        table[excluded[k] as usize] = false;
        k += 1;
    }
    table
};

// ---------------------------------------------------------------------------------------------
// File names

/// Case folding for file names: each character lower-cased on its own (`char::to_lowercase`,
/// without the context rules of `str::to_lowercase`), so that the event side can fold into a
/// fixed buffer ([`fold_case_into`]) and get exactly the same text.
pub fn fold_case(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(s.to_ascii_lowercase());
        }
        return Cow::Borrowed(s);
    }
    if s.chars().all(|c| c.to_lowercase().eq(std::iter::once(c))) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().flat_map(char::to_lowercase).collect())
}

/// [`fold_case`] into `buf` without allocating; borrows `s` when it is already folded.
/// `None` when the folded text does not fit in `buf`.
pub fn fold_case_into<'a>(s: &'a str, buf: &'a mut [u8]) -> Option<&'a str> {
    if s.is_ascii() {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Some(s);
        }
        let out = buf.get_mut(..s.len())?;
        out.copy_from_slice(s.as_bytes());
        out.make_ascii_lowercase();
        return std::str::from_utf8(out).ok();
    }
    let mut len = 0;
    for c in s.chars().flat_map(char::to_lowercase) {
        let n = c.len_utf8();
        let slot = buf.get_mut(len..len + n)?;
        c.encode_utf8(slot);
        len += n;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

fn normalize_file_name(value: &str) -> Result<String, ValueError> {
    let invalid = |why: &str| {
        ValueError::new(ErrorCode::InvalidRequestBody, format!("{} is not a valid file name: {why}", shown(value)))
    };
    if value.chars().any(char::is_control) {
        return Err(invalid("it contains control characters"));
    }
    if value.contains(['\\', '/']) {
        return Err(invalid(
            "give the file name without a path (e.g. 'mimikatz.exe'), or use DetectionFunction Regex to match paths",
        ));
    }
    if value.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(invalid(&format!("it is longer than {MAX_FILE_NAME_CHARS} characters")));
    }
    Ok(fold_case(value).into_owned())
}

/// The last component of a Windows or POSIX path (`C:\x\a.exe` and `/usr/bin/a` alike).
pub fn file_base_name(path: &str) -> &str {
    let path = path.trim_ascii();
    // Byte search: both separators are ASCII, so the cut is on a character boundary.
    match path.bytes().rposition(|b| b == b'\\' || b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

/// Whether regexes of `ioc_type` ignore case: file names are case-insensitive, URLs are not
/// (a pattern may still say `(?i)`).
pub fn regex_case_insensitive(ioc_type: IocType) -> bool {
    ioc_type == IocType::FileName
}

/// Compiles an IOC regular expression (Rust `regex` syntax, linear time) with the size and
/// nesting limits; an invalid or too large pattern is InvalidRequestBody.
pub fn compile_ioc_regex(ioc_type: IocType, pattern: &str) -> Result<Regex, ValueError> {
    check_function(ioc_type, DetectionFunction::Regex)?;
    if pattern.trim().is_empty() {
        return Err(ValueError::new(ErrorCode::InvalidRequestBody, "a regular expression must not be empty"));
    }
    if pattern.chars().count() > MAX_VALUE_CHARS {
        return Err(ValueError::new(
            ErrorCode::InvalidRequestBody,
            format!("a regular expression is longer than {MAX_VALUE_CHARS} characters"),
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .case_insensitive(regex_case_insensitive(ioc_type))
        .build()
        .map_err(|e| regex_error(pattern, e))
}

fn regex_error(pattern: &str, e: regex::Error) -> ValueError {
    let message = match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "the regular expression {} is too large: compiled it exceeds {limit} bytes; simplify it (fewer or smaller repetitions, fewer alternatives)",
            shown(pattern)
        ),
        regex::Error::Syntax(s) => format!("{} is not a valid regular expression (Rust regex syntax):\n{s}", shown(pattern)),
        other => format!("{} is not a valid regular expression: {other}", shown(pattern)),
    };
    ValueError::new(ErrorCode::InvalidRequestBody, message)
}

/// Builds a [`RegexSet`] of IOC patterns of `ioc_type` with the same flags as
/// [`compile_ioc_regex`], so that the matcher and validation agree on what a pattern means.
pub fn build_ioc_regex_set<I, S>(ioc_type: IocType, patterns: I) -> Result<RegexSet, regex::Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let patterns: Vec<S> = patterns.into_iter().collect();
    let limit = REGEX_SIZE_LIMIT.saturating_mul(patterns.len().max(1)).min(REGEX_SET_SIZE_LIMIT);
    RegexSetBuilder::new(patterns)
        .size_limit(limit)
        .nest_limit(REGEX_NEST_LIMIT)
        .case_insensitive(regex_case_insensitive(ioc_type))
        .build()
}

// ---------------------------------------------------------------------------------------------
// Hashes, event side

/// An observed hash in normal form (lower-case hex of 32, 40 or 64 digits); `None` if it is
/// not one. Sysmon writes hashes in upper case.
pub fn normalize_observed_hash(raw: &str) -> Option<Cow<'_, str>> {
    let s = raw.trim_ascii();
    if !matches!(s.len(), 32 | 40 | 64) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(s.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(s))
    }
}

/// Decodes a hex digest of exactly `N` bytes, in either case, ignoring surrounding whitespace.
/// The matcher keys hashes by their bytes: half the memory of hex, and case never matters.
///
/// Branch-free per digit (a table lookup): telemetry hashes are random, so a branch on
/// "digit or letter" would mispredict half the time and cost more than the lookup itself.
pub fn decode_hex_digest<const N: usize>(raw: &str) -> Option<[u8; N]> {
    let s = raw.trim_ascii().as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut invalid = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUE[usize::from(pair[0])], HEX_VALUE[usize::from(pair[1])]);
        invalid |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(out)
}

/// The value of each byte as a hex digit; 0xff for a byte that is not one.
static HEX_VALUE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests;

use super::*;
use DetectionFunction::*;
use IocType::*;

fn ok(t: IocType, f: DetectionFunction, raw: &str) -> String {
    match normalize_ioc_value(t, f, raw) {
        Ok(v) => v,
        Err(e) => panic!("{t}/{f} {raw:?} rejected: {} {}", e.code, e.message),
    }
}

fn code(t: IocType, f: DetectionFunction, raw: &str) -> &'static str {
    match normalize_ioc_value(t, f, raw) {
        Ok(v) => panic!("{t}/{f} {raw:?} accepted as {v:?}"),
        Err(e) => e.code,
    }
}

#[test]
fn hashes_are_lower_cased_and_exact_length() {
    let sha1 = "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3";
    assert_eq!(ok(Sha1, Equals, sha1), sha1.to_lowercase());
    assert_eq!(ok(Sha1, Equals, &format!("  {sha1}\n")), sha1.to_lowercase());
    assert_eq!(ok(Md5, Equals, "D41D8CD98F00B204E9800998ECF8427E"), "d41d8cd98f00b204e9800998ecf8427e");
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(ok(Sha256, Equals, sha256), sha256);
    assert_eq!(code(Sha1, Equals, &sha1[..39]), "InvalidHashValue");
    assert_eq!(code(Sha1, Equals, &format!("{sha1}0")), "InvalidHashValue");
    assert_eq!(code(Sha256, Equals, sha1), "InvalidHashValue");
    assert_eq!(code(Md5, Equals, "g41d8cd98f00b204e9800998ecf8427e"), "InvalidHashValue");
    assert_eq!(code(Sha1, Equals, ""), "InvalidHashValue");
    assert_eq!(code(Sha1, Equals, "   "), "InvalidHashValue");
    let e = normalize_ioc_value(Sha1, Equals, &sha1[..39]).unwrap_err();
    assert!(e.message.contains("40 hexadecimal"), "{}", e.message);
    assert_eq!(e.error_code(), ErrorCode::InvalidHashValue);
}

#[test]
fn functions_not_allowed_for_a_type_are_bad_requests() {
    assert_eq!(code(Sha1, Contains, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"), "BadRequest");
    assert_eq!(code(IpAddress, StartWith, "10.0.0.1"), "BadRequest");
    assert_eq!(code(DomainName, Regex, "evil"), "BadRequest");
    let e = check_function(DomainName, Regex).unwrap_err();
    assert!(e.message.contains("allowed: Equals, EndWith, StartWith, Contains"), "{}", e.message);
    assert!(check_function(Url, Regex).is_ok());
    for t in IocType::ALL {
        for f in DetectionFunction::ALL {
            assert_eq!(check_function(*t, *f).is_ok(), t.allows(*f));
        }
    }
}

#[test]
fn ip_addresses_and_blocks_have_canonical_text() {
    assert_eq!(ok(IpAddress, Equals, "52.184.197.12"), "52.184.197.12");
    assert_eq!(ok(IpAddress, Equals, " 10.0.0.0/8 "), "10.0.0.0/8");
    // Host bits are cleared, not rejected.
    assert_eq!(ok(IpAddress, Equals, "10.1.2.3/8"), "10.0.0.0/8");
    assert_eq!(ok(IpAddress, Equals, "10.1.2.3/32"), "10.1.2.3");
    assert_eq!(ok(IpAddress, Equals, "0.0.0.0/0"), "0.0.0.0/0");
    assert_eq!(ok(IpAddress, Equals, "2001:DB8:0:0::1"), "2001:db8::1");
    assert_eq!(ok(IpAddress, Equals, "2001:db8::1/32"), "2001:db8::/32");
    assert_eq!(ok(IpAddress, Equals, "2001:db8::1/128"), "2001:db8::1");
    assert_eq!(ok(IpAddress, Equals, "[2001:db8::1]"), "2001:db8::1");
    // IPv4-mapped IPv6 folds to IPv4, addresses and blocks alike.
    assert_eq!(ok(IpAddress, Equals, "::ffff:1.2.3.4"), "1.2.3.4");
    assert_eq!(ok(IpAddress, Equals, "::FFFF:102:304"), "1.2.3.4");
    assert_eq!(ok(IpAddress, Equals, "::ffff:1.2.3.0/120"), "1.2.3.0/24");
    assert_eq!(ok(IpAddress, Equals, "::ffff:0:0/96"), "0.0.0.0/0");
    // A block wider than the mapped range stays IPv6.
    assert_eq!(ok(IpAddress, Equals, "::/64"), "::/64");
    for bad in [
        "999.1.1.1",
        "1.2.3",
        "1.2.3.4/33",
        "2001:db8::/129",
        "1.2.3.4/",
        "1.2.3.4/+8",
        "1.2.3.4/x",
        "01.2.3.4",
        "fe80::1%eth0",
        "evil.com",
        "1.2.3.4:80",
        "",
    ] {
        assert_eq!(code(IpAddress, Equals, bad), "InvalidIpAddress", "{bad}");
    }
}

#[test]
fn observed_ips_are_lenient() {
    let v4: IpAddr = "1.2.3.4".parse().unwrap();
    assert_eq!(observed_ip("1.2.3.4"), Some(v4));
    assert_eq!(observed_ip(" ::ffff:1.2.3.4 "), Some(v4));
    assert_eq!(observed_ip("1.2.3.4:443"), Some(v4));
    assert_eq!(observed_ip("[::ffff:1.2.3.4]:443"), Some(v4));
    assert_eq!(observed_ip("[2001:db8::1]"), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(observed_ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
    assert_eq!(observed_ip("[fe80::1%12]:80"), Some("fe80::1".parse().unwrap()));
    for bad in ["", "-", "999.1.1.1", "evil.com", "[::1", "1.2.3.4:x"] {
        assert_eq!(observed_ip(bad), None, "{bad}");
    }
}

#[test]
fn domain_names_are_host_names_in_normal_form() {
    assert_eq!(ok(DomainName, Equals, "Evil.COM."), "evil.com");
    assert_eq!(ok(DomainName, EndWith, "evil.com"), "evil.com");
    assert_eq!(ok(DomainName, Equals, "_ldap._tcp.dc.example"), "_ldap._tcp.dc.example");
    assert_eq!(ok(DomainName, Equals, "Bücher.Example"), "xn--bcher-kva.example");
    assert_eq!(ok(DomainName, Equals, "xn--bcher-kva.example"), "xn--bcher-kva.example");
    assert_eq!(ok(DomainName, Equals, "com"), "com");
    let label63 = "a".repeat(63);
    assert_eq!(ok(DomainName, Equals, &format!("{label63}.com")), format!("{label63}.com"));
    let long = vec!["abcdefghi"; 26].join("."); // 259 chars
    for bad in [
        "",
        ".",
        "a..b",
        ".evil.com",
        "*.evil.com",
        "evil com",
        "http://evil.com",
        "evil.com/x",
        "evil.com:80",
        "1.2.3.4",
        "::1",
        "ev!l.com",
        &format!("{label63}a.com"),
        &long,
    ] {
        assert_eq!(code(DomainName, Equals, bad), "InvalidDomainName", "{bad}");
    }
    assert_eq!(code(DomainName, EndWith, "*.evil.com"), "InvalidDomainName");
    let e = normalize_ioc_value(DomainName, Equals, "*.evil.com").unwrap_err();
    assert!(e.message.contains("EndWith"), "{}", e.message);
}

#[test]
fn domain_fragments_for_start_with_and_contains() {
    assert_eq!(ok(DomainName, StartWith, "WWW."), "www.");
    assert_eq!(ok(DomainName, Contains, "Evil"), "evil");
    assert_eq!(ok(DomainName, Contains, "-cdn-"), "-cdn-");
    for bad in ["evil com", "evil/", "bü", "a:b", ""] {
        assert_eq!(code(DomainName, Contains, bad), "InvalidDomainName", "{bad}");
    }
    assert_eq!(code(DomainName, StartWith, "http://x"), "InvalidDomainName");
}

#[test]
fn observed_domains() {
    assert_eq!(observed_domain("Evil.COM.").as_deref(), Some("evil.com"));
    assert!(matches!(observed_domain("evil.com"), Some(Cow::Borrowed("evil.com"))));
    assert_eq!(observed_domain("bücher.example").as_deref(), Some("xn--bcher-kva.example"));
    assert_eq!(observed_domain(" "), None);
    assert_eq!(observed_domain("."), None);
    let mut buf = [0u8; 256];
    assert_eq!(observed_domain_buf("WWW.Evil.com.", &mut buf).as_deref(), Some("www.evil.com"));
    let mut buf = [0u8; 256];
    assert!(matches!(observed_domain_buf("WWW.Evil.com.", &mut buf), Some(Cow::Borrowed(_))));
    for s in ["evil.com", "a", "_x.y-z"] {
        assert!(is_normal_observed_domain(s));
        assert!(matches!(observed_domain(s), Some(Cow::Borrowed(b)) if b == s));
    }
    for s in ["", "Evil.com", "evil.com.", " evil.com", "evil.com\t", "bücher.de"] {
        assert!(!is_normal_observed_domain(s), "{s:?}");
    }
    let mut tiny = [0u8; 2];
    assert_eq!(observed_domain_buf("ABC.d", &mut tiny).as_deref(), Some("abc.d"));
}

#[test]
fn bare_hosts() {
    assert_eq!(observed_bare_host("evil.com"), Some("evil.com"));
    assert_eq!(observed_bare_host("evil.com:8443"), Some("evil.com"));
    assert_eq!(observed_bare_host("evil.com/a/b?c"), Some("evil.com"));
    assert_eq!(observed_bare_host("http://evil.com/"), None);
    assert_eq!(observed_bare_host("1.2.3.4"), None);
    assert_eq!(observed_bare_host("1.2.3.4:80"), None);
    assert_eq!(observed_bare_host("[::1]:80"), None);
    assert_eq!(observed_bare_host("::1"), None);
    assert_eq!(observed_bare_host(""), None);
}

#[test]
fn urls_are_absolute_and_normalised() {
    assert_eq!(ok(Url, Equals, "HTTP://Evil.COM:80/a/../Payload.exe?x=1"), "http://evil.com/Payload.exe?x=1");
    assert_eq!(ok(Url, Equals, "https://evil.com:443"), "https://evil.com/");
    assert_eq!(ok(Url, Equals, "https://evil.com:8443/x"), "https://evil.com:8443/x");
    assert_eq!(ok(Url, StartWith, "http://Bücher.example/dl"), "http://xn--bcher-kva.example/dl");
    assert_eq!(ok(Url, Equals, "http://52.184.197.12/"), "http://52.184.197.12/");
    assert_eq!(ok(Url, Equals, "FOO://Host.Example/Path"), "foo://host.example/Path");
    for bad in [
        "evil.com/payload",
        "/relative",
        "mailto:a@evil.com",
        "http://",
        "http://exa mple.com/",
        "file:///etc/passwd",
        "http://[::1/",
    ] {
        assert_eq!(code(Url, Equals, bad), "InvalidUrl", "{bad}");
    }
    assert_eq!(code(Url, StartWith, "evil.com"), "InvalidUrl");
    let e = normalize_ioc_value(Url, Equals, "evil.com/payload").unwrap_err();
    assert!(e.message.contains("scheme"), "{}", e.message);
}

#[test]
fn url_fragments_keep_case() {
    assert_eq!(ok(Url, Contains, "/wp-admin/Evil.php"), "/wp-admin/Evil.php");
    assert_eq!(ok(Url, EndWith, ".exe"), ".exe");
    assert_eq!(code(Url, Contains, "a b"), "InvalidUrl");
    assert_eq!(code(Url, Contains, "/é"), "InvalidUrl");
    assert_eq!(code(Url, EndWith, "x\u{7}"), "InvalidUrl");
}

#[test]
fn regexes_compile_with_limits() {
    assert_eq!(ok(Url, Regex, r"^https?://[^/]+/gate\.php"), r"^https?://[^/]+/gate\.php");
    // A pattern keeps its whitespace.
    assert_eq!(ok(FileName, Regex, " x"), " x");
    assert!(compile_ioc_regex(FileName, r"^mimi.*\.exe$").unwrap().is_match("MimiKatz.EXE"));
    assert!(!compile_ioc_regex(Url, "^http://EVIL").unwrap().is_match("http://evil"));
    assert_eq!(code(Url, Regex, "(unclosed"), "InvalidRequestBody");
    assert_eq!(code(FileName, Regex, r"\p{NotAClass}"), "InvalidRequestBody");
    // Too large once compiled: the message says so.
    let e = normalize_ioc_value(Url, Regex, r"\w{1000}\w{1000}").unwrap_err();
    assert_eq!(e.code, "InvalidRequestBody");
    assert!(e.message.contains("too large"), "{}", e.message);
    // Too deeply nested.
    let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(code(Url, Regex, &nested), "InvalidRequestBody");
    assert_eq!(compile_ioc_regex(DomainName, "x").unwrap_err().code, "BadRequest");
    assert_eq!(compile_ioc_regex(Url, "").unwrap_err().code, "InvalidRequestBody");
    let set = build_ioc_regex_set(FileName, ["^a", "b$"]).unwrap();
    assert_eq!(set.matches("AxB").into_iter().collect::<Vec<_>>(), vec![0, 1]);
}

#[test]
fn file_names_are_case_folded() {
    assert_eq!(ok(FileName, Equals, " MimiKatz.EXE "), "mimikatz.exe");
    assert_eq!(ok(FileName, Contains, "ÉVIL"), "évil");
    assert_eq!(ok(FileName, StartWith, "a"), "a");
    assert_eq!(code(FileName, Equals, r"C:\x\mimikatz.exe"), "InvalidRequestBody");
    assert_eq!(code(FileName, EndWith, "/bin/sh"), "InvalidRequestBody");
    assert_eq!(code(FileName, Equals, "a\u{0}b"), "InvalidRequestBody");
    assert_eq!(code(FileName, Equals, &"a".repeat(261)), "InvalidRequestBody");
    assert_eq!(ok(FileName, Equals, &"a".repeat(260)).len(), 260);
}

#[test]
fn values_have_a_length_limit() {
    let long = format!("http://evil.com/{}", "a".repeat(2048));
    assert_eq!(code(Url, Equals, &long), "InvalidUrl");
    assert_eq!(code(FileName, Regex, &"a".repeat(2049)), "InvalidRequestBody");
    // 2048 characters, not bytes.
    let wide = "é".repeat(2048);
    assert_eq!(code(FileName, Contains, &wide), "InvalidRequestBody"); // over 260 for a file name
    assert!(normalize_ioc_value(Url, Contains, &"a".repeat(2048)).is_ok());
}

#[test]
fn normalisation_is_idempotent() {
    let cases: &[(IocType, DetectionFunction, &str)] = &[
        (Sha1, Equals, "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3"),
        (IpAddress, Equals, "::ffff:10.1.2.3/104"),
        (IpAddress, Equals, "2001:DB8::1/48"),
        (DomainName, EndWith, "Bücher.Example."),
        (DomainName, Contains, "EVIL"),
        (Url, Equals, "HTTP://Evil.COM:80/a/./b/../c?q#F"),
        (Url, StartWith, "https://EVIL.com"),
        (FileName, Equals, "ÉVIL.exe"),
    ];
    for (t, f, raw) in cases {
        let once = ok(*t, *f, raw);
        assert_eq!(ok(*t, *f, &once), once, "{t}/{f} {raw}");
    }
}

#[test]
fn hashes_on_the_event_side() {
    assert_eq!(
        normalize_observed_hash("D41D8CD98F00B204E9800998ECF8427E").as_deref(),
        Some("d41d8cd98f00b204e9800998ecf8427e")
    );
    assert!(matches!(normalize_observed_hash("d41d8cd98f00b204e9800998ecf8427e"), Some(Cow::Borrowed(_))));
    assert_eq!(normalize_observed_hash("d41d8cd98f00b204e9800998ecf8427"), None);
    assert_eq!(normalize_observed_hash("SHA1=D41D8CD98F00B204E9800998ECF8427E"), None);
    assert_eq!(decode_hex_digest::<2>(" aBFf "), Some([0xab, 0xff]));
    assert_eq!(decode_hex_digest::<2>("abf"), None);
    assert_eq!(decode_hex_digest::<2>("abfg"), None);
    assert_eq!(decode_hex_digest::<2>("ab\u{e9}"), None);
}

#[test]
fn observed_urls() {
    let u = observed_url("http://evil.com/a?b=c#d").unwrap();
    assert!(!u.is_owned(), "already normal: borrowed");
    assert_eq!((u.as_str(), u.host(), u.host_is_domain()), ("http://evil.com/a?b=c#d", "evil.com", true));
    let u = observed_url("HTTP://EVIL.com:80/a/../b").unwrap();
    assert!(u.is_owned());
    assert_eq!(u.clone().into_parts(), ("http://evil.com/b".to_string(), "evil.com".to_string()));
    let u = observed_url("http://[::1]:8080/").unwrap();
    assert_eq!((u.host(), u.host_is_domain()), ("[::1]", false));
    let u = observed_url("http://52.184.197.12/").unwrap();
    assert_eq!((u.host(), u.host_is_domain()), ("52.184.197.12", false));
    let u = observed_url("https://evil.com:8443/").unwrap();
    assert!(!u.is_owned());
    assert_eq!(u.host(), "evil.com");
    assert_eq!(observed_url("evil.com"), None);
    assert_eq!(observed_url("evil.com:80"), None);
    assert_eq!(observed_url("http://"), None);
}

#[test]
fn base_names_and_case_folding() {
    assert_eq!(file_base_name(r"C:\Windows\System32\cmd.exe"), "cmd.exe");
    assert_eq!(file_base_name("/usr/bin/curl"), "curl");
    assert_eq!(file_base_name("cmd.exe"), "cmd.exe");
    assert_eq!(file_base_name(r"C:\dir\"), "");
    assert_eq!(fold_case("ÀB"), "àb");
    assert!(matches!(fold_case("ab"), Cow::Borrowed(_)));
    assert!(matches!(fold_case("àb"), Cow::Borrowed(_)));
    let mut buf = [0u8; 16];
    assert_eq!(fold_case_into("ÀBΣ", &mut buf), Some("àbσ"));
    let mut buf = [0u8; 2];
    assert_eq!(fold_case_into("abc", &mut buf), Some("abc"), "already folded: borrowed");
    assert_eq!(fold_case_into("ABC", &mut buf), None, "does not fit");
    // Folding in a buffer gives exactly what fold_case gives.
    for s in ["İstanbul", "ǅ", "ΣΑΣ", "ß", "ÉVIL.EXE"] {
        let mut buf = [0u8; 64];
        assert_eq!(fold_case_into(s, &mut buf), Some(fold_case(s).as_ref()), "{s}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn url_like() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec!["http://", "https://", "HTTP://", "ftp://", "http:/", "foo://"]);
        let host = prop::sample::select(vec![
            "evil.com",
            "Evil.com",
            "a-b.c",
            "-a.com",
            "a.com.",
            "xn--bcher-kva.example",
            "xn--zz.example",
            "127.0.0.1",
            "0x7f.1",
            "a.1com",
            "a..b",
            "a_b.com",
            "[::1]",
            "user@evil.com",
            "b\u{fc}cher.de",
            "x",
            "a.b.c.d.e",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
        ]);
        let port = prop::sample::select(vec!["", ":80", ":443", ":8080", ":0", ":080", ":65536", ":", ":99999"]);
        let seg = prop::sample::select(vec![
            "/", "/a", "/A", "/.", "/..", "/%2e", "/%2E%2e", "/a b", "/%zz", "/~x", "/[x]", "/;p", "/é", "?", "?q=1",
            "?'", "#", "#f", "#a#b", "?/../", "#/./", "/.%2E", "/a%2", "/%2", "%2e", "/.a", "/..b", "/\\", "/{}", "/^",
            "/|", "//", "/a=b&c", "/\"", "\t", "/@", "/:",
        ]);
        (scheme, host, port, prop::collection::vec(seg, 0..5))
            .prop_map(|(s, h, p, segs)| format!("{s}{h}{p}{}", segs.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        // The allocation-free fast path must agree with the `url` crate whenever it answers.
        #[test]
        fn fast_path_agrees_with_url_crate(raw in url_like()) {
            if let Some((start, end)) = fast_normal_url(&raw) {
                let slow = parse_url(&raw);
                prop_assert!(slow.is_ok(), "fast path accepted {raw:?}, url crate: {slow:?}");
                let slow = slow.unwrap();
                prop_assert_eq!(slow.as_str(), raw.as_str());
                prop_assert_eq!(slow.host(), &raw[start..end]);
                prop_assert!(slow.host_is_domain());
            }
            // And the observed form is always a fixed point.
            if let Some(u) = observed_url(&raw) {
                let again = observed_url(u.as_str()).expect("a normalised URL parses");
                prop_assert_eq!(again.as_str(), u.as_str());
                prop_assert_eq!(again.host(), u.host());
            }
        }

        #[test]
        fn normalised_values_are_fixed_points(raw in "[ -~]{0,40}", t in 0usize..7, f in 0usize..5) {
            let (t, f) = (IocType::ALL[t], DetectionFunction::ALL[f]);
            if let Ok(v) = normalize_ioc_value(t, f, &raw) {
                prop_assert_eq!(normalize_ioc_value(t, f, &v), Ok(v.clone()));
            }
        }

        #[test]
        fn hex_digests_round_trip(bytes in prop::array::uniform20(any::<u8>()), upper in any::<bool>()) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let hex = if upper { hex.to_uppercase() } else { hex };
            prop_assert_eq!(decode_hex_digest::<20>(&hex), Some(bytes));
        }
    }
}

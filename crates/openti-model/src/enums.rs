//! The enumerations of the custom TI model. Each enum knows its `$metadata` spelling,
//! parses case-insensitively (SPEC A.3) and accepts historical aliases.

/// Declares an enum whose members are spelled on the wire exactly as their Rust names,
/// with case-insensitive parsing and optional input aliases.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every member in `$metadata` order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every member's `$metadata` spelling, in order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant)),+];
            /// The OData type name (without namespace).
            pub const TYPE_NAME: &'static str = stringify!($name);

            /// The `$metadata` spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            /// Parses a member name in any case, or one of its aliases.
            pub fn parse(text: &str) -> Option<Self> {
                let text = text.trim();
                $(
                    if text.eq_ignore_ascii_case(stringify!($variant)) $(|| text.eq_ignore_ascii_case($alias))* {
                        return Some($name::$variant);
                    }
                )+
                None
            }

            /// Position of the member, used as its CSDL value.
            pub fn ordinal(self) -> usize {
                Self::ALL.iter().position(|m| *m == self).unwrap_or(0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| serde::de::Error::custom(format!(
                    "'{}' is not a valid {}", text, stringify!($name))))
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| format!("'{}' is not a valid {}", s, stringify!($name)))
            }
        }
    };
}

wire_enum!(
    /// How serious an alert is.
    AlertSeverity { Informational, Low, Medium, High }
);

wire_enum!(
    /// The alert categories of the original service's era plus the later MITRE-style ones.
    AlertCategory {
        None, SuspiciousActivity, Malware, CredentialTheft, Exploit, WebExploit, DocumentExploit,
        PrivilegeEscalation, Persistence, RemoteAccessTool, CommandAndControl,
        SuspiciousNetworkTraffic, Ransomware, MalwareDownload, Reconnaissance, WebFingerprinting,
        Weaponization, Delivery, SocialEngineering, CredentialStealing, Installation, Backdoor,
        Trojan, TrojanDownloader, LateralMovement, ExplorationEnumeration, NetworkPropagation,
        Exfiltration, NotApplicable, EnterprisePolicy, General, UnwantedSoftware,
        Collection, CredentialAccess, DefenseEvasion, Discovery, Execution, InitialAccess, Impact,
    }
);

wire_enum!(
    /// What kind of value an indicator of compromise holds.
    IocType { Sha1, Sha256, Md5, IpAddress, DomainName, Url, FileName }
);

wire_enum!(
    /// How an IOC's value is compared. Spelled as the original documented them
    /// (`StartWith`, `EndWith`); `StartsWith`/`EndsWith` are accepted on input.
    DetectionFunction { Equals | "Equal", StartWith | "StartsWith", EndWith | "EndsWith", Contains, Regex }
);

wire_enum!(
    /// Triage state of an alert.
    AlertStatus { New, InProgress, Resolved }
);

wire_enum!(
    /// The analyst's verdict on an alert.
    AlertClassification { Unknown, TruePositive, FalsePositive, BenignPositive }
);

impl IocType {
    /// The detection functions allowed for this type (SPEC A.5).
    pub fn allowed_functions(self) -> &'static [DetectionFunction] {
        use DetectionFunction::*;
        match self {
            IocType::Sha1 | IocType::Sha256 | IocType::Md5 | IocType::IpAddress => &[Equals],
            IocType::DomainName => &[Equals, EndWith, StartWith, Contains],
            IocType::Url | IocType::FileName => &[Equals, StartWith, EndWith, Contains, Regex],
        }
    }

    pub fn allows(self, function: DetectionFunction) -> bool {
        self.allowed_functions().contains(&function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_aliases() {
        assert_eq!(IocType::parse("SHA1"), Some(IocType::Sha1));
        assert_eq!(IocType::parse("sha1"), Some(IocType::Sha1));
        assert_eq!(DetectionFunction::parse("endswith"), Some(DetectionFunction::EndWith));
        assert_eq!(DetectionFunction::parse("StartsWith"), Some(DetectionFunction::StartWith));
        assert_eq!(AlertSeverity::parse("critical"), None);
        assert_eq!(AlertCategory::parse("suspiciousnetworktraffic"), Some(AlertCategory::SuspiciousNetworkTraffic));
        assert_eq!(AlertCategory::ALL.len(), 39);
    }

    #[test]
    fn functions_per_type() {
        assert!(!IocType::Sha256.allows(DetectionFunction::Contains));
        assert!(!IocType::DomainName.allows(DetectionFunction::Regex));
        assert!(IocType::Url.allows(DetectionFunction::Regex));
    }
}

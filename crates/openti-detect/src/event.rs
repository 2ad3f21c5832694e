//! The native event (SPEC B.2) every adapter maps its input into.
//!
//! Events borrow from the request body wherever they can: the ingest path is bounded by
//! parsing, so an adapter should not allocate per field unless the input forces it
//! (JSON escapes, EVTX decoding).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use openti_model::IocType;

/// An indicator-bearing field of the native event. Its name is the native field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Sha1,
    Sha256,
    Md5,
    /// A file name or a full path; the matcher takes the base name where it needs one.
    FileName,
    InitiatingProcessSha1,
    InitiatingProcessSha256,
    InitiatingProcessMd5,
    /// A process image name or full path.
    InitiatingProcessFileName,
    RemoteIp,
    /// A URL or a bare host name (HTTP Host, TLS SNI).
    RemoteUrl,
    DnsQuery,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Sha1,
        Field::Sha256,
        Field::Md5,
        Field::FileName,
        Field::InitiatingProcessSha1,
        Field::InitiatingProcessSha256,
        Field::InitiatingProcessMd5,
        Field::InitiatingProcessFileName,
        Field::RemoteIp,
        Field::RemoteUrl,
        Field::DnsQuery,
    ];

    /// The native (SPEC B.2) field name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Sha1 => "SHA1",
            Field::Sha256 => "SHA256",
            Field::Md5 => "MD5",
            Field::FileName => "FileName",
            Field::InitiatingProcessSha1 => "InitiatingProcessSHA1",
            Field::InitiatingProcessSha256 => "InitiatingProcessSHA256",
            Field::InitiatingProcessMd5 => "InitiatingProcessMD5",
            Field::InitiatingProcessFileName => "InitiatingProcessFileName",
            Field::RemoteIp => "RemoteIP",
            Field::RemoteUrl => "RemoteUrl",
            Field::DnsQuery => "DnsQuery",
        }
    }

    /// The IOC types whose values this field is matched against.
    pub fn ioc_types(self) -> &'static [IocType] {
        match self {
            Field::Sha1 | Field::InitiatingProcessSha1 => &[IocType::Sha1],
            Field::Sha256 | Field::InitiatingProcessSha256 => &[IocType::Sha256],
            Field::Md5 | Field::InitiatingProcessMd5 => &[IocType::Md5],
            Field::FileName | Field::InitiatingProcessFileName => &[IocType::FileName],
            Field::RemoteIp => &[IocType::IpAddress],
            // A URL is matched as a URL and its host as a domain; a bare host only as a domain.
            Field::RemoteUrl => &[IocType::Url, IocType::DomainName],
            Field::DnsQuery => &[IocType::DomainName],
        }
    }
}

/// One observed value in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observable<'a> {
    pub field: Field,
    pub value: Cow<'a, str>,
}

/// One telemetry event, mapped to the native shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub timestamp: DateTime<Utc>,
    pub device_id: Option<Cow<'a, str>>,
    pub device_name: Option<Cow<'a, str>>,
    pub action_type: Option<Cow<'a, str>>,
    /// Indicator-bearing values, in the order the adapter found them.
    pub observables: Vec<Observable<'a>>,
    /// The original record, kept as evidence for alerts. Adapters keep the raw text
    /// where they have it so that nothing is built for the (common) event that matches nothing.
    pub raw: Raw<'a>,
}

/// The original record of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'a> {
    /// The record's text as it came in (a JSON line, a Zeek TSV line…).
    Text(Cow<'a, str>),
    /// A record that had to be decoded (EVTX, or one element of a JSON array).
    Json(serde_json::Value),
}

impl Event<'_> {
    /// The device key used for grouping alerts: DeviceId, else DeviceName.
    pub fn device_key(&self) -> &str {
        self.device_id
            .as_deref()
            .or(self.device_name.as_deref())
            .unwrap_or("")
    }

    /// The original record as JSON (text records that are not JSON become a string).
    pub fn raw_json(&self) -> serde_json::Value {
        match &self.raw {
            Raw::Json(v) => v.clone(),
            Raw::Text(t) => serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.to_string())),
        }
    }
}

//! The mapping of one Windows event (Sysmon or any other provider) into the native event,
//! shared by the `sysmon` adapter (events already rendered to JSON) and the `evtx` adapter
//! (events it renders itself). Both run the same [`walk`](super::walk) over the same JSON
//! shape, so a `.evtx` file and its JSON rendering give the same events.
//!
//! Two JSON shapes are read:
//! - the evtx crate's rendering (`evtx_dump -o jsonl`, PyPI `evtx`): `Event.System.{EventID,
//!   Computer, Provider.#attributes.Name, TimeCreated.#attributes.SystemTime}` and the event
//!   fields under `Event.EventData` (or `Event.UserData.<element>`);
//! - the flat shape of exports such as OTRF Security-Datasets: every field at the top level,
//!   with `EventID`, `SourceName`, `Channel`, `Hostname` and `@timestamp` beside them.
//!
//! Events are mapped on the fields they carry, whatever their provider or id: a Security
//! 4663 inside a Sysmon export is a valid event (SPEC B.1). The event id only decides what a
//! field means where Sysmon is ambiguous (`Image` is the new process in event 1 and the
//! acting process everywhere else).

use std::borrow::Cow;

use super::values::{parse_timestamp, Observables, Parts, Subject};
use super::walk::{walk_json_text, walk_object, Scalar, Sink};
use crate::event::Field;

/// Maps a Windows event written as JSON text.
pub(crate) fn map_text(text: &str) -> Result<Parts<'_>, String> {
    let mut sink = WinSink::default();
    walk_json_text(text, &mut sink)?;
    sink.finish()
}

/// Maps a Windows event rendered by the evtx crate.
pub(crate) fn map_value(value: &serde_json::Value) -> Result<Parts<'_>, String> {
    let mut sink = WinSink::default();
    walk_object(value, &mut sink).map_err(|e| format!("unexpected record shape: {e}"))?;
    sink.finish()
}

const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";

/// The event fields this mapping reads. Everything else is kept only as raw evidence.
#[derive(Debug, Clone, Copy)]
enum Key {
    UtcTime,
    // Sysmon
    Image,
    ParentImage,
    ImageLoaded,
    TargetFilename,
    OriginalFileName,
    Hashes,
    Hash,
    DestinationIp,
    DestinationHostname,
    QueryName,
    QueryResults,
    CommandLine,
    ParentCommandLine,
    SourceImage,
    TargetImage,
    // Security and System
    ObjectName,
    ObjectType,
    ProcessName,
    NewProcessName,
    ParentProcessName,
    CallerProcessName,
    Application,
    IpAddress,
    DestAddress,
    /// Keep last: it sizes the slot array.
    ImagePath,
}

impl Key {
    const COUNT: usize = Key::ImagePath as usize + 1;

    fn from_name(name: &str) -> Option<Key> {
        Some(match name {
            "UtcTime" => Key::UtcTime,
            "Image" => Key::Image,
            "ParentImage" => Key::ParentImage,
            "ImageLoaded" => Key::ImageLoaded,
            "TargetFilename" => Key::TargetFilename,
            "OriginalFileName" => Key::OriginalFileName,
            "Hashes" => Key::Hashes,
            "Hash" => Key::Hash,
            "DestinationIp" => Key::DestinationIp,
            "DestinationHostname" => Key::DestinationHostname,
            "QueryName" => Key::QueryName,
            "QueryResults" => Key::QueryResults,
            "CommandLine" => Key::CommandLine,
            "ParentCommandLine" => Key::ParentCommandLine,
            "SourceImage" => Key::SourceImage,
            "TargetImage" => Key::TargetImage,
            "ObjectName" => Key::ObjectName,
            "ObjectType" => Key::ObjectType,
            "ProcessName" => Key::ProcessName,
            "NewProcessName" => Key::NewProcessName,
            "ParentProcessName" => Key::ParentProcessName,
            "CallerProcessName" => Key::CallerProcessName,
            "Application" => Key::Application,
            "IpAddress" => Key::IpAddress,
            "DestAddress" => Key::DestAddress,
            "ImagePath" => Key::ImagePath,
            _ => return None,
        })
    }
}

#[derive(Default)]
struct WinSink<'a> {
    event_id: Option<u64>,
    provider: Option<Cow<'a, str>>,
    channel: Option<Cow<'a, str>>,
    computer: Option<Cow<'a, str>>,
    system_time: Option<Cow<'a, str>>,
    /// `@timestamp` of the flat shape.
    export_time: Option<Cow<'a, str>>,
    data: [Option<Cow<'a, str>>; Key::COUNT],
}

impl<'a> Sink<'a> for WinSink<'a> {
    fn leaf(&mut self, path: &str, value: Scalar<'a>) {
        if let Some(nested) = path.strip_prefix("Event.") {
            if let Some(system) = nested.strip_prefix("System.") {
                self.system(system, value);
            } else if let Some(name) = nested.strip_prefix("EventData.") {
                self.data(name, value);
            } else if let Some((_element, name)) = nested
                .strip_prefix("UserData.")
                .and_then(|user| user.split_once('.'))
            {
                self.data(name, value);
            }
            return;
        }
        // The flat shape.
        match path {
            "EventID" => self.event_id = value.as_u64(),
            "SourceName" | "ProviderName" => self.provider = value.into_text(),
            "Channel" => self.channel = value.into_text(),
            "Hostname" | "Computer" => self.computer = value.into_text(),
            "@timestamp" => self.export_time = value.into_text(),
            "TimeCreated" if self.export_time.is_none() => self.export_time = value.into_text(),
            _ => self.data(path, value),
        }
    }
}

impl<'a> WinSink<'a> {
    fn system(&mut self, key: &str, value: Scalar<'a>) {
        match key {
            // `EventID` carries a `Qualifiers` attribute in classic providers' events, which
            // the renderer writes as `{"#attributes":{…},"#text":7040}`.
            "EventID" | "EventID.#text" => self.event_id = value.as_u64(),
            "Provider.#attributes.Name" | "Provider_attributes.Name" => self.provider = value.into_text(),
            "Channel" => self.channel = value.into_text(),
            "Computer" => self.computer = value.into_text(),
            "TimeCreated.#attributes.SystemTime" | "TimeCreated_attributes.SystemTime" => {
                self.system_time = value.into_text()
            }
            _ => {}
        }
    }

    fn data(&mut self, name: &str, value: Scalar<'a>) {
        if let Some(key) = Key::from_name(name) {
            self.data[key as usize] = value.into_text();
        }
    }

    fn get(&self, key: Key) -> Option<&Cow<'a, str>> {
        self.data[key as usize].as_ref()
    }

    fn is_sysmon(&self) -> bool {
        match (&self.provider, &self.channel) {
            (Some(provider), _) => provider == SYSMON_PROVIDER,
            (None, Some(channel)) => channel.starts_with(SYSMON_PROVIDER),
            // A record without either came through the `sysmon` format: believe it.
            (None, None) => true,
        }
    }

    fn finish(self) -> Result<Parts<'a>, String> {
        // Sysmon's UtcTime is when the event happened; SystemTime when it was logged. In the
        // OTRF export `@timestamp` is local time mislabelled as UTC, so it comes last.
        let timestamp = [self.get(Key::UtcTime), self.system_time.as_ref(), self.export_time.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|t| parse_timestamp(t))
            .ok_or("missing or invalid event time (no UtcTime, System.TimeCreated.SystemTime or @timestamp)")?;
        let sysmon = self.is_sysmon();
        let mut parts = Parts::new(timestamp);
        parts.device_name = self.computer.clone();
        parts.action_type = self.event_id.map(|id| match sysmon_action(id).filter(|_| sysmon) {
            Some(name) => Cow::Borrowed(name),
            None => {
                let log = self.channel.as_deref().or(self.provider.as_deref()).unwrap_or("Windows");
                Cow::Owned(format!("{log}:{id}"))
            }
        });
        self.observables(sysmon, &mut parts.observables);
        Ok(parts)
    }

    fn observables(&self, sysmon: bool, o: &mut Observables<'a>) {
        // Defender's DeviceProcessEvents puts the new process in FileName/SHA1 and its parent
        // in InitiatingProcess*: Sysmon event 1 reads the same way. In every other Sysmon
        // event `Image` is the process that acted.
        let process_create = sysmon && self.event_id == Some(1);
        let image = if process_create { Subject::File } else { Subject::InitiatingProcess };
        o.push_opt(image.file_name(), self.get(Key::Image));
        // Hashes describe the event's subject file: the new process (1), the loaded driver or
        // image (6, 7), the stream or deleted file (15, 23, 26).
        for key in [Key::Hashes, Key::Hash] {
            if let Some(hashes) = self.get(key) {
                o.push_hashes(hashes, Subject::File);
            }
        }
        o.push_opt(Field::FileName, self.get(Key::ImageLoaded));
        o.push_opt(Field::FileName, self.get(Key::TargetFilename));
        o.push_opt(Field::FileName, self.get(Key::OriginalFileName));
        o.push_opt(Field::InitiatingProcessFileName, self.get(Key::ParentImage));
        // Sysmon event 3 always writes the local end as Source and the peer as Destination;
        // `Initiated` only tells who opened the connection.
        if let Some(ip) = self.get(Key::DestinationIp) {
            o.push_ip(ip);
        }
        if let Some(host) = self.get(Key::DestinationHostname) {
            o.push_host(host);
        }
        if let Some(query) = self.get(Key::QueryName) {
            o.push_query(query);
        }
        if let Some(results) = self.get(Key::QueryResults) {
            for result in results.split(';') {
                o.push_answer(&super::values::subcow(results, result));
            }
        }
        for key in [Key::CommandLine, Key::ParentCommandLine] {
            if let Some(command_line) = self.get(key) {
                o.push_urls_in(command_line);
            }
        }
        // Process access (10) and remote thread (8): the source acts on the target.
        o.push_opt(Field::InitiatingProcessFileName, self.get(Key::SourceImage));
        o.push_opt(Field::FileName, self.get(Key::TargetImage));
        // Security 4656/4663 audit registry keys and other objects too; only files are files.
        if self.get(Key::ObjectType).is_some_and(|t| t.trim().eq_ignore_ascii_case("File")) {
            o.push_opt(Field::FileName, self.get(Key::ObjectName));
        }
        // Security 4688: NewProcessName is created by ParentProcessName.
        o.push_opt(Field::FileName, self.get(Key::NewProcessName));
        for key in [Key::ProcessName, Key::ParentProcessName, Key::CallerProcessName, Key::Application] {
            o.push_opt(Field::InitiatingProcessFileName, self.get(key));
        }
        // Security 5156/5158 write the local end as Source whatever the direction; 4624/4625
        // the logon's origin as IpAddress.
        for key in [Key::DestAddress, Key::IpAddress] {
            if let Some(ip) = self.get(key) {
                o.push_ip(ip);
            }
        }
        // System 7045 (service installed).
        o.push_opt(Field::FileName, self.get(Key::ImagePath));
    }
}

/// Sysmon's names for its event ids (the rule names of its configuration schema).
fn sysmon_action(id: u64) -> Option<&'static str> {
    Some(match id {
        1 => "ProcessCreate",
        2 => "FileCreateTime",
        3 => "NetworkConnect",
        4 => "SysmonServiceStateChange",
        5 => "ProcessTerminate",
        6 => "DriverLoad",
        7 => "ImageLoad",
        8 => "CreateRemoteThread",
        9 => "RawAccessRead",
        10 => "ProcessAccess",
        11 => "FileCreate",
        12 => "RegistryCreateDelete",
        13 => "RegistryValueSet",
        14 => "RegistryRename",
        15 => "FileCreateStreamHash",
        16 => "SysmonConfigStateChange",
        17 => "PipeCreated",
        18 => "PipeConnected",
        19 => "WmiEventFilter",
        20 => "WmiEventConsumer",
        21 => "WmiEventConsumerToFilter",
        22 => "DnsQuery",
        23 => "FileDelete",
        24 => "ClipboardChange",
        25 => "ProcessTampering",
        26 => "FileDeleteDetected",
        27 => "FileBlockExecutable",
        28 => "FileBlockShredding",
        29 => "FileExecutableDetected",
        255 => "Error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(parts: &Parts) -> Vec<(Field, String)> {
        parts.observables.0.iter().map(|o| (o.field, o.value.to_string())).collect()
    }

    #[test]
    fn nested_process_create() {
        let text = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2020-02-10T08:28:12.856363Z"}},"Computer":"MSEDGEWIN10"},"EventData":{"UtcTime":"2020-02-10 08:28:12.848","Image":"C:\\Users\\Public\\Furutaka.exe","OriginalFileName":"Furutaka.exe","CommandLine":"Furutaka.exe  dummy2.sys","Hashes":"SHA1=68B26C16080D71013123C6DEE7B1AABC3D2857D0,IMPHASH=114E27FBB0E975697F2F9988DE884FA7","ParentImage":"C:\\Windows\\System32\\cmd.exe"}}}"##;
        let parts = map_text(text).unwrap();
        assert_eq!(parts.timestamp.to_rfc3339(), "2020-02-10T08:28:12.848+00:00");
        assert_eq!(parts.device_name.as_deref(), Some("MSEDGEWIN10"));
        assert_eq!(parts.action_type.as_deref(), Some("ProcessCreate"));
        assert_eq!(
            obs(&parts),
            vec![
                (Field::FileName, r"C:\Users\Public\Furutaka.exe".into()),
                (Field::Sha1, "68B26C16080D71013123C6DEE7B1AABC3D2857D0".into()),
                (Field::FileName, "Furutaka.exe".into()),
                (Field::InitiatingProcessFileName, r"C:\Windows\System32\cmd.exe".into()),
            ]
        );
    }

    #[test]
    fn flat_dns_query_with_results() {
        let text = r#"{"@timestamp":"2020-10-23T02:36:45.970Z","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":22,"SourceName":"Microsoft-Windows-Sysmon","Hostname":"WORKSTATION5","Image":"C:\\windows\\System32\\svchost.exe","QueryName":"raw.githubusercontent.com","QueryResults":"type:  5 github.map.fastly.net;::ffff:151.101.208.133;","UtcTime":"2020-10-23 06:36:42.882"}"#;
        let parts = map_text(text).unwrap();
        assert_eq!(parts.timestamp.to_rfc3339(), "2020-10-23T06:36:42.882+00:00");
        assert_eq!(parts.action_type.as_deref(), Some("DnsQuery"));
        assert_eq!(
            obs(&parts),
            vec![
                (Field::InitiatingProcessFileName, r"C:\windows\System32\svchost.exe".into()),
                (Field::DnsQuery, "raw.githubusercontent.com".into()),
                (Field::RemoteUrl, "github.map.fastly.net".into()),
                (Field::RemoteIp, "151.101.208.133".into()),
            ]
        );
    }

    #[test]
    fn security_events_map_on_their_own_fields() {
        let key = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},"EventID":4663,"Channel":"Security","Computer":"M","TimeCreated":{"#attributes":{"SystemTime":"2021-08-07T23:33:00.588510Z"}}},"EventData":{"ObjectType":"Key","ObjectName":"\\REGISTRY\\MACHINE\\SOFTWARE","ProcessName":"C:\\Office14\\WINWORD.EXE"}}}"##;
        let parts = map_text(key).unwrap();
        assert_eq!(parts.action_type.as_deref(), Some("Security:4663"));
        assert_eq!(obs(&parts), vec![(Field::InitiatingProcessFileName, r"C:\Office14\WINWORD.EXE".into())]);
        let file = key.replace(r#""ObjectType":"Key""#, r#""ObjectType":"File""#);
        assert_eq!(map_text(&file).unwrap().observables.0.len(), 2);
        let wfp = r#"{"TimeCreated":"2020-10-23T02:36:43.764Z","Direction":"%%14593","SourceAddress":"192.168.2.5","Channel":"Security","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"W5","EventID":5156,"DestAddress":"239.255.255.250","Application":"\\device\\harddiskvolume2\\windows\\system32\\svchost.exe"}"#;
        let parts = map_text(wfp).unwrap();
        assert_eq!(
            obs(&parts),
            vec![
                (Field::InitiatingProcessFileName, r"\device\harddiskvolume2\windows\system32\svchost.exe".into()),
                (Field::RemoteIp, "239.255.255.250".into()),
            ]
        );
    }

    #[test]
    fn classic_event_id_with_qualifiers() {
        let text = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045},"Channel":"System","TimeCreated":{"#attributes":{"SystemTime":"2021-01-01T00:00:00Z"}}},"EventData":{"ImagePath":"C:\\evil\\svc.exe"}}}"##;
        let parts = map_text(text).unwrap();
        assert_eq!(parts.action_type.as_deref(), Some("System:7045"));
        assert_eq!(obs(&parts), vec![(Field::FileName, r"C:\evil\svc.exe".into())]);
    }

    #[test]
    fn missing_time_is_an_error() {
        let err = map_text(r#"{"Event":{"System":{"EventID":1},"EventData":{"UtcTime":"soon"}}}"#).unwrap_err();
        assert!(err.contains("event time"), "{err}");
        assert!(map_text("[]").is_err());
    }
}

//! A streaming walk over one JSON object that reports every scalar with its dotted key path,
//! without building a `serde_json::Value`.
//!
//! The JSON formats other than `native` put the same field at different depths: ECS writes
//! `{"file":{"hash":{"sha256":…}}}` or `{"file.hash.sha256":…}`, Zeek writes `"id.orig_h"`,
//! the evtx renderer nests `Event.EventData.Image` where the OTRF export has a top-level
//! `Image`. Walking the document and matching on the joined path (`file.hash.sha256`)
//! handles every such variant with one `match`, and borrows each string from the input.
//! Array elements share their array's path (`dns.answers.rdata` for every answer).
//!
//! The same walk runs over text (`serde_json::Deserializer`) and over an already built
//! `&serde_json::Value` (the EVTX renderer's output), which is how `sysmon` and `evtx` share
//! their mapping.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON scalar, strings borrowed from the input where they carry no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'de> {
    Str(Cow<'de, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Null,
}

impl<'de> Scalar<'de> {
    /// The value as text: numbers and booleans as JSON writes them, `null` as nothing.
    pub(crate) fn into_text(self) -> Option<Cow<'de, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::U64(n) => Some(Cow::Owned(n.to_string())),
            Scalar::I64(n) => Some(Cow::Owned(n.to_string())),
            Scalar::F64(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Scalar::Null => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::U64(n) => Some(*n),
            Scalar::I64(n) => u64::try_from(*n).ok(),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// JSON booleans, and the spellings logs use for them in strings (`"true"`, Zeek's `T`).
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            Scalar::Str(s) => match s.trim() {
                t if t.eq_ignore_ascii_case("true") || t == "T" => Some(true),
                t if t.eq_ignore_ascii_case("false") || t == "F" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Receives the scalars of a walk.
pub(crate) trait Sink<'de> {
    fn leaf(&mut self, path: &str, value: Scalar<'de>);
}

/// Nesting deeper than this is skipped: no format we read nests beyond a handful of levels,
/// and the limit keeps a hostile document from growing the path without bound.
const MAX_DEPTH: usize = 32;

/// Walks one JSON object (anything else is an error) into `sink`.
pub(crate) fn walk_object<'de, D, S>(de: D, sink: &mut S) -> Result<(), D::Error>
where
    D: Deserializer<'de>,
    S: Sink<'de>,
{
    let mut path = String::new();
    de.deserialize_map(Node {
        sink,
        path: &mut path,
        depth: 0,
    })
}

/// Walks a JSON text that must hold exactly one object.
pub(crate) fn walk_json_text<'de, S: Sink<'de>>(text: &'de str, sink: &mut S) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    walk_object(&mut de, sink)
        .and_then(|()| de.end())
        .map_err(|e| format!("invalid JSON: {e}"))
}

struct Node<'s, 'p, S> {
    sink: &'s mut S,
    path: &'p mut String,
    depth: usize,
}

impl<'de, S: Sink<'de>> DeserializeSeed<'de> for Node<'_, '_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de, S: Sink<'de>> Visitor<'de> for Node<'_, '_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.depth == 0 { "a JSON object" } else { "a JSON value" })
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::Str(Cow::Owned(v)));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::U64(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::I64(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::F64(v));
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::Bool(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.sink.leaf(self.path, Scalar::Null);
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        while seq
            .next_element_seed(Node {
                sink: &mut *self.sink,
                path: &mut *self.path,
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        loop {
            let parent = self.path.len();
            if parent > 0 {
                self.path.push('.');
            }
            if map.next_key_seed(PushKey(&mut *self.path))?.is_none() {
                self.path.truncate(parent);
                return Ok(());
            }
            map.next_value_seed(Node {
                sink: &mut *self.sink,
                path: &mut *self.path,
                depth: self.depth + 1,
            })?;
            self.path.truncate(parent);
        }
    }
}

/// Appends a map key to the path, so that no key is ever allocated on its own.
struct PushKey<'p>(&'p mut String);

impl<'de> DeserializeSeed<'de> for PushKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PushKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(String, Scalar<'static>)>);

    impl<'de> Sink<'de> for Collect {
        fn leaf(&mut self, path: &str, value: Scalar<'de>) {
            let owned = match value {
                Scalar::Str(s) => Scalar::Str(Cow::Owned(s.into_owned())),
                Scalar::U64(n) => Scalar::U64(n),
                Scalar::I64(n) => Scalar::I64(n),
                Scalar::F64(n) => Scalar::F64(n),
                Scalar::Bool(b) => Scalar::Bool(b),
                Scalar::Null => Scalar::Null,
            };
            self.0.push((path.to_string(), owned));
        }
    }

    fn s(v: &str) -> Scalar<'static> {
        Scalar::Str(Cow::Owned(v.to_string()))
    }

    #[test]
    fn joins_nested_and_dotted_keys_and_flattens_arrays() {
        let text = r#"{"file":{"hash":{"sha1":"ab"}},"file.name":"x\"y","a":[{"b":1},{"b":-2}],"n":null,"t":true,"f":1.5}"#;
        let mut c = Collect::default();
        walk_json_text(text, &mut c).unwrap();
        assert_eq!(
            c.0,
            vec![
                ("file.hash.sha1".into(), s("ab")),
                ("file.name".into(), s("x\"y")),
                ("a.b".into(), Scalar::U64(1)),
                ("a.b".into(), Scalar::I64(-2)),
                ("n".into(), Scalar::Null),
                ("t".into(), Scalar::Bool(true)),
                ("f".into(), Scalar::F64(1.5)),
            ]
        );
    }

    #[test]
    fn walks_values_like_text() {
        let text = r#"{"Event":{"System":{"EventID":6},"EventData":{"Image":"C:\\a.exe"}}}"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let (mut from_text, mut from_value) = (Collect::default(), Collect::default());
        walk_json_text(text, &mut from_text).unwrap();
        walk_object(&value, &mut from_value).unwrap();
        assert_eq!(from_text.0, from_value.0);
    }

    #[test]
    fn rejects_non_objects_and_trailing_garbage() {
        for bad in ["5", "[1]", "\"x\"", "{\"a\":1} x", "{\"a\":", ""] {
            assert!(walk_json_text(bad, &mut Collect::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_skipped_not_fatal() {
        let text = format!("{}{}", "{\"a\":".repeat(100), "1".to_string() + &"}".repeat(100));
        let mut c = Collect::default();
        walk_json_text(&text, &mut c).unwrap();
        assert!(c.0.is_empty());
    }
}

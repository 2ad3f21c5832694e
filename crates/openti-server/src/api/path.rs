//! OData resource paths under `/V1.0/`: `AlertDefinitions`, `AlertDefinitions(5)`,
//! `AlertDefinitions(5)/IndicatorsOfCompromise`, `IndicatorsOfCompromise(7)/AlertDefinition/$ref`,
//! `{set}/Actions.BulkUpload`, `{set}/$count`…

use openti_model::schema::{entity_set, EntityType, Navigation};

use crate::error::ApiError;

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    ServiceDocument,
    Metadata,
    OpenApi,
    Collection { entity: &'static EntityType, count: bool },
    Entity { entity: &'static EntityType, key: i64 },
    /// A navigation from one entity; `reference` for `/$ref`, `count` for `/$count`.
    Navigation { entity: &'static EntityType, key: i64, nav: &'static Navigation, reference: bool, count: bool },
    /// An action bound to a collection or (with a key) to one entity.
    Action { entity: &'static EntityType, key: Option<i64>, action: String },
    /// The live alert stream, `Alerts/$stream`.
    Stream { entity: &'static EntityType },
}

fn unknown(segment: &str) -> ApiError {
    ApiError::not_found(format!("'{segment}' is not a resource of this service"))
}

/// Splits `Name(key)` into the name and the key; a key may be written `5`, `5L` or `Id=5`.
fn split_key(segment: &str) -> Result<(&str, Option<i64>), ApiError> {
    let Some(open) = segment.find('(') else { return Ok((segment, None)) };
    let name = &segment[..open];
    let inner = segment[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| ApiError::bad_request(format!("the key in '{segment}' is not closed")))?;
    let inner = inner.strip_prefix("Id=").unwrap_or(inner).trim();
    let inner = inner.strip_suffix('L').unwrap_or(inner);
    let key = inner
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("'{inner}' is not an Int64 key")).with_target(name.to_string()))?;
    Ok((name, Some(key)))
}

fn action_name(segment: &str) -> Option<String> {
    let (namespace, name) = segment.rsplit_once('.')?;
    (namespace.eq_ignore_ascii_case("Actions") || namespace.eq_ignore_ascii_case("OpenTI")).then(|| name.to_string())
}

/// Parses the segments after the version segment (already percent-decoded).
pub fn parse(segments: &[String]) -> Result<Resource, ApiError> {
    let segments: Vec<&str> = segments.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let Some(first) = segments.first() else { return Ok(Resource::ServiceDocument) };
    if segments.len() == 1 {
        if *first == "$metadata" {
            return Ok(Resource::Metadata);
        }
        if first.eq_ignore_ascii_case("openapi.json") {
            return Ok(Resource::OpenApi);
        }
    }
    let (set_name, key) = split_key(first)?;
    let entity = entity_set(set_name).ok_or_else(|| unknown(set_name))?;
    let rest = &segments[1..];
    match (key, rest) {
        (None, []) => Ok(Resource::Collection { entity, count: false }),
        (None, ["$count"]) => Ok(Resource::Collection { entity, count: true }),
        (None, ["$stream"]) => Ok(Resource::Stream { entity }),
        (None, [action]) => action_name(action).map(|action| Resource::Action { entity, key: None, action }).ok_or_else(|| unknown(action)),
        (Some(key), []) => Ok(Resource::Entity { entity, key }),
        (Some(key), [segment, tail @ ..]) => {
            if let Some(nav) = entity.navigation(segment) {
                return match tail {
                    [] => Ok(Resource::Navigation { entity, key, nav, reference: false, count: false }),
                    ["$ref"] => Ok(Resource::Navigation { entity, key, nav, reference: true, count: false }),
                    ["$count"] if nav.collection => Ok(Resource::Navigation { entity, key, nav, reference: false, count: true }),
                    [other, ..] => Err(unknown(other)),
                };
            }
            match (action_name(segment), tail) {
                (Some(action), []) => Ok(Resource::Action { entity, key: Some(key), action }),
                _ => Err(unknown(segment)),
            }
        }
        (None, [other, ..]) => Err(unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> Result<Resource, ApiError> {
        parse(&path.split('/').map(str::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn paths() {
        assert_eq!(p("").unwrap(), Resource::ServiceDocument);
        assert_eq!(p("$metadata").unwrap(), Resource::Metadata);
        assert!(matches!(p("AlertDefinitions").unwrap(), Resource::Collection { count: false, .. }));
        assert!(matches!(p("alertdefinitions(5)").unwrap(), Resource::Entity { key: 5, .. }));
        assert!(matches!(p("AlertDefinitions(Id=5L)").unwrap(), Resource::Entity { key: 5, .. }));
        assert!(matches!(
            p("IndicatorsOfCompromise(7)/AlertDefinition/$ref").unwrap(),
            Resource::Navigation { key: 7, reference: true, .. }
        ));
        assert!(matches!(p("AlertDefinitions/Actions.BulkUpload").unwrap(), Resource::Action { key: None, .. }));
        assert!(matches!(p("AlertDefinitions(3)/Actions.DeleteIOCs").unwrap(), Resource::Action { key: Some(3), .. }));
        assert!(p("Nope").is_err());
        assert!(p("AlertDefinitions(abc)").is_err());
        assert!(p("AlertDefinitions(1)/Nope").is_err());
    }
}

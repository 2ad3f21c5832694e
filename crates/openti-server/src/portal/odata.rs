//! Portal lists go through the same OData engine as the API: the form fields become a query
//! string (`$filter`, `$orderby`, `$top`, `$skip`, `$count`), which is parsed and checked like
//! a client's and run by the store. Text from the form only ever appears inside OData string
//! literals, quoted here, and the engine binds every literal as a parameter.

use openti_model::schema::EntityType;
use openti_odata::parse_collection_query;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::PortalError;
use crate::state::SharedState;

/// An OData string literal: single quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `contains(tolower(Property),'text')` for a case-insensitive search.
pub fn contains(property: &str, text: &str) -> String {
    format!("contains(tolower({property}),{})", literal(&text.to_lowercase()))
}

#[derive(Debug, Default)]
pub struct Query {
    pub filters: Vec<String>,
    pub orderby: String,
    pub select: Option<String>,
    pub top: u64,
    pub skip: u64,
    pub count: bool,
}

impl Query {
    pub fn new(orderby: &str, top: u64) -> Self {
        Query { orderby: orderby.to_string(), top, count: true, ..Default::default() }
    }

    pub fn filter(mut self, condition: impl Into<String>) -> Self {
        self.filters.push(condition.into());
        self
    }

    pub fn page(mut self, page: u64) -> Self {
        self.skip = page.saturating_sub(1).saturating_mul(self.top);
        self
    }

    /// The query string, percent-encoded as a client would send it.
    pub fn to_query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if !self.filters.is_empty() {
            let joined: Vec<String> = self.filters.iter().map(|f| format!("({f})")).collect();
            s.append_pair("$filter", &joined.join(" and "));
        }
        if !self.orderby.is_empty() {
            s.append_pair("$orderby", &self.orderby);
        }
        if let Some(select) = &self.select {
            s.append_pair("$select", select);
        }
        s.append_pair("$top", &self.top.to_string());
        if self.skip > 0 {
            s.append_pair("$skip", &self.skip.to_string());
        }
        if self.count {
            s.append_pair("$count", "true");
        }
        s.finish()
    }
}

pub struct Listing {
    pub rows: Vec<Map<String, Value>>,
    pub total: Option<i64>,
}

/// Runs a query for one tenant.
pub async fn run(state: &SharedState, tenant: Uuid, entity: &'static EntityType, query: &Query) -> Result<Listing, PortalError> {
    let raw = query.to_query_string();
    let checked = parse_collection_query(entity, Some(&raw), &state.config.query_limits)?;
    if crate::telemetry_stats::shown_by(entity) {
        state.stats.flush_for_read(tenant).await;
    }
    let page = state.store.query(tenant, &checked, query.top.max(1)).await?;
    Ok(Listing { rows: page.rows, total: page.count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openti_model::schema::{ALERT, ALERT_DEFINITION};
    use openti_odata::QueryLimits;

    #[test]
    fn form_text_stays_inside_a_literal() {
        let q = Query::new("Id desc", 25)
            .filter(contains("Title", "it's') or true or ('"))
            .filter(format!("Severity eq {}", literal("High")))
            .page(3);
        let raw = q.to_query_string();
        let checked = parse_collection_query(&ALERT_DEFINITION, Some(&raw), &QueryLimits::default()).unwrap();
        assert_eq!(checked.skip, Some(50));
        assert!(checked.count);
        assert_eq!(checked.top, Some(25));
    }

    #[test]
    fn alert_filters_parse() {
        let q = Query::new("Id desc", 10)
            .filter(format!("Status eq {}", literal("InProgress")))
            .filter(format!("{} or {}", contains("DeviceName", "WS-01"), contains("DeviceId", "ws-01")));
        parse_collection_query(&ALERT, Some(&q.to_query_string()), &QueryLimits::default()).unwrap();
    }
}

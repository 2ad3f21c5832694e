//! Server-driven paging with keyset `$skiptoken`s.
//!
//! A token records the sort-key values and the `Id` of the last row of a page, so the next
//! page is "rows after this one in the sort order": a range condition an index can serve,
//! which makes page 900 cost what page 1 costs (an `OFFSET` would re-read all earlier rows).
//! The token also carries how many rows were returned so far, so a `$top` that spans pages
//! is honoured exactly while the `$top` in `@odata.nextLink` stays the client's own.
//!
//! Tokens are opaque to clients (URL-safe base64 of a small JSON document) but not secret:
//! a hand-made token can only select rows the client could select with a `$filter`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openti_model::schema::{EntityType, Property};
use sea_query::{Expr as SqExpr, ExprTrait, SimpleExpr};
use serde_json::{json, Map, Value as Json};

use super::check::enum_member;
use super::error::{Fail, QueryErrorKind, Result};
use super::lexer::parse_datetime;
use super::sql::{bind, effective_keys, Sql};
use super::typed::{OrderKey, Ty, Value};

/// The decoded `$skiptoken`: where the previous page ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipToken {
    /// The last row's value of each `$orderby` key (None = null).
    pub keys: Vec<Option<Value>>,
    /// The last row's `Id`.
    pub id: i64,
    /// Rows returned by all previous pages together.
    pub returned: u64,
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Boolean(b) => json!(b),
        Value::Int64(i) | Value::DateTimeOffset(i) | Value::Date(i) => json!(i),
        Value::Decimal(f) => json!(f),
        Value::String(s) | Value::Guid(s) => json!(s),
        Value::Enum { member, .. } => json!(member),
    }
}

/// Reads a property value from JSON: either its wire form (what the store puts in an entity:
/// ISO 8601 text for DateTimeOffset, member names for enums) or the token's storage form
/// (Unix milliseconds). `Some(None)` is null; `None` is "not a valid value of the type".
pub(crate) fn json_to_value(p: &'static Property, v: Option<&Json>) -> Option<Option<Value>> {
    let v = match v {
        None | Some(Json::Null) => return Some(None),
        Some(v) => v,
    };
    let ty = Ty::of(p.ty)?;
    let value = match (ty, v) {
        (Ty::Int64, Json::Number(n)) => Value::Int64(n.as_i64()?),
        (Ty::Int64, Json::String(s)) => Value::Int64(s.parse().ok()?),
        (Ty::String, Json::String(s)) => Value::String(s.clone()),
        (Ty::Guid, Json::String(s)) => Value::Guid(s.to_ascii_lowercase()),
        (Ty::Boolean, Json::Bool(b)) => Value::Boolean(*b),
        (Ty::Boolean, Json::String(s)) => Value::Boolean(s.parse().ok()?),
        (Ty::DateTimeOffset, Json::Number(n)) => Value::DateTimeOffset(n.as_i64()?),
        (Ty::DateTimeOffset, Json::String(s)) => Value::DateTimeOffset(parse_datetime(s)?.timestamp_millis()),
        (Ty::Enum(e), Json::String(s)) => Value::Enum { ty: e, member: enum_member(e, s)? },
        _ => return None,
    };
    Some(Some(value))
}

/// The token for the page after the one ending with `last_row`.
pub(crate) fn encode_skiptoken(
    entity: &'static EntityType,
    orderby: &[OrderKey],
    last_row: &Map<String, Json>,
    returned: u64,
) -> String {
    let keys: Vec<Json> = orderby
        .iter()
        .map(|k| match json_to_value(k.property, last_row.get(k.property.name)) {
            Some(Some(v)) => value_to_json(&v),
            _ => Json::Null,
        })
        .collect();
    let id = match json_to_value(entity.key, last_row.get(entity.key.name)) {
        Some(Some(Value::Int64(i))) => i,
        _ => 0,
    };
    let doc = json!({ "k": keys, "i": id, "n": returned });
    URL_SAFE_NO_PAD.encode(doc.to_string())
}

/// Decodes and validates a token against the request's `$orderby` (the next link repeats
/// it, so a mismatch means a hand-edited or stale link).
pub(crate) fn decode_skiptoken(token: &str, orderby: &[OrderKey]) -> Result<SkipToken> {
    let bad = || Fail::nowhere(QueryErrorKind::Syntax, "the token is malformed or does not belong to this $orderby");
    let bytes = URL_SAFE_NO_PAD.decode(token.trim().trim_end_matches('=')).map_err(|_| bad())?;
    let doc: Json = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let keys = doc.get("k").and_then(Json::as_array).ok_or_else(bad)?;
    if keys.len() != orderby.len() {
        return Err(bad());
    }
    let mut values = Vec::with_capacity(keys.len());
    for (k, v) in orderby.iter().zip(keys) {
        let value = json_to_value(k.property, Some(v)).ok_or_else(bad)?;
        if value.is_none() && !k.property.nullable {
            return Err(bad());
        }
        values.push(value);
    }
    let id = doc.get("i").and_then(Json::as_i64).ok_or_else(bad)?;
    let returned = doc.get("n").and_then(Json::as_u64).ok_or_else(bad)?;
    Ok(SkipToken { keys: values, id, returned })
}

/// "After the token's row" in the order of `orderby` + `Id`, null ordering as in ORDER BY
/// (nulls first ascending, last descending).
pub(crate) fn keyset_condition(
    sql: &Sql<'_>,
    alias: &str,
    entity: &'static EntityType,
    orderby: &[OrderKey],
    token: &SkipToken,
) -> SimpleExpr {
    let keys = effective_keys(entity, orderby);
    let n_user = orderby.len().min(keys.len());
    let mut terms: Vec<(SimpleExpr, Option<SimpleExpr>, bool, bool)> = Vec::with_capacity(keys.len());
    for (j, k) in keys.iter().enumerate() {
        let value = if j < n_user { token.keys.get(j).cloned().flatten() } else { Some(Value::Int64(token.id)) };
        // Enum keys sort by member order, so their token value is compared as an ordinal.
        let bound = value.map(|v| match v.enum_ordinal() {
            Some(o) => SimpleExpr::Value((o as i64).into()),
            None => bind(&v),
        });
        terms.push((sql.sort_expr(alias, k.property), bound, k.descending, k.property.nullable));
    }

    // Fast path: no nulls and one direction → a row-value comparison, which both SQLite and
    // PostgreSQL turn into an index range.
    let uniform = terms.iter().all(|(_, v, d, n)| v.is_some() && !n && *d == terms[0].2);
    if uniform {
        let descending = terms[0].2;
        let (exprs, values): (Vec<SimpleExpr>, Vec<SimpleExpr>) =
            terms.iter().cloned().filter_map(|(e, v, _, _)| v.map(|v| (e, v))).unzip();
        let (l, r) = if exprs.len() == 1 {
            (exprs.into_iter().next(), values.into_iter().next())
        } else {
            (Some(SqExpr::tuple(exprs).into()), Some(SqExpr::tuple(values).into()))
        };
        if let (Some(l), Some(r)) = (l, r) {
            return if descending { l.lt(r) } else { l.gt(r) };
        }
    }

    // General form: OR over i of (keys before i equal AND key i after).
    let mut disjuncts: Vec<SimpleExpr> = Vec::new();
    for i in 0..terms.len() {
        let (e, v, desc, nullable) = &terms[i];
        let after = match (desc, v) {
            (false, None) => Some(e.clone().is_not_null()),
            (false, Some(v)) => Some(e.clone().gt(v.clone())),
            (true, None) => None,
            (true, Some(v)) if *nullable => Some(e.clone().lt(v.clone()).or(e.clone().is_null())),
            (true, Some(v)) => Some(e.clone().lt(v.clone())),
        };
        let Some(mut conj) = after else { continue };
        for (e, v, _, _) in terms[..i].iter().rev() {
            let eq = match v {
                Some(v) => e.clone().eq(v.clone()),
                None => e.clone().is_null(),
            };
            conj = eq.and(conj);
        }
        disjuncts.push(conj);
    }
    let any = disjuncts.into_iter().reduce(|a, b| a.or(b)).unwrap_or_else(|| SqExpr::cust("FALSE"));
    // A redundant bound on the first key lets the planner start an index range there
    // instead of filtering from the first row: later pages stay as cheap as early ones.
    let (e, v, desc, nullable) = &terms[0];
    match (v, desc) {
        (Some(v), false) => e.clone().gte(v.clone()).and(any),
        (Some(v), true) if !nullable => e.clone().lte(v.clone()).and(any),
        _ => any,
    }
}

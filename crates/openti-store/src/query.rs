//! Runs checked OData queries: the statements come from openti-odata (bound parameters
//! only), the rows are decoded by the schema, expansions are fetched per level with one
//! statement each and attached to their parents.

use std::collections::HashMap;

use openti_model::schema::EntityType;
use openti_odata::query::{COUNT_COLUMN, PARENT_KEY_COLUMN};
use openti_odata::{CheckedQuery, Dialect, Expand};
use sea_query::SqliteQueryBuilder;
use sea_query_binder::SqlxBinder;
use serde_json::{Map, Value};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::records::QueryPage;
use crate::sqlite::{backend, decode_row};
use crate::Result;

type Rows = Vec<Map<String, Value>>;

pub(crate) async fn run_sqlite(pool: &SqlitePool, tenant: Uuid, query: &CheckedQuery, page_size: u64) -> Result<QueryPage> {
    let tenant = tenant.to_string();
    let (sql, values) = query.page_statement(Dialect::Sqlite, &tenant, page_size).build_sqlx(SqliteQueryBuilder);
    let fetched = sqlx::query_with(&sql, values).fetch_all(pool).await.map_err(backend)?;
    let mut rows: Rows = fetched.iter().map(|r| decode_row(query.entity, r)).collect::<Result<_>>()?;
    let page_len = query.page_len(page_size) as usize;
    let mut next_skiptoken = None;
    if rows.len() > page_len {
        rows.truncate(page_len);
        if let Some(last) = rows.last() {
            next_skiptoken = Some(query.next_skiptoken(last, query.returned_before() + page_len as u64));
        }
    }
    let count = if query.count {
        let (sql, values) = query.count_statement(Dialect::Sqlite, &tenant).build_sqlx(SqliteQueryBuilder);
        Some(sqlx::query_scalar_with::<_, i64, _>(&sql, values).fetch_one(pool).await.map_err(backend)?)
    } else {
        None
    };
    expand_level(pool, &tenant, query, query.entity, &query.expand, &mut rows).await?;
    Ok(QueryPage { rows, count, next_skiptoken })
}

/// Fetches and attaches every `$expand` item of one level, then recurses into nested ones.
fn expand_level<'a>(
    pool: &'a SqlitePool,
    tenant: &'a str,
    query: &'a CheckedQuery,
    parent: &'static EntityType,
    expands: &'a [Expand],
    rows: &'a mut Rows,
) -> futures::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(());
        }
        for expand in expands {
            let Some(parent_key) = expand.parent_key_property(parent) else { continue };
            let mut keys: Vec<Value> = rows.iter().filter_map(|r| r.get(parent_key.name).cloned()).filter(|v| !v.is_null()).collect();
            keys.sort_by_key(|k| k.as_i64());
            keys.dedup();
            let (sql, values) = query.expand_statement(Dialect::Sqlite, expand, tenant, &keys).build_sqlx(SqliteQueryBuilder);
            let fetched = sqlx::query_with(&sql, values).fetch_all(pool).await.map_err(backend)?;
            let mut children: Rows = Vec::with_capacity(fetched.len());
            let mut child_parent: Vec<i64> = Vec::with_capacity(fetched.len());
            for row in &fetched {
                children.push(decode_row(expand.target, row)?);
                child_parent.push(row.try_get::<i64, _>(PARENT_KEY_COLUMN).map_err(backend)?);
            }
            expand_level(pool, tenant, query, expand.target, &expand.expand, &mut children).await?;
            let mut by_parent: HashMap<i64, Rows> = HashMap::new();
            for (child, key) in children.into_iter().zip(child_parent) {
                by_parent.entry(key).or_default().push(child);
            }
            let counts: HashMap<i64, i64> = if expand.count {
                let (sql, values) =
                    query.expand_count_statement(Dialect::Sqlite, expand, tenant, &keys).build_sqlx(SqliteQueryBuilder);
                let fetched = sqlx::query_with(&sql, values).fetch_all(pool).await.map_err(backend)?;
                fetched
                    .iter()
                    .map(|r| Ok((r.try_get::<i64, _>(PARENT_KEY_COLUMN).map_err(backend)?, r.try_get::<i64, _>(COUNT_COLUMN).map_err(backend)?)))
                    .collect::<Result<_>>()?
            } else {
                HashMap::new()
            };
            let name = expand.navigation.name;
            for row in rows.iter_mut() {
                let key = row.get(parent_key.name).and_then(Value::as_i64);
                let mine = key.and_then(|k| by_parent.get(&k)).cloned().unwrap_or_default();
                let mut mine: Vec<Value> = mine
                    .into_iter()
                    .map(|mut child| {
                        if let Some(select) = &expand.select {
                            let keep: Vec<&str> = select.iter().map(|p| p.name).collect();
                            let nested: Vec<&str> = expand.expand.iter().map(|e| e.navigation.name).collect();
                            child.retain(|k, _| keep.contains(&k.as_str()) || nested.contains(&k.as_str()) || k.contains('@'));
                        }
                        Value::Object(child)
                    })
                    .collect();
                if expand.navigation.collection {
                    if expand.count {
                        let n = key.and_then(|k| counts.get(&k)).copied().unwrap_or(0);
                        row.insert(format!("{name}@odata.count"), Value::from(n));
                    }
                    row.insert(name.to_string(), Value::Array(mine));
                } else {
                    row.insert(name.to_string(), if mine.is_empty() { Value::Null } else { mine.swap_remove(0) });
                }
            }
        }
        Ok(())
    })
}

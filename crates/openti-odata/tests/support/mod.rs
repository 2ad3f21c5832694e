//! Shared test harness: a real in-memory SQLite database with the tables of the model
//! (created from the schema's columns, following the storage conventions), row insertion,
//! and execution of the engine's statements through `sea-query-binder`, as the store does.
#![allow(dead_code)]

use chrono::{DateTime, SecondsFormat, Utc};
use openti_model::schema::{EdmType, EntityType, Property, ENTITY_TYPES};
use openti_odata::query::{parse_collection_query, Dialect, QueryLimits};
use sea_query::{SelectStatement, SqliteQueryBuilder};
use sea_query_binder::SqlxBinder;
use serde_json::{json, Map, Value as Json};
use sqlx::{Column, Connection, Row, SqliteConnection};

pub const TENANT: &str = "11111111-1111-4111-8111-111111111111";
pub const OTHER_TENANT: &str = "22222222-2222-4222-8222-222222222222";

/// A stored value, in storage form.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn sql_type(ty: EdmType) -> &'static str {
    match ty {
        EdmType::Int64 | EdmType::Int32 | EdmType::DateTimeOffset => "INTEGER",
        EdmType::Boolean => "BOOLEAN",
        _ => "TEXT",
    }
}

/// Opens an in-memory database with one table per entity type.
pub async fn database() -> SqliteConnection {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.expect("sqlite");
    for e in ENTITY_TYPES {
        let mut cols = vec!["tenant_id TEXT NOT NULL".to_string()];
        let mut seen = Vec::new();
        for p in e.properties {
            if seen.contains(&p.column) {
                continue;
            }
            seen.push(p.column);
            let null = if p.nullable { "" } else { " NOT NULL" };
            cols.push(format!("{} {}{null}", p.column, sql_type(p.ty)));
        }
        let ddl = format!("CREATE TABLE {} ({}, PRIMARY KEY (tenant_id, id))", e.table, cols.join(", "));
        sqlx::query(&ddl).execute(&mut conn).await.expect("create table");
    }
    conn
}

/// Inserts one row; `cells` are in `entity.properties` order (duplicated columns once, first wins).
pub async fn insert(conn: &mut SqliteConnection, entity: &EntityType, tenant: &str, cells: &[Cell]) {
    let mut cols = vec!["tenant_id"];
    let mut values = vec![Cell::Text(tenant.to_string())];
    for (p, c) in entity.properties.iter().zip(cells) {
        if cols.contains(&p.column) {
            continue;
        }
        cols.push(p.column);
        values.push(c.clone());
    }
    let marks = vec!["?"; cols.len()].join(", ");
    let sql = format!("INSERT INTO {} ({}) VALUES ({marks})", entity.table, cols.join(", "));
    let mut q = sqlx::query(&sql);
    for v in values {
        q = match v {
            Cell::Null => q.bind(None::<String>),
            Cell::Int(i) => q.bind(i),
            Cell::Text(s) => q.bind(s),
            Cell::Bool(b) => q.bind(b),
        };
    }
    q.execute(conn).await.expect("insert");
}

/// Runs a statement and returns the raw rows.
pub async fn fetch(
    conn: &mut SqliteConnection,
    stmt: &SelectStatement,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> {
    let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
    sqlx::query_with(&sql, values).fetch_all(conn).await
}

pub fn ms_to_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Decodes a row selected by a page/expand statement into the entity's wire JSON, the way
/// a store would (DateTimeOffset as ISO 8601 text).
pub fn decode(entity: &EntityType, row: &sqlx::sqlite::SqliteRow) -> Map<String, Json> {
    let mut out = Map::new();
    for (i, p) in entity.properties.iter().enumerate() {
        out.insert(p.name.to_string(), decode_cell(p, row, i));
    }
    out
}

fn decode_cell(p: &Property, row: &sqlx::sqlite::SqliteRow, i: usize) -> Json {
    match p.ty {
        EdmType::Int64 | EdmType::Int32 => {
            row.try_get::<Option<i64>, _>(i).ok().flatten().map_or(Json::Null, |v| json!(v))
        }
        EdmType::DateTimeOffset => {
            row.try_get::<Option<i64>, _>(i).ok().flatten().map_or(Json::Null, |v| json!(ms_to_text(v)))
        }
        EdmType::Boolean => row.try_get::<Option<bool>, _>(i).ok().flatten().map_or(Json::Null, |v| json!(v)),
        _ => row.try_get::<Option<String>, _>(i).ok().flatten().map_or(Json::Null, |v| json!(v)),
    }
}

pub fn column_names(row: &sqlx::sqlite::SqliteRow) -> Vec<String> {
    row.columns().iter().map(|c| c.name().to_string()).collect()
}

/// Follows `@odata.nextLink`s from `query` to the end, as a client would; returns the Ids in
/// the order received and the number of pages.
pub async fn read_all_pages(
    conn: &mut SqliteConnection,
    entity: &'static EntityType,
    query: &str,
    page_size: u64,
) -> Result<(Vec<i64>, usize), String> {
    let limits = QueryLimits::default();
    let mut ids = Vec::new();
    let mut qs = query.to_string();
    for page in 1..=10_000 {
        let q = parse_collection_query(entity, Some(&qs), &limits).map_err(|e| format!("{qs}: {e}"))?;
        let len = q.page_len(page_size) as usize;
        let rows = fetch(conn, &q.page_statement(Dialect::Sqlite, TENANT, page_size))
            .await
            .map_err(|e| format!("{qs}: {e}"))?;
        let more = rows.len() > len;
        let rows = &rows[..rows.len().min(len)];
        ids.extend(rows.iter().map(|r| r.get::<i64, _>(0)));
        if !more {
            return Ok((ids, page));
        }
        let Some(last) = rows.last() else { return Err("empty page with a next link".into()) };
        let token = q.next_skiptoken(&decode(entity, last), q.returned_before() + rows.len() as u64);
        qs = q.next_link_query(&token);
    }
    Err("too many pages".into())
}

/// Percent-encodes a whole query option value the way a strict client would (spaces
/// randomly as `+` or `%20` are handled by the caller).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

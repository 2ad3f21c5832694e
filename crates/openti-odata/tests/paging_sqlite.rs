//! Keyset paging over 2,500 rows with many duplicate and null sort keys: following
//! `@odata.nextLink` returns every row exactly once, in `$orderby` order, for every order
//! and page size; `$top`/`$skip` spanning pages are exact; later pages use an index range,
//! not an OFFSET.

mod support;

use std::cmp::Ordering;
use std::collections::HashSet;

use openti_model::schema::ALERT_DEFINITION as AD;
use openti_odata::query::{parse_collection_query, Dialect, QueryLimits};
use sea_query::SqliteQueryBuilder;
use sea_query_binder::SqlxBinder;
use sqlx::{Row, SqliteConnection};
use support::*;

const N: i64 = 2500;
const SEVERITIES: [&str; 4] = ["Informational", "Low", "Medium", "High"];

#[derive(Debug, Clone)]
struct Def {
    id: i64,
    name: String,
    severity: usize,
    internal: Option<String>,
    enabled: bool,
    created: i64,
    modified: Option<i64>,
}

fn data() -> Vec<Def> {
    // A deterministic scramble so that ids, names and severities are uncorrelated.
    (1..=N)
        .map(|id| {
            let h = (id * 7919) % 10007;
            Def {
                id,
                name: ["alpha", "Beta", "gamma", "delta", "Alpha", "beta", "ε"][(h % 7) as usize].to_string(),
                severity: (h % 4) as usize,
                internal: if h % 3 == 0 { None } else { Some(format!("note {}", h % 5)) },
                enabled: h % 2 == 0,
                created: 1_700_000_000_000 + (h % 13) * 1000,
                modified: if h % 5 == 0 { None } else { Some(1_700_000_000_000 + (h % 6)) },
            }
        })
        .collect()
}

async fn fixture(rows: &[Def]) -> SqliteConnection {
    let mut conn = database().await;
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    for d in rows {
        let t = |s: &str| Cell::Text(s.to_string());
        let cells = vec![
            Cell::Int(d.id),
            t(&d.name),
            t(SEVERITIES[d.severity]),
            d.internal.as_deref().map_or(Cell::Null, t),
            t("title"),
            t("ux"),
            Cell::Null,
            t("Malware"),
            Cell::Bool(d.enabled),
            Cell::Int(d.created),
            Cell::Null,
            d.modified.map_or(Cell::Null, Cell::Int),
            Cell::Null,
        ];
        insert(&mut conn, &AD, TENANT, &cells).await;
        // The same ids in another tenant: invisible, and must not disturb the keyset.
        if d.id % 10 == 0 {
            insert(&mut conn, &AD, OTHER_TENANT, &cells).await;
        }
    }
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    conn
}

/// A sort key of the reference ordering.
fn key(d: &Def, name: &str) -> (Option<String>, Option<i64>) {
    match name {
        "Name" => (Some(d.name.clone()), None),
        "InternalDescription" => (d.internal.clone(), None),
        "Severity" => (None, Some(d.severity as i64)),
        "Enabled" => (None, Some(d.enabled as i64)),
        "CreatedAt" => (None, Some(d.created)),
        "LastModifiedAt" => (None, d.modified),
        "Id" => (None, Some(d.id)),
        _ => unreachable!(),
    }
}

fn cmp_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(a), Some(b)) => a.cmp(&b),
    }
}

fn reference(rows: &[Def], orderby: &[(&str, bool)]) -> Vec<i64> {
    let mut v: Vec<&Def> = rows.iter().collect();
    let tie_desc = orderby.last().is_some_and(|(_, d)| *d);
    v.sort_by(|a, b| {
        for (name, desc) in orderby {
            let (ka, kb) = (key(a, name), key(b, name));
            let o = if matches!(*name, "Name" | "InternalDescription") {
                cmp_opt(ka.0.as_deref().map(str::as_bytes), kb.0.as_deref().map(str::as_bytes))
            } else {
                cmp_opt(ka.1, kb.1)
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = a.id.cmp(&b.id);
        if tie_desc {
            o.reverse()
        } else {
            o
        }
    });
    v.into_iter().map(|d| d.id).collect()
}

#[test]
fn every_row_exactly_once_in_order() {
    let rows = data();
    runtime().block_on(async {
        let mut conn = fixture(&rows).await;
        let orders: &[&[(&str, bool)]] = &[
            &[],
            &[("Severity", true)],
            &[("Name", false), ("Severity", true)],
            &[("InternalDescription", true), ("Name", false)],
            &[("InternalDescription", false)],
            &[("CreatedAt", true)],
            &[("Id", true)],
            &[("LastModifiedAt", false), ("Enabled", true)],
            &[("Enabled", false), ("Id", true), ("Name", false)],
        ];
        for orderby in orders {
            let spec: Vec<String> =
                orderby.iter().map(|(n, d)| format!("{n}{}", if *d { " desc" } else { "" })).collect();
            let qs = if spec.is_empty() { String::new() } else { format!("$orderby={}", encode(&spec.join(","))) };
            let expected = reference(&rows, orderby);
            for page_size in [1000, 97] {
                let (got, pages) = read_all_pages(&mut conn, &AD, &qs, page_size).await.unwrap();
                let unique: HashSet<i64> = got.iter().copied().collect();
                assert_eq!(unique.len(), got.len(), "duplicates with {qs} / {page_size}");
                assert_eq!(got.len(), N as usize, "{qs} / {page_size}");
                assert_eq!(got, expected, "order with {qs} / {page_size}");
                assert_eq!(pages as i64, (N + page_size as i64 - 1) / page_size as i64, "{qs}");
            }
        }
    });
}

#[test]
fn top_and_skip_span_pages_exactly() {
    let rows = data();
    runtime().block_on(async {
        let mut conn = fixture(&rows).await;
        let filter = "Enabled or Severity ge 'Low'";
        let qs = format!("$filter={}&$orderby=Name%20desc&$top=1234&$skip=17&$count=true", encode(filter));
        let matching: Vec<Def> = rows.iter().filter(|d| d.enabled || d.severity >= 1).cloned().collect();
        let expected: Vec<i64> = reference(&matching, &[("Name", true)]).into_iter().skip(17).take(1234).collect();
        assert!(matching.len() > 1234 + 17, "fixture too small for the test");
        let (got, pages) = read_all_pages(&mut conn, &AD, &qs, 100).await.unwrap();
        assert_eq!(got, expected);
        assert_eq!(pages, 13);

        // $top smaller than a page: one page, no next link.
        let (got, pages) = read_all_pages(&mut conn, &AD, "$top=5", 100).await.unwrap();
        assert_eq!((got, pages), (vec![1, 2, 3, 4, 5], 1));
        // $top exactly a multiple of the page size: no empty trailing page.
        let (got, pages) = read_all_pages(&mut conn, &AD, "$top=200", 100).await.unwrap();
        assert_eq!((got.len(), pages), (200, 2));
        let (got, _) = read_all_pages(&mut conn, &AD, "$top=0", 100).await.unwrap();
        assert!(got.is_empty());
        // Extreme values are bound in range (sea-query-binder would panic on u64 > i64::MAX).
        let (got, _) = read_all_pages(&mut conn, &AD, "$skip=18446744073709551615&$top=1000000", 100).await.unwrap();
        assert!(got.is_empty());
        let (got, _) = read_all_pages(&mut conn, &AD, "$skip=2499&$top=1000000", 100).await.unwrap();
        assert_eq!(got, vec![2500]);
    });
}

#[test]
fn next_link_keeps_the_request_and_a_late_page_is_an_index_range() {
    let rows = data();
    runtime().block_on(async {
        let mut conn = fixture(&rows).await;
        let limits = QueryLimits::default();
        let qs = "$filter=Enabled%20eq%20true&$select=Name&$count=true&$skip=3&$top=2000&foo=bar";
        let q = parse_collection_query(&AD, Some(qs), &limits).unwrap();
        let page = fetch(&mut conn, &q.page_statement(Dialect::Sqlite, TENANT, 10)).await.unwrap();
        assert_eq!(page.len(), 11, "page_len + 1 rows signal a next page");
        let token = q.next_skiptoken(&decode(&AD, &page[9]), 10);
        let link = q.next_link_query(&token);
        assert!(
            link.starts_with("$filter=Enabled%20eq%20true&$select=Name&$count=true&$top=2000&$skiptoken="),
            "{link}"
        );
        let next = parse_collection_query(&AD, Some(&link), &limits).unwrap();
        assert_eq!((next.returned_before(), next.remaining_top(), next.skip), (10, Some(1990), None));

        // A late page: no OFFSET, and SQLite answers it with a range search on the key index.
        let stmt = next.page_statement(Dialect::Sqlite, TENANT, 10);
        let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
        assert!(!sql.contains("OFFSET"), "{sql}");
        let plan = sqlx::query_with(&format!("EXPLAIN QUERY PLAN {sql}"), values).fetch_all(&mut conn).await.unwrap();
        let plan: Vec<String> = plan.iter().map(|r| r.get::<String, _>(3)).collect();
        assert!(plan.iter().any(|p| p.contains("SEARCH") && p.contains("id>?")), "{plan:?}");

        // A token that does not fit the $orderby is refused, not misapplied.
        let bad = format!("$orderby=Name&$skiptoken={token}");
        let e = parse_collection_query(&AD, Some(&bad), &limits).unwrap_err();
        assert_eq!(e.option, "$skiptoken");
        assert!(parse_collection_query(&AD, Some("$skiptoken=%27%3B--"), &limits).is_err());
    });
}

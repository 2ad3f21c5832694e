//! SQL injection attempts, in literals and in name positions, in every option: each is
//! either a 400-type `QueryError` or returns exactly the right rows — never an SQL error —
//! and the tables are intact afterwards. Plus a property test: any query string built from
//! SQL-flavoured fragments either is refused by the parser or runs without an SQL error.

mod support;

use openti_model::schema::{ALERT_DEFINITION as AD, INDICATOR_OF_COMPROMISE as IOC};
use openti_odata::query::{parse_collection_query, Dialect, QueryLimits};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use sqlx::{Row, SqliteConnection};
use support::*;

const HOSTILE: &[&str] = &[
    "'; DROP TABLE indicators; --",
    "' OR 1=1 --",
    "x' UNION SELECT * FROM alert_definitions --",
    "/* comment */",
    "*/ OR 1=1 /*",
    "\\'; DELETE FROM indicators; --",
    "%' OR '%'='",
    "_",
    "a\"b",
    "; ATTACH DATABASE ':memory:' AS x; --",
    "?",
    "$1",
    "é'||'",
];

fn ioc(id: i64, value: &str) -> Vec<Cell> {
    let t = |s: &str| Cell::Text(s.to_string());
    vec![
        Cell::Int(id),
        t("Url"),
        t(value),
        t("Equals"),
        Cell::Bool(true),
        Cell::Null,
        Cell::Int(1),
        Cell::Int(0),
        Cell::Null,
        Cell::Int(0),
        t(value),
        Cell::Null,
        Cell::Null,
    ]
}

async fn fixture() -> SqliteConnection {
    let mut conn = database().await;
    for (i, v) in HOSTILE.iter().enumerate() {
        insert(&mut conn, &IOC, TENANT, &ioc(i as i64 + 1, v)).await;
        insert(&mut conn, &IOC, OTHER_TENANT, &ioc(i as i64 + 1, v)).await;
    }
    conn
}

async fn row_count(conn: &mut SqliteConnection) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM indicators").fetch_one(conn).await.unwrap().get(0)
}

/// Runs a raw query string: Ok(ids) if it parsed and ran, Err(()) if refused as a QueryError.
/// An SQL error fails the test.
async fn run(conn: &mut SqliteConnection, raw: &str) -> Result<Vec<i64>, ()> {
    let q = match parse_collection_query(&IOC, Some(raw), &QueryLimits::default()) {
        Ok(q) => q,
        Err(_) => return Err(()),
    };
    let mut ids = Vec::new();
    for stmt in [q.page_statement(Dialect::Sqlite, TENANT, 1000)] {
        let rows = fetch(conn, &stmt).await.unwrap_or_else(|e| panic!("SQL error for {raw}: {e}"));
        ids.extend(rows.iter().map(|r| r.get::<i64, _>(0)));
    }
    fetch(conn, &q.count_statement(Dialect::Sqlite, TENANT))
        .await
        .unwrap_or_else(|e| panic!("SQL error for {raw}: {e}"));
    for e in &q.expand {
        fetch(conn, &q.expand_statement(Dialect::Sqlite, e, TENANT, &[json!(1)]))
            .await
            .unwrap_or_else(|e| panic!("{raw}: {e}"));
    }
    Ok(ids)
}

#[test]
fn hostile_literals_are_values() {
    runtime().block_on(async {
        let mut conn = fixture().await;
        let before = row_count(&mut conn).await;
        for (i, v) in HOSTILE.iter().enumerate() {
            let quoted = v.replace('\'', "''");
            let id = i as i64 + 1;
            for filter in [
                format!("Value eq '{quoted}'"),
                format!("CreatedBy eq '{quoted}' and Value eq CreatedBy"),
                format!("contains(Value, '{quoted}') and length(Value) eq {}", v.chars().count()),
                format!(
                    "startswith(Value, '{quoted}') and endswith(Value, '{quoted}') and length(Value) eq {}",
                    v.chars().count()
                ),
                format!("Value in ('{quoted}', 'nothing')"),
                format!("concat(Value, '{quoted}') eq concat('{quoted}', Value) and Value eq '{quoted}'"),
            ] {
                let got = run(&mut conn, &format!("$filter={}", encode(&filter)))
                    .await
                    .unwrap_or_else(|_| panic!("refused: {filter}"));
                assert_eq!(got, vec![id], "{filter}");
            }
            // A hostile text as an enum member is a type error, not an SQL fragment.
            assert!(run(&mut conn, &format!("$filter={}", encode(&format!("Type eq '{quoted}'")))).await.is_err());
        }
        assert_eq!(row_count(&mut conn).await, before);
    });
}

#[test]
fn hostile_names_and_options_are_refused() {
    runtime().block_on(async {
        let mut conn = fixture().await;
        let before = row_count(&mut conn).await;
        let attempts = [
            "$filter=Value;DROP TABLE indicators eq 1",
            "$filter=Id eq 1; DELETE FROM indicators",
            "$filter=Id eq 1 UNION SELECT 1",
            "$filter=Id eq 1 --",
            "$filter=Id eq 1 /* x */",
            "$filter=\"Id\" eq 1",
            "$filter=Id eq 0x01",
            "$filter=tenant_id eq 'x'",
            "$filter=id eq 1",
            "$filter=sqlite_version() eq '3'",
            "$filter=Value eq 'a' or 1 eq 1 --'",
            "$filter=Value eq 'unterminated",
            "$orderby=Id;DROP TABLE indicators",
            "$orderby=Id--",
            "$orderby=Id desc, (SELECT 1)",
            "$orderby=1",
            "$select=Id,1;--",
            "$select=*,tenant_id",
            "$expand=AlertDefinition($filter=Name eq 'x') or 1 eq 1 --')",
            "$expand=AlertDefinition;DROP TABLE indicators",
            "$expand=AlertDefinition($select=tenant_id)",
            "$top=1;DROP TABLE indicators",
            "$skip=-1",
            "$skiptoken=' OR 1=1 --",
            "$count=1 OR 1",
            "$format=json';--",
            "$filter=Id%20eq%201%00",
        ];
        for a in attempts {
            assert!(run(&mut conn, a).await.is_err(), "accepted: {a}");
        }
        // Quotes doubled inside a literal stay inside it: a valid filter that matches nothing.
        assert_eq!(run(&mut conn, "$filter=Value eq 'x'') or 1 eq 1 --'").await, Ok(vec![]));
        assert_eq!(row_count(&mut conn).await, before);
        // The refused option is named, and the text after the error is not echoed as SQL.
        let e = parse_collection_query(&IOC, Some("$orderby=Id;DROP"), &QueryLimits::default()).unwrap_err();
        assert_eq!(e.option, "$orderby");
    });
}

/// Fragments that look like SQL or OData; random sequences of them are a crude but
/// effective grammar fuzzer for the generated SQL.
const FRAGMENTS: &[&str] = &[
    "Id",
    "Value",
    "Type",
    "CreatedBy",
    "ExpiresAt",
    "HitCount",
    "Enabled",
    "AlertDefinition/Severity",
    "AlertDefinition",
    "IndicatorsOfCompromise",
    "eq",
    "ne",
    "gt",
    "le",
    "and",
    "or",
    "not",
    "in",
    "has",
    "add",
    "mod",
    "div",
    "(",
    ")",
    ",",
    "'",
    "''",
    "'x'",
    "'Sha256'",
    "OpenTI.AlertSeverity'High'",
    "1",
    "-1",
    "2.5",
    "null",
    "true",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "contains(",
    "tolower(",
    "year(",
    "substring(",
    "concat(",
    "now()",
    "--",
    ";",
    "/*",
    "*/",
    "UNION",
    "SELECT",
    "\"",
    "?",
    "$1",
    "/",
    ":",
    "any(",
    "all(",
    "x:",
    "x/Id",
    " ",
];

/// Typed-ish filters with hostile literals: most are well-formed and well-typed, so they
/// reach SQL generation, which is what this test is about.
fn grammar() -> impl Strategy<Value = String> {
    let hostile = prop::sample::select(HOSTILE).prop_map(|h| format!("'{}'", h.replace('\'', "''")));
    let str_leaf = prop_oneof![
        prop::sample::select(&["Value", "CreatedBy", "AlertDefinition/Name", "AlertDefinition/RecommendedAction"][..])
            .prop_map(String::from),
        hostile.clone(),
    ];
    let str_v = str_leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (prop::sample::select(&["tolower", "toupper", "trim"][..]), inner.clone())
                .prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("concat({a}, {b})")),
            (inner, 0..3i64).prop_map(|(a, i)| format!("substring({a}, {i})")),
        ]
    });
    let int_leaf = prop_oneof![
        prop::sample::select(
            &["Id", "HitCount", "AlertDefinitionId", "1", "-1", "0", "year(ExpiresAt)", "hour(now())"][..]
        )
        .prop_map(String::from),
        str_v.clone().prop_map(|s| format!("length({s})")),
        (str_v.clone(), str_v.clone()).prop_map(|(a, b)| format!("indexof({a}, {b})")),
    ];
    let int_v = int_leaf.prop_recursive(2, 6, 2, |inner| {
        (inner.clone(), prop::sample::select(&["add", "sub", "mul", "div", "mod", "divby"][..]), inner)
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
    });
    let op = || prop::sample::select(&["eq", "ne", "gt", "ge", "lt", "le"][..]);
    let pred = prop_oneof![
        (str_v.clone(), op(), str_v.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        (int_v.clone(), op(), int_v.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        (prop::sample::select(&["contains", "startswith", "endswith"][..]), str_v.clone(), str_v.clone())
            .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        (op(), prop_oneof![Just("'sha256'".to_string()), Just("OpenTI.IocType'Url'".to_string()), hostile.clone()])
            .prop_map(|(o, l)| format!("Type {o} {l}")),
        (str_v.clone(), prop::collection::vec(hostile, 0..3)).prop_map(|(a, l)| format!("{a} in ({})", l.join(", "))),
        (
            op(),
            prop::sample::select(
                &["ExpiresAt", "AlertDefinition/CreatedAt", "now()", "2026-01-01T00:00:00Z", "2026-01-01"][..]
            )
        )
            .prop_map(|(o, b)| format!("ExpiresAt {o} {b}")),
        (op(), prop::sample::select(&["Id", "Value", "ExpiresAt", "AlertDefinition/Severity", "null"][..]))
            .prop_map(|(o, p)| format!("{p} {o} null")),
        Just("AlertDefinition/Severity has OpenTI.AlertSeverity'High'".to_string()),
        Just("Enabled".to_string()),
    ];
    pred.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(&["and", "or"][..]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a}) {op} {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!(
                "AlertDefinition/IndicatorsOfCompromise/all(x: {})",
                a.replace("Value", "x/Value")
            )),
        ]
    })
}

#[test]
fn random_fragment_queries_never_cause_sql_errors() {
    let rt = runtime();
    let conn = std::cell::Cell::new(Some(rt.block_on(fixture())));
    let mut runner = TestRunner::new(Config { cases: 1000, failure_persistence: None, ..Config::default() });
    let strategy = (
        prop_oneof![prop::collection::vec(prop::sample::select(FRAGMENTS), 0..14).prop_map(|p| p.join(" ")), grammar(),],
        prop::sample::select(&["$filter", "$filter", "$filter", "$orderby", "$select", "$expand"][..]),
    );
    let accepted = std::cell::Cell::new(0);
    runner
        .run(&strategy, |(text, option)| {
            let raw = format!("{option}={}", encode(&text));
            // The connection is moved in and out rather than borrowed across awaits (after a
            // failing case, while proptest shrinks, a fresh one is made).
            let mut c = match conn.take() {
                Some(c) => c,
                None => rt.block_on(fixture()),
            };
            rt.block_on(async {
                if run(&mut c, &raw).await.is_ok() {
                    accepted.set(accepted.get() + 1);
                }
                // Also the same fragments inside an $expand filter of the other entity.
                let raw = format!("$expand=IndicatorsOfCompromise($filter={})", encode(&text.replace(';', "")));
                if let Ok(q) = parse_collection_query(&AD, Some(&raw), &QueryLimits::default()) {
                    for e in &q.expand {
                        fetch(&mut c, &q.expand_statement(Dialect::Sqlite, e, TENANT, &[json!(1)])).await.unwrap();
                    }
                }
            });
            conn.replace(Some(c));
            Ok(())
        })
        .unwrap();
    // The fuzzer is only meaningful if a fair share of its inputs get through the parser.
    assert!(accepted.get() > 20, "only {} accepted", accepted.get());
}

#[test]
fn fuzz_entry_point_survives_garbage() {
    let mut runner = TestRunner::new(Config { cases: 2000, failure_persistence: None, ..Config::default() });
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..200), |bytes| {
            openti_odata::fuzz_parse(&bytes);
            Ok(())
        })
        .unwrap();
    runner
        .run(&prop::collection::vec(prop::sample::select(FRAGMENTS), 0..20), |parts| {
            openti_odata::fuzz_parse(format!("$filter={}&$orderby=Id desc&$expand=*", parts.join(" ")).as_bytes());
            Ok(())
        })
        .unwrap();
}

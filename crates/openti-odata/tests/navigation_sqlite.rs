//! Navigation in filters (single-valued paths, `any`/`all` lambdas, nested and correlated)
//! and `$expand` statements, executed against SQLite with two tenants sharing ids.

mod support;

use openti_model::schema::{ALERT_DEFINITION as AD, INDICATOR_OF_COMPROMISE as IOC};
use openti_odata::query::{
    parse_collection_query, parse_entity_query, Dialect, QueryErrorKind, QueryLimits, PARENT_KEY_COLUMN,
};
use serde_json::json;
use sqlx::{Row, SqliteConnection};
use support::*;

fn def(id: i64, severity: &str, enabled: bool, recommended: Option<&str>) -> Vec<Cell> {
    let t = |s: &str| Cell::Text(s.to_string());
    vec![
        Cell::Int(id),
        t(&format!("def {id}")),
        t(severity),
        Cell::Null,
        t("title"),
        t("ux"),
        recommended.map_or(Cell::Null, t),
        t("Malware"),
        Cell::Bool(enabled),
        Cell::Int(1_700_000_000_000 + id),
        Cell::Null,
        Cell::Null,
        Cell::Null,
    ]
}

fn ioc(id: i64, def: i64, ty: &str, enabled: bool, hits: i64) -> Vec<Cell> {
    let t = |s: &str| Cell::Text(s.to_string());
    vec![
        Cell::Int(id),
        t(ty),
        t(&format!("value-{id}")),
        t("Equals"),
        Cell::Bool(enabled),
        Cell::Null,
        Cell::Int(def),
        Cell::Int(hits),
        Cell::Null,
        Cell::Int(1_700_000_000_000),
        Cell::Null,
        Cell::Null,
        Cell::Null,
    ]
}

async fn fixture() -> SqliteConnection {
    let mut conn = database().await;
    for d in [def(1, "High", true, None), def(2, "Low", false, Some("x")), def(3, "Medium", true, None)] {
        insert(&mut conn, &AD, TENANT, &d).await;
    }
    for i in [
        ioc(10, 1, "Sha256", true, 7),
        ioc(11, 1, "Md5", false, 0),
        ioc(12, 2, "Sha256", true, 2),
        ioc(13, 2, "Url", true, 9),
        ioc(14, 99, "DomainName", true, 1),
        ioc(15, 1, "FileName", true, 3),
    ] {
        insert(&mut conn, &IOC, TENANT, &i).await;
    }
    // The other tenant reuses ids with different data; none of it may leak into results.
    for d in [def(1, "Informational", false, Some("y")), def(2, "High", true, None), def(99, "High", true, Some("z"))] {
        insert(&mut conn, &AD, OTHER_TENANT, &d).await;
    }
    for i in [ioc(100, 3, "Sha256", false, 50), ioc(10, 1, "Url", false, 99)] {
        insert(&mut conn, &IOC, OTHER_TENANT, &i).await;
    }
    conn
}

async fn ids(conn: &mut SqliteConnection, entity: &'static openti_model::schema::EntityType, filter: &str) -> Vec<i64> {
    let qs = format!("$filter={}", encode(filter));
    let q =
        parse_collection_query(entity, Some(&qs), &QueryLimits::default()).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let rows =
        fetch(conn, &q.page_statement(Dialect::Sqlite, TENANT, 1000)).await.unwrap_or_else(|e| panic!("{filter}: {e}"));
    rows.iter().map(|r| r.get::<i64, _>(0)).collect()
}

#[test]
fn lambdas_and_navigation_paths() {
    runtime().block_on(async {
        let mut conn = fixture().await;
        let cases: &[(&'static openti_model::schema::EntityType, &str, &[i64])] = &[
            (&AD, "IndicatorsOfCompromise/any(i: i/Type eq 'Sha256')", &[1, 2]),
            (&AD, "IndicatorsOfCompromise/any()", &[1, 2]),
            (&AD, "not IndicatorsOfCompromise/any()", &[3]),
            (&AD, "IndicatorsOfCompromise/all(i: i/Enabled)", &[2, 3]),
            (&AD, "IndicatorsOfCompromise/all(i: i/HitCount gt 1)", &[2, 3]),
            (&AD, "not IndicatorsOfCompromise/all(i: i/HitCount gt 1)", &[1]),
            (&AD, "IndicatorsOfCompromise/any(i: i/HitCount gt 8 and i/Type eq 'url')", &[2]),
            (&AD, "IndicatorsOfCompromise/any(i: i/AlertDefinition/Enabled eq false)", &[2]),
            (&AD, "IndicatorsOfCompromise/any(i: i/AlertDefinition/IndicatorsOfCompromise/any(j: j/Type eq 'Url'))", &[2]),
            // A bare name inside a lambda is the outer entity ($it), as in OData.
            (&AD, "IndicatorsOfCompromise/any(i: i/HitCount gt Id)", &[1, 2]),
            (&AD, "IndicatorsOfCompromise/any(i: i/HitCount gt $it/Id add 6)", &[2]),
            // The inner lambda refers to the outer lambda's variable.
            (
                &AD,
                "IndicatorsOfCompromise/any(i: i/AlertDefinition/IndicatorsOfCompromise/any(j: j/HitCount gt i/HitCount add 5))",
                &[1, 2],
            ),
            (&AD, "Severity gt 'low' and IndicatorsOfCompromise/any()", &[1]),
            (&IOC, "AlertDefinition/Severity eq 'High'", &[10, 11, 15]),
            (&IOC, "AlertDefinition/Severity gt OpenTI.AlertSeverity'Low'", &[10, 11, 15]),
            (&IOC, "AlertDefinition/RecommendedAction eq null", &[10, 11, 14, 15]),
            (&IOC, "AlertDefinition/RecommendedAction ne null", &[12, 13]),
            (&IOC, "not AlertDefinition/Enabled", &[12, 13, 14]),
            (&IOC, "AlertDefinition/Id eq AlertDefinitionId", &[10, 11, 12, 13, 15]),
            (&IOC, "AlertDefinition/IndicatorsOfCompromise/any(j: j/Type eq 'Md5')", &[10, 11, 15]),
            (&IOC, "AlertDefinition/Severity has OpenTI.AlertSeverity'High' and Enabled", &[10, 15]),
        ];
        for (entity, filter, expected) in cases {
            assert_eq!(ids(&mut conn, entity, filter).await, expected.to_vec(), "{filter}");
        }
    });
}

#[test]
fn expand_applies_nested_options_per_parent() {
    runtime().block_on(async {
        let mut conn = fixture().await;
        let limits = QueryLimits::default();
        let parents = [json!(1), json!(2), json!(3)];
        let run = |expand: &str| {
            let q = parse_collection_query(&AD, Some(&format!("$expand={}", encode(expand))), &limits).unwrap();
            assert_eq!(q.expand[0].parent_key_property(&AD).map(|p| p.name), Some("Id"));
            q
        };

        let q = run("IndicatorsOfCompromise($filter=Enabled;$orderby=HitCount desc;$top=1)");
        let rows =
            fetch(&mut conn, &q.expand_statement(Dialect::Sqlite, &q.expand[0], TENANT, &parents)).await.unwrap();
        let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(PARENT_KEY_COLUMN))).collect();
        assert_eq!(got, vec![(10, 1), (13, 2)]);
        assert_eq!(column_names(&rows[0]).len(), IOC.properties.len() + 1);

        let q = run("IndicatorsOfCompromise($filter=Enabled;$orderby=HitCount desc;$skip=1;$top=5)");
        let rows =
            fetch(&mut conn, &q.expand_statement(Dialect::Sqlite, &q.expand[0], TENANT, &parents)).await.unwrap();
        let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(PARENT_KEY_COLUMN))).collect();
        assert_eq!(got, vec![(15, 1), (12, 2)]);

        let q = run("IndicatorsOfCompromise($orderby=Id desc;$select=Value)");
        assert_eq!(q.expand[0].select.as_ref().map(|s| s.len()), Some(1));
        let rows =
            fetch(&mut conn, &q.expand_statement(Dialect::Sqlite, &q.expand[0], TENANT, &parents)).await.unwrap();
        let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(PARENT_KEY_COLUMN))).collect();
        assert_eq!(got, vec![(15, 1), (11, 1), (10, 1), (13, 2), (12, 2)]);
        let decoded = decode(&IOC, &rows[0]);
        assert_eq!(decoded["Value"], json!("value-15"));

        let q = run("IndicatorsOfCompromise($count=true;$filter=Enabled)");
        assert!(q.expand[0].count);
        let rows =
            fetch(&mut conn, &q.expand_count_statement(Dialect::Sqlite, &q.expand[0], TENANT, &parents)).await.unwrap();
        let mut got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        got.sort();
        assert_eq!(got, vec![(1, 2), (2, 2)]);

        // No parents: a statement that selects nothing (not an invalid empty IN list).
        let rows = fetch(&mut conn, &q.expand_statement(Dialect::Sqlite, &q.expand[0], TENANT, &[])).await.unwrap();
        assert!(rows.is_empty());

        // Single-valued: IOC → AlertDefinition, keyed by the IOCs' AlertDefinitionId.
        let q = parse_collection_query(&IOC, Some("$expand=AlertDefinition($select=Name)"), &limits).unwrap();
        let e = &q.expand[0];
        assert_eq!(e.parent_key_property(&IOC).map(|p| p.name), Some("AlertDefinitionId"));
        let keys = [json!(1), json!(2), json!(99), json!("not a number")];
        let rows = fetch(&mut conn, &q.expand_statement(Dialect::Sqlite, e, TENANT, &keys)).await.unwrap();
        let got: Vec<(i64, i64, String)> =
            rows.iter().map(|r| (r.get(0), r.get(PARENT_KEY_COLUMN), r.get(2))).collect();
        assert_eq!(got, vec![(1, 1, "High".to_string()), (2, 2, "Low".to_string())]);

        // Nested $expand inside $expand, executed level by level as the store would.
        let q = run("IndicatorsOfCompromise($top=1;$orderby=Id;$expand=AlertDefinition)");
        let inner = &q.expand[0].expand[0];
        let rows = fetch(&mut conn, &q.expand_statement(Dialect::Sqlite, inner, TENANT, &[json!(2)])).await.unwrap();
        assert_eq!(rows.len(), 1);
    });
}

#[test]
fn single_entity_queries_take_only_select_and_expand() {
    let limits = QueryLimits::default();
    let q = parse_entity_query(&AD, Some("$select=Name,Severity&$expand=IndicatorsOfCompromise"), &limits).unwrap();
    assert_eq!(q.select.as_ref().map(|s| s.iter().map(|p| p.name).collect::<Vec<_>>()), Some(vec!["Name", "Severity"]));
    assert_eq!(q.expand.len(), 1);
    let e = parse_entity_query(&AD, Some("$top=1"), &limits).unwrap_err();
    assert_eq!((e.kind, e.option.as_str()), (QueryErrorKind::Unsupported, "$top"));
}

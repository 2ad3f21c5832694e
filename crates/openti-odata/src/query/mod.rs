//! The OData v4 query engine: system query options of a request → typed query → SQL.
//!
//! ```text
//! raw query string ──options──▶ UncheckedQuery ──check──▶ CheckedQuery ──sql──▶ sea-query SelectStatement
//!  (percent-encoded)   split,      (untyped AST:     names resolved      page / count / expand
//!                      decode,      parser, lexer)   against the model,  statements, values bound
//!                      dispatch                      literals typed
//! ```
//!
//! - [`parse_collection_query`] / [`parse_entity_query`] are the entry points for the
//!   server; they return a [`CheckedQuery`] or a [`QueryError`] (always a 400) that names the
//!   option and the character position of the problem.
//! - [`CheckedQuery::page_statement`], [`CheckedQuery::count_statement`] and
//!   [`CheckedQuery::expand_statement`] are for the store, which builds them with
//!   `sea_query_binder` for its backend. Every value is a bound parameter.
//! - Paging is keyset-based (see [`SkipToken`]): [`CheckedQuery::next_skiptoken`] and
//!   [`CheckedQuery::next_link_query`] produce `@odata.nextLink`.
//!
//! Supported (SPEC A.8 and the OData 4.01 URL conventions): `$filter` with `eq ne gt ge lt
//! le`, `and or not`, parentheses, `in`, `has`, `add sub mul div divby mod`, unary `-`;
//! functions `contains startswith endswith tolower toupper trim length indexof substring
//! concat year month day hour minute second date now`; every primitive literal the model
//! needs; `any`/`all` over collection navigations and paths through single-valued ones.
//! `$orderby` (properties, `asc`/`desc`), `$select`, `$expand` with nested options, `$top`,
//! `$skip`, `$count`, `$skiptoken`, `$format=json`. Anything else starting with `$` is an
//! `Unsupported` error naming it; parameters without `$` are ignored.
//!
//! Behaviour worth knowing (all deliberate, all tested):
//! - String functions are case-sensitive on both backends (use `tolower` for the other).
//!   `tolower`/`toupper` follow the database: ASCII-only on SQLite, Unicode on PostgreSQL.
//! - Strings order byte-wise (code point order) on both backends.
//! - Nulls sort first ascending and last descending; ties are broken by `Id`.
//! - Division by zero yields null, not an error.

mod ast;
mod check;
mod error;
mod lexer;
mod options;
mod paging;
mod parser;
mod sql;
mod typed;

use chrono::{DateTime, Utc};
use openti_model::schema::EntityType;
use sea_query::{Alias, Expr as SqExpr, ExprTrait, Query, SelectStatement, SimpleExpr};

pub use ast::{
    BinaryOp, LambdaKind, Node, NodeKind, RawExpand, RawLiteral, RawOptions, RawOrderKey, RawSelectItem, Segment,
};
pub use error::{QueryError, QueryErrorKind};
pub use options::UncheckedQuery;
pub use paging::SkipToken;
pub use sql::{Dialect, COUNT_COLUMN, PARENT_KEY_COLUMN};
pub use typed::{ArithOp, CompareOp, Expand, Expr, Function, Lambda, OrderKey, PropertyRef, Source, Ty, Value};

use options::Target;
use sql::{col, order_by, Sql, ROW_NUMBER_COLUMN};

/// Bounds on what one request may ask for. Each violation is a `LimitExceeded` error that
/// names the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Largest page the server returns (SPEC A.8: 1000).
    pub max_page_size: u64,
    /// Largest `$top` accepted (also inside `$expand`).
    pub max_top: u64,
    /// Most nodes in one filter expression (literals, names, operators, calls).
    pub max_filter_nodes: usize,
    /// Deepest nesting of parentheses, calls, lambdas and unary operators in a filter.
    pub max_filter_depth: usize,
    /// Most items in one `in (…)` list.
    pub max_in_list: usize,
    /// Deepest `$expand` nesting (`$expand=A($expand=B)` is 2).
    pub max_expand_depth: usize,
    /// Longest raw query string, in bytes.
    pub max_query_len: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_page_size: 1000,
            max_top: 1_000_000,
            max_filter_nodes: 2000,
            max_filter_depth: 32,
            max_in_list: 1000,
            max_expand_depth: 2,
            max_query_len: 32 * 1024,
        }
    }
}

/// Parses the raw query string of a request for a collection of `entity` (everything after
/// `?`, percent-encoded as received).
pub fn parse_collection_query(
    entity: &'static EntityType,
    raw_query: Option<&str>,
    limits: &QueryLimits,
) -> Result<CheckedQuery, QueryError> {
    parse_collection_query_at(entity, raw_query, limits, Utc::now())
}

/// [`parse_collection_query`] with the instant `now()` stands for.
pub fn parse_collection_query_at(
    entity: &'static EntityType,
    raw_query: Option<&str>,
    limits: &QueryLimits,
    now: DateTime<Utc>,
) -> Result<CheckedQuery, QueryError> {
    options::parse_raw(raw_query, limits, Target::Collection)?.check(entity, limits, now)
}

/// For a single-entity GET: only `$select` and `$expand` (and `$format`) are allowed.
pub fn parse_entity_query(
    entity: &'static EntityType,
    raw_query: Option<&str>,
    limits: &QueryLimits,
) -> Result<CheckedQuery, QueryError> {
    options::parse_raw(raw_query, limits, Target::SingleEntity)?.check(entity, limits, Utc::now())
}

/// Parses without checking, for tools that want the syntax tree.
pub fn parse_unchecked(raw_query: Option<&str>, limits: &QueryLimits) -> Result<UncheckedQuery, QueryError> {
    options::parse_raw(raw_query, limits, Target::Collection)
}

/// A validated query (`Query<Checked>`): every name refers to the model, every literal is
/// typed. Only this type produces SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedQuery {
    pub entity: &'static EntityType,
    pub filter: Option<Expr>,
    pub orderby: Vec<OrderKey>,
    /// None = every property (`$select` absent or `*`).
    pub select: Option<Vec<&'static openti_model::schema::Property>>,
    pub expand: Vec<Expand>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    pub count: bool,
    pub skiptoken: Option<SkipToken>,
    max_page_size: u64,
    /// The decoded text of each option as the client sent it, for the next link.
    texts: Vec<(&'static str, String)>,
}

const ROOT: &str = "t0";

impl CheckedQuery {
    /// Rows already returned by earlier pages of this query (0 on the first page).
    pub fn returned_before(&self) -> u64 {
        self.skiptoken.as_ref().map_or(0, |t| t.returned)
    }

    /// What is left of `$top` on this page (None = no `$top`).
    pub fn remaining_top(&self) -> Option<u64> {
        self.top.map(|t| t.saturating_sub(self.returned_before()))
    }

    /// How many rows this page returns at most: `page_size` (clamped to 1..=max_page_size)
    /// or what remains of `$top`, whichever is smaller. The page statement fetches one row
    /// more when a further page is possible; the store returns the first `page_len` rows and
    /// emits `@odata.nextLink` exactly when it received more than `page_len`.
    pub fn page_len(&self, page_size: u64) -> u64 {
        let size = page_size.clamp(1, self.max_page_size.max(1));
        self.remaining_top().map_or(size, |r| r.min(size))
    }

    fn where_clause(&self, sql: &mut Sql<'_>, sel: &mut SelectStatement) {
        sel.and_where(sql.tenant_filter(ROOT));
        if let Some(f) = &self.filter {
            let (cond, _) = sql.pred(f);
            sel.and_where(cond);
        }
    }

    /// SELECT of one page: every column of `entity.properties`, in that order, from the
    /// tenant's rows matching `$filter`, after the `$skiptoken` row, ordered by `$orderby`
    /// then `Id`, with `LIMIT page_len + 1` (see [`page_len`](Self::page_len)) and
    /// `OFFSET $skip` on the first page only.
    pub fn page_statement(&self, dialect: Dialect, tenant_id: &str, page_size: u64) -> SelectStatement {
        let mut sql = Sql::new(dialect, tenant_id, ROOT);
        let mut sel = Query::select();
        for p in self.entity.properties {
            sel.expr(col(ROOT, p.column));
        }
        sel.from_as(Alias::new(self.entity.table), Alias::new(ROOT));
        self.where_clause(&mut sql, &mut sel);
        match &self.skiptoken {
            Some(token) => {
                sel.and_where(paging::keyset_condition(&sql, ROOT, self.entity, &self.orderby, token));
            }
            None => {
                if let Some(skip) = self.skip.filter(|s| *s > 0) {
                    // Bound as a u64 that sea-query-binder converts to i64 with an unwrap:
                    // keep it in range so a huge $skip is "no rows", not a panic.
                    sel.offset(skip.min(i64::MAX as u64));
                }
            }
        }
        order_by(&sql, &mut sel, ROOT, self.entity, &self.orderby);
        let len = self.page_len(page_size);
        let more_possible = self.remaining_top().is_none_or(|r| r > len);
        sel.limit((if more_possible { len.saturating_add(1) } else { len }).min(i64::MAX as u64));
        sel
    }

    /// `SELECT COUNT(*)` of the tenant's rows matching `$filter` (for `@odata.count`; ignores
    /// `$top`, `$skip` and paging).
    pub fn count_statement(&self, dialect: Dialect, tenant_id: &str) -> SelectStatement {
        let mut sql = Sql::new(dialect, tenant_id, ROOT);
        let mut sel = Query::select();
        sel.expr(SqExpr::cust("COUNT(*)")).from_as(Alias::new(self.entity.table), Alias::new(ROOT));
        self.where_clause(&mut sql, &mut sel);
        sel
    }

    /// The `$skiptoken` for the page after the one that ended with `last_row` (the row as
    /// the store decoded it, keyed by wire property names; it must contain `Id` and every
    /// `$orderby` property, DateTimeOffset values with their full millisecond precision).
    /// `returned_so_far` counts the rows of all pages so far, this one included:
    /// `returned_before() + rows on this page`.
    pub fn next_skiptoken(
        &self,
        last_row: &serde_json::Map<String, serde_json::Value>,
        returned_so_far: u64,
    ) -> String {
        paging::encode_skiptoken(self.entity, &self.orderby, last_row, returned_so_far)
    }

    /// The query string of `@odata.nextLink` (without `?`): the client's `$filter`,
    /// `$orderby`, `$select`, `$expand`, `$top`, `$count` and `$format` as sent, `$skip`
    /// dropped (the token already lies past it), and the new `$skiptoken`.
    pub fn next_link_query(&self, skiptoken: &str) -> String {
        let mut parts: Vec<String> = self
            .texts
            .iter()
            .filter(|(name, _)| !matches!(*name, "$skip" | "$skiptoken"))
            .map(|(name, text)| format!("{name}={}", options::encode(text)))
            .collect();
        parts.push(format!("$skiptoken={}", options::encode(skiptoken)));
        parts.join("&")
    }

    /// The rows of one `$expand` item for a set of parents. `parent_keys` are the parents'
    /// values of [`Expand::parent_key_property`]. Selects every column of the target's
    /// properties in order, then the parent key as [`PARENT_KEY_COLUMN`]; rows come ordered
    /// by parent key, then by the nested `$orderby` and `Id`. Nested `$filter` applies; nested
    /// `$top`/`$skip` apply per parent (ROW_NUMBER() OVER (PARTITION BY parent key)).
    pub fn expand_statement(
        &self,
        dialect: Dialect,
        expand: &Expand,
        tenant_id: &str,
        parent_keys: &[serde_json::Value],
    ) -> SelectStatement {
        let mut sql = Sql::new(dialect, tenant_id, ROOT);
        let target = expand.target;
        let parent_key = col(ROOT, expand.navigation.remote_column);
        let mut inner = Query::select();
        inner.from_as(Alias::new(target.table), Alias::new(ROOT));
        self.expand_where(&mut sql, &mut inner, expand, parent_keys);

        let windowed = expand.top.is_some() || expand.skip.is_some_and(|s| s > 0);
        if !windowed {
            for p in target.properties {
                inner.expr(col(ROOT, p.column));
            }
            inner.expr_as(parent_key.clone(), Alias::new(PARENT_KEY_COLUMN));
            inner.order_by_expr(parent_key, sea_query::Order::Asc);
            order_by(&sql, &mut inner, ROOT, target, &expand.orderby);
            return inner;
        }

        // Per-parent $top/$skip: number each parent's rows in the requested order, keep a
        // window of row numbers. Column names are de-duplicated inside the subquery (two
        // properties may share a column) and repeated per property outside it.
        let mut columns: Vec<&str> = Vec::new();
        for p in target.properties {
            if !columns.contains(&p.column) {
                columns.push(p.column);
                inner.expr(col(ROOT, p.column));
            }
        }
        inner.expr_as(parent_key.clone(), Alias::new(PARENT_KEY_COLUMN));
        let terms = sql::order_terms(&sql, ROOT, target, &expand.orderby);
        let mut template = String::from("ROW_NUMBER() OVER (PARTITION BY $1 ORDER BY ");
        let mut args = vec![parent_key];
        for (i, (expr, order, nulls)) in terms.into_iter().enumerate() {
            if i > 0 {
                template.push_str(", ");
            }
            let dir = if matches!(order, sea_query::Order::Desc) { "DESC" } else { "ASC" };
            let nl = if matches!(nulls, sea_query::NullOrdering::Last) { "LAST" } else { "FIRST" };
            template.push_str(&format!("${} {dir} NULLS {nl}", i + 2));
            args.push(expr);
        }
        template.push(')');
        inner.expr_as(window_expr(&sql, &template, args), Alias::new(ROW_NUMBER_COLUMN));

        const SUB: &str = "sub";
        let mut outer = Query::select();
        for p in target.properties {
            outer.expr(col(SUB, p.column));
        }
        outer.expr(col(SUB, PARENT_KEY_COLUMN));
        outer.from_subquery(inner, Alias::new(SUB));
        let skip = expand.skip.unwrap_or(0);
        let row = col(SUB, ROW_NUMBER_COLUMN);
        if skip > 0 {
            outer.and_where(row.clone().gt(SimpleExpr::Value(clamp_i64(skip).into())));
        }
        if let Some(top) = expand.top {
            outer.and_where(row.clone().lte(SimpleExpr::Value(clamp_i64(skip.saturating_add(top)).into())));
        }
        outer.order_by_expr(col(SUB, PARENT_KEY_COLUMN), sea_query::Order::Asc);
        outer.order_by_expr(row, sea_query::Order::Asc);
        outer
    }

    /// Per-parent counts for `$expand=Nav($count=true)`: columns [`PARENT_KEY_COLUMN`] and
    /// [`COUNT_COLUMN`], one row per parent with at least one match (absent = 0).
    pub fn expand_count_statement(
        &self,
        dialect: Dialect,
        expand: &Expand,
        tenant_id: &str,
        parent_keys: &[serde_json::Value],
    ) -> SelectStatement {
        let mut sql = Sql::new(dialect, tenant_id, ROOT);
        let parent_key = col(ROOT, expand.navigation.remote_column);
        let mut sel = Query::select();
        sel.expr_as(parent_key.clone(), Alias::new(PARENT_KEY_COLUMN))
            .expr_as(SqExpr::cust("COUNT(*)"), Alias::new(COUNT_COLUMN))
            .from_as(Alias::new(expand.target.table), Alias::new(ROOT));
        self.expand_where(&mut sql, &mut sel, expand, parent_keys);
        sel.add_group_by([parent_key]);
        sel
    }

    fn expand_where(
        &self,
        sql: &mut Sql<'_>,
        sel: &mut SelectStatement,
        expand: &Expand,
        parent_keys: &[serde_json::Value],
    ) {
        sel.and_where(sql.tenant_filter(ROOT));
        let keys: Vec<SimpleExpr> = match expand.child_key_property() {
            Some(p) => parent_keys
                .iter()
                .filter_map(|k| paging::json_to_value(p, Some(k)).flatten())
                .map(|v| sql::bind(&v))
                .collect(),
            None => Vec::new(),
        };
        if keys.is_empty() {
            sel.and_where(SqExpr::cust("FALSE"));
        } else {
            sel.and_where(col(ROOT, expand.navigation.remote_column).is_in(keys));
        }
        if let Some(f) = &expand.filter {
            let (cond, _) = sql.pred(f);
            sel.and_where(cond);
        }
    }
}

fn window_expr(sql: &Sql<'_>, template: &str, args: Vec<SimpleExpr>) -> SimpleExpr {
    sql.cust(template, args)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Entry point for `cargo fuzz`: parses arbitrary bytes as a query string for each entity
/// set and builds every statement for both dialects. Must never panic.
pub fn fuzz_parse(data: &[u8]) {
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
    let text = String::from_utf8_lossy(data);
    let limits = QueryLimits::default();
    for entity in openti_model::schema::ENTITY_TYPES.iter().copied() {
        let Ok(q) = parse_collection_query(entity, Some(&text), &limits) else { continue };
        let keys = [serde_json::json!(1), serde_json::json!("x")];
        let mut stmts = vec![q.page_statement(Dialect::Sqlite, "t", 100), q.count_statement(Dialect::Sqlite, "t")];
        stmts.extend(q.expand.iter().map(|e| q.expand_statement(Dialect::Sqlite, e, "t", &keys)));
        for s in &stmts {
            let _ = s.build(SqliteQueryBuilder);
        }
        let mut stmts = vec![q.page_statement(Dialect::Postgres, "t", 100), q.count_statement(Dialect::Postgres, "t")];
        stmts.extend(q.expand.iter().map(|e| q.expand_count_statement(Dialect::Postgres, e, "t", &keys)));
        for s in &stmts {
            let _ = s.build(PostgresQueryBuilder);
        }
        let token = q.next_skiptoken(&serde_json::Map::new(), 1);
        let _ = q.next_link_query(&token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openti_model::schema::{ALERT_DEFINITION as AD, INDICATOR_OF_COMPROMISE as IOC};
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    /// The largest inputs the limits admit must parse, check and render on a thread with
    /// tokio's default 2 MiB stack, in an unoptimised build.
    #[test]
    fn largest_admitted_queries_fit_a_worker_stack() {
        let limits = QueryLimits::default();
        let chain = format!("HitCount eq 0{}", " add 1".repeat(limits.max_filter_depth - 2));
        let wide =
            (0..limits.max_filter_nodes / 3 - 1).map(|i| format!("HitCount eq {i}")).collect::<Vec<_>>().join(" or ");
        let wide_and =
            (0..limits.max_filter_nodes / 3 - 1).map(|i| format!("HitCount ne {i}")).collect::<Vec<_>>().join(" and ");
        let nested = format!(
            "{}HitCount eq 1{}",
            "(".repeat(limits.max_filter_depth - 1),
            ")".repeat(limits.max_filter_depth - 1)
        );
        let nots = format!("{}Enabled", "not ".repeat(limits.max_filter_depth - 1));
        let calls = format!(
            "{}Value{} eq 'a'",
            "tolower(".repeat(limits.max_filter_depth - 2),
            ")".repeat(limits.max_filter_depth - 2)
        );
        let lambdas = format!(
            "{}AlertDefinition/Enabled{}",
            (0..10).map(|i| format!("AlertDefinition/IndicatorsOfCompromise/any(x{i}: x{i}/")).collect::<String>(),
            ")".repeat(10)
        );
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for f in [chain, wide, wide_and, nested, nots, calls, lambdas] {
                    let raw = format!("$filter={}", options::encode(&f));
                    let q = parse_collection_query(&IOC, Some(&raw), &limits).unwrap_or_else(|e| panic!("{e}"));
                    let _ = q.page_statement(Dialect::Sqlite, "t", 10).build(SqliteQueryBuilder);
                    let _ = q.page_statement(Dialect::Postgres, "t", 10).build(PostgresQueryBuilder);
                }
            })
            .unwrap();
        handle.join().expect("no stack overflow");
    }

    #[test]
    fn two_literals_compare_under_either_reading() {
        let q =
            parse_collection_query(&AD, Some("$filter='high' eq OpenTI.AlertSeverity'High'"), &QueryLimits::default());
        assert!(q.is_ok(), "{q:?}");
    }

    #[test]
    fn page_len_and_limit() {
        let limits = QueryLimits::default();
        let q = parse_collection_query(&AD, Some("$top=250"), &limits).unwrap();
        assert_eq!((q.page_len(100), q.page_len(5000), q.page_len(0)), (100, 250, 1));
        let q = parse_collection_query(&AD, None, &limits).unwrap();
        assert_eq!(q.page_len(5000), 1000);
    }
}

//! Translation of checked queries to sea-query statements.
//!
//! Invariants:
//! - Every value from the request is a bound parameter (`SimpleExpr::Value`); the only SQL
//!   text produced here is keywords, function names and identifiers taken from the schema.
//! - Every table access is restricted to the tenant (`alias.tenant_id = ?`), including the
//!   subqueries of navigations and lambdas.
//! - Null semantics equal OData's two-valued reading: a comparison involving null is false
//!   (except `eq`/`ne`, which test for null). SQL's three-valued logic agrees with that
//!   everywhere a NULL result ends up "not true" — under `AND`, `OR` and at the top of
//!   `WHERE` — and disagrees only under negation. So each boolean expression is built with a
//!   flag saying whether it may be NULL, and only where it is negated (or used as a value) is
//!   it wrapped in `COALESCE(…, FALSE)`. Plain comparisons on indexed columns stay plain.
//!
//! Portable constructs only, except where the two backends spell a function differently;
//! those go through [`Sql::cust`], which takes `$1`-style templates and adapts them to the
//! dialect's placeholder style, wrapping every argument and the whole in parentheses so
//! operator precedence can never leak across a template boundary.

use openti_model::schema::{self, EntityType, Navigation};
use sea_query::{
    Alias, CaseStatement, Expr as SqExpr, ExprTrait, LikeExpr, NullOrdering, Order, Query, SelectStatement, SimpleExpr,
};

use super::ast::LambdaKind;
use super::typed::*;

/// The SQL dialect a statement is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The column alias of the parent key in expand statements.
pub const PARENT_KEY_COLUMN: &str = "odata_parent_key";
/// The column alias of the per-parent count in expand count statements.
pub const COUNT_COLUMN: &str = "odata_count";
pub(crate) const ROW_NUMBER_COLUMN: &str = "odata_row";

pub(crate) fn col(alias: &str, column: &str) -> SimpleExpr {
    SqExpr::col((Alias::new(alias), Alias::new(column))).into()
}

fn keyword(k: &str) -> SimpleExpr {
    SqExpr::cust(k)
}

pub(crate) fn bind(v: &Value) -> SimpleExpr {
    let v: sea_query::Value = match v {
        Value::Boolean(b) => (*b).into(),
        Value::Int64(i) | Value::DateTimeOffset(i) | Value::Date(i) => (*i).into(),
        Value::Decimal(f) => (*f).into(),
        Value::String(s) | Value::Guid(s) => s.clone().into(),
        Value::Enum { member, .. } => (*member).to_string().into(),
    };
    SimpleExpr::Value(v)
}

/// Statement-building context: dialect, tenant, and the table aliases in scope.
pub(crate) struct Sql<'a> {
    pub dialect: Dialect,
    tenant: &'a str,
    root: String,
    vars: Vec<String>,
    next_alias: usize,
}

impl<'a> Sql<'a> {
    pub fn new(dialect: Dialect, tenant: &'a str, root: &str) -> Self {
        Sql { dialect, tenant, root: root.to_string(), vars: Vec::new(), next_alias: 1 }
    }

    fn fresh_alias(&mut self) -> String {
        let a = format!("t{}", self.next_alias);
        self.next_alias += 1;
        a
    }

    /// `alias.tenant_id = ?`
    pub fn tenant_filter(&self, alias: &str) -> SimpleExpr {
        col(alias, "tenant_id").eq(SimpleExpr::Value(self.tenant.to_string().into()))
    }

    /// A custom expression from a template with `$1`, `$2`, … placeholders (each may occur
    /// several times), adapted to the dialect: PostgreSQL keeps numbered placeholders,
    /// SQLite gets one `?` per occurrence with the argument repeated.
    pub fn cust(&self, template: &str, args: Vec<SimpleExpr>) -> SimpleExpr {
        let mut sql = String::with_capacity(template.len() + 8);
        let mut ordered = Vec::new();
        sql.push('(');
        let mut rest = template;
        while let Some(at) = rest.find('$') {
            sql.push_str(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[at + 1..at + 1 + digits].parse().unwrap_or(0);
            if n >= 1 && n <= args.len() {
                match self.dialect {
                    Dialect::Postgres => sql.push_str(&format!("(${n})")),
                    Dialect::Sqlite => {
                        sql.push_str("(?)");
                        ordered.push(args[n - 1].clone());
                    }
                }
                rest = &rest[at + 1 + digits..];
            } else {
                // Templates are ours and always in range; a stray '$' is kept as text.
                sql.push('$');
                rest = &rest[at + 1..];
            }
        }
        sql.push_str(rest);
        sql.push(')');
        match self.dialect {
            Dialect::Postgres => SqExpr::cust_with_exprs(sql, args),
            Dialect::Sqlite => SqExpr::cust_with_exprs(sql, ordered),
        }
    }

    fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    fn alias_of(&self, source: Source) -> String {
        match source {
            Source::Root => self.root.clone(),
            // A variable index always has an alias (lambdas push before compiling their
            // body); falling back to the root keeps this total without a panic path.
            Source::Var(i) => self.vars.get(i).cloned().unwrap_or_else(|| self.root.clone()),
        }
    }

    /// The value of `column` reached from `base` through single-valued navigations, as
    /// nested scalar subqueries (each tenant-restricted). NULL when a navigation finds no row.
    fn via(&mut self, base: &str, navs: &[&'static Navigation], column: &str) -> SimpleExpr {
        let Some((nav, rest)) = navs.split_first() else { return col(base, column) };
        let Some(target) = schema::entity_type(nav.target) else { return keyword("NULL") };
        let alias = self.fresh_alias();
        let inner = self.via(&alias, rest, column);
        let mut sel = Query::select();
        sel.expr(inner)
            .from_as(Alias::new(target.table), Alias::new(&alias))
            .and_where(self.tenant_filter(&alias))
            .and_where(col(&alias, nav.remote_column).eq(col(base, nav.local_column)));
        SimpleExpr::SubQuery(None, Box::new(sel.into_sub_query_statement()))
    }

    fn property(&mut self, p: &PropertyRef) -> (SimpleExpr, bool) {
        let base = self.alias_of(p.source);
        (self.via(&base, &p.navigations, p.property.column), p.nullable())
    }

    /// A boolean expression that is never NULL.
    pub fn strict(&mut self, e: &Expr) -> SimpleExpr {
        let (s, nullable) = self.pred(e);
        if nullable {
            self.cust("COALESCE($1, FALSE)", vec![s])
        } else {
            s
        }
    }

    /// A boolean expression for a positive (WHERE/AND/OR) context, and whether it may be NULL.
    pub fn pred(&mut self, e: &Expr) -> (SimpleExpr, bool) {
        match e {
            Expr::Value(Value::Boolean(b)) => (keyword(if *b { "TRUE" } else { "FALSE" }), false),
            Expr::Property(_) => self.value(e),
            Expr::Compare { op, lhs, rhs } => self.compare(*op, lhs, rhs),
            Expr::In { expr, values, includes_null } => {
                let (x, nx) = self.value(expr);
                let list: Vec<SimpleExpr> = values.iter().map(bind).collect();
                let test = if list.is_empty() { keyword("FALSE") } else { x.clone().is_in(list) };
                if *includes_null {
                    (test.or(x.is_null()), false)
                } else {
                    (test, nx)
                }
            }
            Expr::And(items) | Expr::Or(items) => {
                let is_and = matches!(e, Expr::And(_));
                let mut nullable = false;
                let mut out: Option<SimpleExpr> = None;
                for item in items {
                    let (s, n) = self.pred(item);
                    nullable |= n;
                    out = Some(match out {
                        None => s,
                        Some(acc) if is_and => acc.and(s),
                        Some(acc) => acc.or(s),
                    });
                }
                (out.unwrap_or_else(|| keyword(if is_and { "TRUE" } else { "FALSE" })), nullable)
            }
            Expr::Not(inner) => (self.strict(inner).not(), false),
            Expr::Lambda(l) => (self.lambda(l), false),
            Expr::Call { function, args } => self.bool_call(*function, args),
            // The checker admits only Boolean expressions here.
            _ => (keyword("FALSE"), false),
        }
    }

    /// A value expression and whether it may be NULL.
    pub fn value(&mut self, e: &Expr) -> (SimpleExpr, bool) {
        match e {
            Expr::Null => (keyword("NULL"), true),
            Expr::Value(v) => (bind(v), false),
            Expr::Property(p) => self.property(p),
            Expr::Arith { op, lhs, rhs } => {
                let (l, nl) = self.value(lhs);
                let (r, nr) = self.value(rhs);
                let template = match op {
                    ArithOp::Add => "$1 + $2",
                    ArithOp::Sub => "$1 - $2",
                    ArithOp::Mul => "$1 * $2",
                    // Division by zero is NULL rather than an error: PostgreSQL would fail
                    // the whole request, SQLite yields NULL; OpenTI makes both yield NULL.
                    ArithOp::Div => "$1 / NULLIF($2, 0)",
                    ArithOp::Mod => "$1 % NULLIF($2, 0)",
                    ArithOp::DivBy => {
                        self.pick("CAST($1 AS REAL) / NULLIF($2, 0)", "CAST($1 AS DOUBLE PRECISION) / NULLIF($2, 0)")
                    }
                };
                let partial = matches!(op, ArithOp::Div | ArithOp::Mod | ArithOp::DivBy);
                (self.cust(template, vec![l, r]), nl || nr || partial)
            }
            Expr::Neg(x) => {
                let (v, n) = self.value(x);
                (self.cust("- $1", vec![v]), n)
            }
            Expr::Call { function, args } if function.result() != Ty::Boolean => self.value_call(*function, args),
            // Boolean-valued expressions used as values (e.g. `contains(A,'x') eq false`).
            _ => (self.strict(e), false),
        }
    }

    fn compare(&mut self, op: CompareOp, lhs: &Expr, rhs: &Expr) -> (SimpleExpr, bool) {
        match (lhs, rhs) {
            (Expr::Null, Expr::Null) => {
                // null eq null is true; every other comparison with null is false.
                return (keyword(if op == CompareOp::Eq { "TRUE" } else { "FALSE" }), false);
            }
            (Expr::Null, x) | (x, Expr::Null) => {
                let (v, _) = self.value(x);
                return match op {
                    CompareOp::Eq => (v.is_null(), false),
                    CompareOp::Ne => (v.is_not_null(), false),
                    _ => (keyword("FALSE"), false),
                };
            }
            _ => {}
        }
        let ty = lhs.ty();
        // Enum order comparisons against a literal become a member list, which an index can use.
        if let Some(Ty::Enum(e)) = ty {
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                let literal = match (lhs, rhs) {
                    (x, Expr::Value(v)) => Some((x, v, op)),
                    (Expr::Value(v), x) => Some((x, v, flip(op))),
                    _ => None,
                };
                if let Some((x, v, op)) = literal {
                    let (xs, nx) = self.value(x);
                    let Some(k) = v.enum_ordinal() else { return (keyword("FALSE"), false) };
                    let members: Vec<SimpleExpr> = e
                        .members
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| ordered(op, *i, k))
                        .map(|(_, m)| SimpleExpr::Value((*m).to_string().into()))
                        .collect();
                    if members.is_empty() {
                        return (keyword("FALSE"), false);
                    }
                    return (xs.is_in(members), nx);
                }
                let (l, nl) = self.value(lhs);
                let (r, nr) = self.value(rhs);
                let (l, r) = (enum_ordinal_expr(e, l), enum_ordinal_expr(e, r));
                return (apply(op, l, r), nl || nr);
            }
        }
        let (mut l, nl) = self.value(lhs);
        let (mut r, nr) = self.value(rhs);
        if ty == Some(Ty::String) && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            (l, r) = (self.collate(l), self.collate(r));
        }
        match op {
            CompareOp::Eq if nl && nr => (l.clone().eq(r.clone()).or(l.is_null().and(r.is_null())), true),
            CompareOp::Ne if nl && nr => {
                let eq = l.clone().eq(r.clone()).or(l.is_null().and(r.is_null()));
                (self.cust("COALESCE($1, FALSE)", vec![eq]).not(), false)
            }
            // `X ne 'a'` must hold when X is null (null is not 'a').
            CompareOp::Ne if nl => (l.clone().ne(r).or(l.is_null()), false),
            CompareOp::Ne if nr => (l.ne(r.clone()).or(r.is_null()), false),
            _ => (apply(op, l, r), nl || nr),
        }
    }

    /// Byte-wise string order on PostgreSQL, whose default collation may be linguistic;
    /// SQLite's default BINARY collation already is byte-wise. Keeps both backends (and
    /// keyset paging) in the same order.
    pub fn collate(&self, e: SimpleExpr) -> SimpleExpr {
        match self.dialect {
            Dialect::Sqlite => e,
            Dialect::Postgres => self.cust("$1 COLLATE \"C\"", vec![e]),
        }
    }

    fn lambda(&mut self, l: &Lambda) -> SimpleExpr {
        let base = self.alias_of(l.source);
        let correlation = self.via(&base, &l.navigations, l.collection.local_column);
        let alias = self.fresh_alias();
        let mut sel = Query::select();
        sel.expr(keyword("1"))
            .from_as(Alias::new(l.target.table), Alias::new(&alias))
            .and_where(self.tenant_filter(&alias))
            .and_where(col(&alias, l.collection.remote_column).eq(correlation));
        // The body's variable index equals the number of enclosing lambdas, so pushing here
        // keeps `Source::Var(i)` and `self.vars[i]` in step.
        self.vars.truncate(l.var);
        self.vars.push(alias);
        let exists = match (&l.body, l.kind) {
            (None, _) => SqExpr::exists(sel),
            (Some(body), LambdaKind::Any) => {
                let (cond, _) = self.pred(body);
                sel.and_where(cond);
                SqExpr::exists(sel)
            }
            (Some(body), LambdaKind::All) => {
                let cond = self.strict(body);
                sel.and_where(cond.not());
                SqExpr::exists(sel).not()
            }
        };
        self.vars.truncate(l.var);
        exists
    }

    fn bool_call(&mut self, f: Function, args: &[Expr]) -> (SimpleExpr, bool) {
        let (Some(a), Some(b)) = (args.first(), args.get(1)) else { return (keyword("FALSE"), false) };
        let (sa, na) = self.value(a);
        // A literal needle becomes a pattern: GLOB on SQLite (case-sensitive, unlike its
        // LIKE) and LIKE on PostgreSQL (case-sensitive), both able to use an index for
        // prefixes. Wildcards in the needle are escaped, so they match literally.
        if let Expr::Value(Value::String(needle)) = b {
            let (pre, post) = match f {
                Function::Contains => (true, true),
                Function::StartsWith => (false, true),
                _ => (true, false),
            };
            let s = match self.dialect {
                Dialect::Sqlite => {
                    let mut p = String::new();
                    if pre {
                        p.push('*');
                    }
                    for c in needle.chars() {
                        match c {
                            '*' => p.push_str("[*]"),
                            '?' => p.push_str("[?]"),
                            '[' => p.push_str("[[]"),
                            c => p.push(c),
                        }
                    }
                    if post {
                        p.push('*');
                    }
                    self.cust("$1 GLOB $2", vec![sa, SimpleExpr::Value(p.into())])
                }
                Dialect::Postgres => {
                    let mut p = String::new();
                    if pre {
                        p.push('%');
                    }
                    for c in needle.chars() {
                        if matches!(c, '%' | '_' | '!') {
                            p.push('!');
                        }
                        p.push(c);
                    }
                    if post {
                        p.push('%');
                    }
                    sa.like(LikeExpr::new(p).escape('!'))
                }
            };
            return (s, na);
        }
        let (sb, nb) = self.value(b);
        let s = match f {
            Function::Contains => self.cust(self.pick("instr($1, $2) > 0", "strpos($1, $2) > 0"), vec![sa, sb]),
            Function::StartsWith => self.cust("substr($1, 1, length($2)) = $2", vec![sa, sb]),
            _ => self.cust("substr($1, length($1) - length($2) + 1) = $2", vec![sa, sb]),
        };
        (s, na || nb)
    }

    fn value_call(&mut self, f: Function, args: &[Expr]) -> (SimpleExpr, bool) {
        let mut nullable = false;
        let mut a: Vec<SimpleExpr> = Vec::with_capacity(args.len());
        for arg in args {
            let (s, n) = self.value(arg);
            nullable |= n;
            a.push(s);
        }
        let arg_is_date = args.first().and_then(Expr::ty) == Some(Ty::Date);
        use Function as F;
        let s = match f {
            F::ToLower => self.cust("lower($1)", a),
            F::ToUpper => self.cust("upper($1)", a),
            F::Trim => self.cust("trim($1)", a),
            F::Length => self.cust("length($1)", a),
            F::Concat => self.cust("$1 || $2", a),
            F::IndexOf => self.cust(self.pick("instr($1, $2) - 1", "strpos($1, $2) - 1"), a),
            F::Substring if a.len() == 3 => self.cust(
                self.pick(
                    "substr($1, MAX($2, 0) + 1, MAX($3, 0))",
                    "substr($1, CAST(LEAST(GREATEST($2, 0), 2147483646) + 1 AS INTEGER), CAST(LEAST(GREATEST($3, 0), 2147483647) AS INTEGER))",
                ),
                a,
            ),
            F::Substring => self.cust(
                self.pick("substr($1, MAX($2, 0) + 1)", "substr($1, CAST(LEAST(GREATEST($2, 0), 2147483646) + 1 AS INTEGER))"),
                a,
            ),
            F::Year | F::Month | F::Day => {
                let Some(x) = a.into_iter().next() else { return (keyword("NULL"), true) };
                // Whole seconds since the epoch, rounded down also for instants before 1970.
                let seconds = if arg_is_date {
                    self.cust("$1 * 86400", vec![x])
                } else {
                    self.cust("($1 - ((($1 % 1000) + 1000) % 1000)) / 1000", vec![x])
                };
                let (sqlite, pg) = match f {
                    F::Year => ("%Y", "YEAR"),
                    F::Month => ("%m", "MONTH"),
                    _ => ("%d", "DAY"),
                };
                let template = match self.dialect {
                    Dialect::Sqlite => format!("CAST(strftime('{sqlite}', $1, 'unixepoch') AS INTEGER)"),
                    Dialect::Postgres => format!("CAST(EXTRACT({pg} FROM to_timestamp($1) AT TIME ZONE 'UTC') AS BIGINT)"),
                };
                self.cust(&template, vec![seconds])
            }
            F::Hour => self.cust("((($1 % 86400000) + 86400000) % 86400000) / 3600000", a),
            F::Minute => self.cust("((($1 % 3600000) + 3600000) % 3600000) / 60000", a),
            F::Second => self.cust("((($1 % 60000) + 60000) % 60000) / 1000", a),
            F::Date => self.cust("($1 - ((($1 % 86400000) + 86400000) % 86400000)) / 86400000", a),
            F::Contains | F::StartsWith | F::EndsWith => return self.bool_call(f, args),
        };
        (s, nullable)
    }

    /// The expression a property is sorted (and keyset-compared) by.
    pub fn sort_expr(&self, alias: &str, p: &'static openti_model::schema::Property) -> SimpleExpr {
        let c = col(alias, p.column);
        match Ty::of(p.ty) {
            Some(Ty::Enum(e)) => enum_ordinal_expr(e, c),
            Some(Ty::String) => self.collate(c),
            _ => c,
        }
    }
}

/// `a op b` in sea-query.
fn apply(op: CompareOp, l: SimpleExpr, r: SimpleExpr) -> SimpleExpr {
    match op {
        CompareOp::Eq => l.eq(r),
        CompareOp::Ne => l.ne(r),
        CompareOp::Gt => l.gt(r),
        CompareOp::Ge => l.gte(r),
        CompareOp::Lt => l.lt(r),
        CompareOp::Le => l.lte(r),
    }
}

/// The operator seen from the other side: `5 lt X` is `X gt 5`.
fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        o => o,
    }
}

fn ordered(op: CompareOp, a: usize, b: usize) -> bool {
    match op {
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
    }
}

/// `CASE x WHEN 'Informational' THEN 0 … END`: enum members in declaration order.
pub(crate) fn enum_ordinal_expr(e: &'static schema::EnumType, x: SimpleExpr) -> SimpleExpr {
    let mut case = CaseStatement::new();
    for (i, m) in e.members.iter().enumerate() {
        case =
            case.case(x.clone().eq(SimpleExpr::Value((*m).to_string().into())), SimpleExpr::Value((i as i64).into()));
    }
    case.into()
}

/// Appends ORDER BY for `keys` plus the `id` tie-breaker (in the direction of the last key).
pub(crate) fn order_by(
    sql: &Sql<'_>,
    sel: &mut SelectStatement,
    alias: &str,
    entity: &'static EntityType,
    keys: &[OrderKey],
) {
    for (expr, order, nulls) in order_terms(sql, alias, entity, keys) {
        sel.order_by_expr_with_nulls(expr, order, nulls);
    }
}

/// The sort terms, OData null ordering made explicit (nulls first ascending, last
/// descending — SQLite's default, not PostgreSQL's).
pub(crate) fn order_terms(
    sql: &Sql<'_>,
    alias: &str,
    entity: &'static EntityType,
    keys: &[OrderKey],
) -> Vec<(SimpleExpr, Order, NullOrdering)> {
    effective_keys(entity, keys)
        .into_iter()
        .map(|k| {
            let (order, nulls) =
                if k.descending { (Order::Desc, NullOrdering::Last) } else { (Order::Asc, NullOrdering::First) };
            (sql.sort_expr(alias, k.property), order, nulls)
        })
        .collect()
}

/// The keys the rows are really ordered by: `keys` up to and including `Id` if it appears
/// (later keys cannot matter), else `keys` plus `Id` in the direction of the last key.
pub(crate) fn effective_keys(entity: &'static EntityType, keys: &[OrderKey]) -> Vec<OrderKey> {
    let mut out = Vec::with_capacity(keys.len() + 1);
    for k in keys {
        out.push(*k);
        if k.property.column == entity.key.column {
            return out;
        }
    }
    let descending = keys.last().is_some_and(|k| k.descending);
    out.push(OrderKey { property: entity.key, descending });
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse_collection_query, QueryLimits};
    use super::*;
    use openti_model::schema::{ALERT_DEFINITION as AD, INDICATOR_OF_COMPROMISE as IOC};
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    fn q(entity: &'static EntityType, raw: &str) -> super::super::CheckedQuery {
        parse_collection_query(entity, Some(raw), &QueryLimits::default()).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    /// PostgreSQL placeholders must run $1..$n without gaps, one bound value each.
    fn assert_numbered(sql: &str, n: usize) {
        let mut seen = Vec::new();
        let b = sql.as_bytes();
        for (i, c) in b.iter().enumerate() {
            if *c == b'$' {
                let digits: String = sql[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                seen.push(digits.parse::<usize>().unwrap_or_else(|_| panic!("bad placeholder in {sql}")));
            }
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (1..=n).collect::<Vec<_>>(), "{sql}");
        assert!(!sql.contains('?'), "{sql}");
    }

    #[test]
    fn postgres_statements_use_like_collation_and_explicit_nulls() {
        let query = q(&AD, "$filter=contains(Name,'50%25_off!')%20and%20year(CreatedAt)%20eq%202026&$orderby=Name%20desc,InternalDescription");
        let (sql, values) = query.page_statement(Dialect::Postgres, "tenant", 10).build(PostgresQueryBuilder);
        assert!(sql.contains(r#"LIKE $2 ESCAPE '!'"#), "{sql}");
        assert!(sql.contains(r#""t0"."name") COLLATE "C") DESC NULLS LAST"#), "{sql}");
        assert!(sql.contains("ASC NULLS FIRST"), "{sql}");
        assert!(sql.contains("EXTRACT(YEAR FROM to_timestamp("), "{sql}");
        assert!(sql.ends_with("LIMIT $4"), "{sql}");
        assert_numbered(&sql, values.0.len());
        assert_eq!(values.0[3], sea_query::Value::BigUnsigned(Some(11)));
        assert_eq!(values.0[0], sea_query::Value::String(Some(Box::new("tenant".into()))));
        assert_eq!(values.0[1], sea_query::Value::String(Some(Box::new("%50!%!_off!!%".into()))));

        let (sql, values) = query.page_statement(Dialect::Sqlite, "tenant", 10).build(SqliteQueryBuilder);
        assert!(sql.contains("GLOB"), "{sql}");
        assert!(sql.contains("strftime('%Y'"), "{sql}");
        assert!(!sql.contains('$'), "{sql}");
        assert_eq!(values.0[1], sea_query::Value::String(Some(Box::new("*50%_off!*".into()))));
    }

    #[test]
    fn postgres_placeholders_stay_in_step_through_templates() {
        for (entity, raw) in [
            (&IOC, "$filter=endswith(Value,CreatedBy) and substring(Value, 1, 2) eq 'ab' and indexof(Value,'x') ge 0&$orderby=Type desc,Value"),
            (&IOC, "$filter=not (AlertDefinition/Severity gt 'low') and HitCount div 0 eq null&$skiptoken=eyJrIjpbXSwiaSI6NSwibiI6NX0"),
            (&AD, "$filter=IndicatorsOfCompromise/all(i: i/HitCount mod 2 eq 0 or i/Value ne null)"),
        ] {
            let query = q(entity, raw);
            let (sql, values) = query.page_statement(Dialect::Postgres, "t", 10).build(PostgresQueryBuilder);
            assert_numbered(&sql, values.0.len());
            let (sql, values) = query.count_statement(Dialect::Postgres, "t").build(PostgresQueryBuilder);
            assert_numbered(&sql, values.0.len());
        }
        let query = q(&AD, "$expand=IndicatorsOfCompromise($filter=contains(Value,'a');$orderby=Type,Value desc,HitCount,Enabled,ExpiresAt,CreatedAt,LastSeenAt,CreatedBy,LastModifiedAt,LastModifiedBy;$top=2;$skip=1)");
        let keys = [serde_json::json!(1), serde_json::json!(2)];
        let (sql, values) =
            query.expand_statement(Dialect::Postgres, &query.expand[0], "t", &keys).build(PostgresQueryBuilder);
        assert!(sql.contains("ROW_NUMBER() OVER (PARTITION BY"), "{sql}");
        assert_numbered(&sql, values.0.len());
    }

    #[test]
    fn request_text_never_reaches_the_sql() {
        let hostile = "x'); DROP TABLE indicators; --";
        let raw =
            format!("$filter=Value%20eq%20'{}'", hostile.replace('\'', "''").replace(' ', "%20").replace(';', "%3B"));
        let query = q(&IOC, &raw);
        for (sql, _) in [
            query.page_statement(Dialect::Sqlite, "t", 10).build(SqliteQueryBuilder),
            query.page_statement(Dialect::Postgres, "t", 10).build(PostgresQueryBuilder),
        ] {
            assert!(!sql.contains("DROP"), "{sql}");
        }
    }
}

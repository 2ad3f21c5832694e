//! The checker: resolves the names of an [`UncheckedQuery`] against the entity model and
//! types every expression, producing a [`CheckedQuery`]. Nothing reaches SQL generation
//! without passing through here.
//!
//! Typing rules worth knowing (they are OpenTI's reading of OData 4.01 Part 2 §5.1.1):
//! - A string literal compared with an enum property is read as a member name, in any case
//!   and with the model's historical aliases (`'high'`, `'StartsWith'`); so is the qualified
//!   form `OpenTI.AlertSeverity'High'`. An unknown member is a type error, not "no rows".
//! - `gt`/`ge`/`lt`/`le` on enums compare member order (`Informational < Low < Medium < High`),
//!   as OData orders enums by their underlying value; `has` on these non-flag enums is `eq`.
//! - A `Date` literal compared with a DateTimeOffset stands for midnight UTC of that day.
//! - Comparing with `null` is allowed with every operator: `eq`/`ne` test for null, the
//!   ordering operators are false.
//! - Property names are case-sensitive, as OData requires; a name that differs only in case
//!   gets a "did you mean" hint.

use chrono::{DateTime, NaiveDate, Utc};
use openti_model::schema::{self, EntityType, EnumType, Navigation, Property, ENUM_TYPES};

use super::ast::*;
use super::error::{Fail, QueryError, QueryErrorKind, Result};
use super::options::UncheckedQuery;
use super::paging::decode_skiptoken;
use super::typed::*;
use super::{CheckedQuery, QueryLimits};

impl UncheckedQuery {
    /// Resolves and types the query against `entity`. `now` is the value of `now()`.
    pub fn check(
        self,
        entity: &'static EntityType,
        limits: &QueryLimits,
        now: DateTime<Utc>,
    ) -> std::result::Result<CheckedQuery, QueryError> {
        let checker = Checker { now_ms: now.timestamp_millis(), limits };
        let opts = &self.options;
        let tag = |option: &'static str| {
            let text = self.text_of(option).to_string();
            move |f: Fail| f.into_error(option, &text)
        };

        let filter = match &opts.filter {
            Some(node) => Some(checker.filter(entity, node).map_err(tag("$filter"))?),
            None => None,
        };
        let orderby = checker.orderby(entity, &opts.orderby).map_err(tag("$orderby"))?;
        let select = checker.select(entity, opts.select.as_deref()).map_err(tag("$select"))?;
        let expand = checker.expand(entity, &opts.expand).map_err(tag("$expand"))?;
        checker.top(opts.top).map_err(tag("$top"))?;
        let skiptoken = match &self.skiptoken {
            Some(token) => Some(decode_skiptoken(token, &orderby).map_err(tag("$skiptoken"))?),
            None => None,
        };
        Ok(CheckedQuery {
            entity,
            filter,
            orderby,
            select,
            expand,
            top: opts.top,
            skip: opts.skip,
            count: opts.count.unwrap_or(false),
            skiptoken,
            max_page_size: limits.max_page_size,
            texts: self.texts,
        })
    }
}

struct Checker<'a> {
    now_ms: i64,
    limits: &'a QueryLimits,
}

/// Lambda variables in scope, outermost first.
type Vars<'v> = Vec<(&'v str, &'static EntityType)>;

fn target_of(nav: &Navigation, pos: usize) -> Result<&'static EntityType> {
    schema::entity_type(nav.target).ok_or_else(|| {
        Fail::at(QueryErrorKind::Unsupported, pos, format!("navigation '{}' has no known target type", nav.name))
    })
}

/// "did you mean" for a name that is not a property or navigation of `entity`.
fn unknown_name(entity: &EntityType, seg: &Segment) -> Fail {
    let names = entity.properties.iter().map(|p| p.name).chain(entity.navigations.iter().map(|n| n.name));
    let mut best: Option<(usize, &str)> = None;
    for candidate in names {
        let d = if candidate.eq_ignore_ascii_case(&seg.name) {
            0
        } else {
            edit_distance(&candidate.to_ascii_lowercase(), &seg.name.to_ascii_lowercase())
        };
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    let hint = match best {
        Some((0, c)) => format!("; did you mean '{c}'? (property names are case-sensitive)"),
        Some((_, c)) => format!("; did you mean '{c}'?"),
        None => String::new(),
    };
    Fail::at(QueryErrorKind::UnknownProperty, seg.pos, format!("{} has no property '{}'{hint}", entity.name, seg.name))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn queryable(p: &'static Property, pos: usize) -> Result<Ty> {
    Ty::of(p.ty).ok_or_else(|| {
        Fail::at(
            QueryErrorKind::Unsupported,
            pos,
            format!("'{}' is stored as JSON and cannot be filtered or ordered by", p.name),
        )
    })
}

/// Finds an enum member by name in any case, or by one of the model's input aliases.
pub(crate) fn enum_member(ty: &'static EnumType, text: &str) -> Option<&'static str> {
    use openti_model::*;
    if let Some(m) = ty.members.iter().find(|m| m.eq_ignore_ascii_case(text.trim())) {
        return Some(m);
    }
    let via_alias = match ty.name {
        n if n == DetectionFunction::TYPE_NAME => DetectionFunction::parse(text).map(|m| m.as_str()),
        n if n == IocType::TYPE_NAME => IocType::parse(text).map(|m| m.as_str()),
        n if n == AlertSeverity::TYPE_NAME => AlertSeverity::parse(text).map(|m| m.as_str()),
        n if n == AlertCategory::TYPE_NAME => AlertCategory::parse(text).map(|m| m.as_str()),
        n if n == AlertStatus::TYPE_NAME => AlertStatus::parse(text).map(|m| m.as_str()),
        n if n == AlertClassification::TYPE_NAME => AlertClassification::parse(text).map(|m| m.as_str()),
        _ => None,
    }?;
    ty.members.iter().copied().find(|m| *m == via_alias)
}

fn not_a_member(ty: &EnumType, text: &str, pos: usize) -> Fail {
    Fail::at(
        QueryErrorKind::TypeMismatch,
        pos,
        format!("'{text}' is not a member of {}.{} ({})", schema::NAMESPACE, ty.name, ty.members.join(", ")),
    )
}

fn days_since_epoch(d: NaiveDate) -> i64 {
    d.signed_duration_since(NaiveDate::default()).num_days()
}

impl Checker<'_> {
    fn filter(&self, entity: &'static EntityType, node: &Node) -> Result<Expr> {
        let mut vars = Vec::new();
        let e = self.expr(entity, &mut vars, node)?;
        expect_bool(&e, node.pos)?;
        Ok(e)
    }

    fn top(&self, top: Option<u64>) -> Result<()> {
        match top {
            Some(t) if t > self.limits.max_top => Err(Fail::nowhere(
                QueryErrorKind::LimitExceeded,
                format!("{t} is more than max_top ({})", self.limits.max_top),
            )),
            _ => Ok(()),
        }
    }

    fn orderby(&self, entity: &'static EntityType, keys: &[RawOrderKey]) -> Result<Vec<OrderKey>> {
        keys.iter()
            .map(|k| {
                let seg = &k.path[0];
                if k.path.len() > 1 || entity.navigations.iter().any(|n| n.name == seg.name) {
                    return Err(Fail::at(
                        QueryErrorKind::Unsupported,
                        seg.pos,
                        "ordering by a property of a navigation is not supported",
                    ));
                }
                let p =
                    entity.properties.iter().find(|p| p.name == seg.name).ok_or_else(|| unknown_name(entity, seg))?;
                queryable(p, seg.pos)?;
                Ok(OrderKey { property: p, descending: k.descending })
            })
            .collect()
    }

    fn select(
        &self,
        entity: &'static EntityType,
        items: Option<&[RawSelectItem]>,
    ) -> Result<Option<Vec<&'static Property>>> {
        let Some(items) = items else { return Ok(None) };
        let mut out: Vec<&'static Property> = Vec::new();
        let mut star = false;
        for item in items {
            match item {
                RawSelectItem::Star(_) => star = true,
                RawSelectItem::Path(path) => {
                    let seg = &path[0];
                    if path.len() > 1 {
                        return Err(Fail::at(
                            QueryErrorKind::Unsupported,
                            path[1].pos,
                            "paths are not supported in $select",
                        ));
                    }
                    // A navigation property in $select selects no structural property; what
                    // is shown of it is decided by $expand. OData allows it, so it is accepted.
                    if entity.navigations.iter().any(|n| n.name == seg.name) {
                        continue;
                    }
                    let p = entity
                        .properties
                        .iter()
                        .find(|p| p.name == seg.name)
                        .ok_or_else(|| unknown_name(entity, seg))?;
                    if !out.iter().any(|q| std::ptr::eq(*q, p)) {
                        out.push(p);
                    }
                }
            }
        }
        // `*` selects everything, but the other items are still validated.
        Ok(if star { None } else { Some(out) })
    }

    fn expand(&self, entity: &'static EntityType, items: &[RawExpand]) -> Result<Vec<Expand>> {
        let mut out: Vec<Expand> = Vec::new();
        for item in items {
            let seg = &item.path[0];
            if let Some(extra) = item.path.get(1) {
                let what =
                    if extra.name.eq_ignore_ascii_case("$ref") { "$expand with /$ref" } else { "paths in $expand" };
                return Err(Fail::at(QueryErrorKind::Unsupported, extra.pos, format!("{what} are not supported")));
            }
            let navs: Vec<&'static Navigation> = if seg.name == "*" {
                entity.navigations.iter().collect()
            } else {
                match entity.navigations.iter().find(|n| n.name == seg.name) {
                    Some(n) => vec![n],
                    None if entity.properties.iter().any(|p| p.name == seg.name) => {
                        return Err(Fail::at(
                            QueryErrorKind::TypeMismatch,
                            seg.pos,
                            format!("'{}' is not a navigation property and cannot be expanded", seg.name),
                        ))
                    }
                    None => return Err(unknown_name(entity, seg)),
                }
            };
            for nav in navs {
                if out.iter().any(|e| std::ptr::eq(e.navigation, nav)) {
                    return Err(Fail::at(QueryErrorKind::Syntax, seg.pos, format!("'{}' is expanded twice", nav.name)));
                }
                let target = target_of(nav, seg.pos)?;
                let o = &item.options;
                if !nav.collection
                    && (!o.orderby.is_empty() || o.top.is_some() || o.skip.is_some() || o.count.is_some())
                {
                    return Err(Fail::at(
                        QueryErrorKind::Unsupported,
                        seg.pos,
                        format!("'{}' is a single entity: only $select, $filter and $expand apply to it", nav.name),
                    ));
                }
                self.top(o.top).map_err(|mut f| {
                    f.pos = Some(seg.pos);
                    f
                })?;
                out.push(Expand {
                    navigation: nav,
                    target,
                    filter: match &o.filter {
                        Some(n) => Some(self.filter(target, n)?),
                        None => None,
                    },
                    orderby: self.orderby(target, &o.orderby)?,
                    select: self.select(target, o.select.as_deref())?,
                    expand: self.expand(target, &o.expand)?,
                    top: o.top,
                    skip: o.skip,
                    count: o.count.unwrap_or(false),
                });
            }
        }
        Ok(out)
    }

    fn expr<'n>(&self, root: &'static EntityType, vars: &mut Vars<'n>, node: &'n Node) -> Result<Expr> {
        match &node.kind {
            NodeKind::Literal(l) => self.literal(l, node.pos),
            NodeKind::Path(path) => {
                let (source, entity, rest) = start_of_path(root, vars, path);
                if rest.is_empty() {
                    return Err(Fail::at(
                        QueryErrorKind::TypeMismatch,
                        node.pos,
                        format!(
                            "the lambda variable '{}' must be followed by a property, e.g. {}/Id",
                            path[0].name, path[0].name
                        ),
                    ));
                }
                let (navigations, entity) = walk_single(entity, &rest[..rest.len() - 1])?;
                let last = &rest[rest.len() - 1];
                let Some(property) = entity.properties.iter().find(|p| p.name == last.name) else {
                    if let Some(nav) = entity.navigations.iter().find(|n| n.name == last.name) {
                        let hint = if nav.collection { "any() or all()" } else { "a property, e.g. /Id" };
                        return Err(Fail::at(
                            QueryErrorKind::TypeMismatch,
                            last.pos,
                            format!("navigation property '{}' is not a value; follow it with {hint}", nav.name),
                        ));
                    }
                    return Err(unknown_name(entity, last));
                };
                queryable(property, last.pos)?;
                Ok(Expr::Property(PropertyRef { source, navigations, entity, property }))
            }
            NodeKind::Lambda { path, kind, var, body } => {
                let (source, entity, rest) = start_of_path(root, vars, path);
                let Some((last, before)) = rest.split_last() else {
                    return Err(Fail::at(
                        QueryErrorKind::TypeMismatch,
                        node.pos,
                        "any()/all() must follow a collection navigation",
                    ));
                };
                let (navigations, entity) = walk_single(entity, before)?;
                let collection = match entity.navigations.iter().find(|n| n.name == last.name) {
                    Some(n) if n.collection => n,
                    Some(n) => {
                        return Err(Fail::at(
                            QueryErrorKind::TypeMismatch,
                            last.pos,
                            format!(
                                "'{}' is a single entity, not a collection: compare its properties directly",
                                n.name
                            ),
                        ))
                    }
                    None if entity.properties.iter().any(|p| p.name == last.name) => {
                        return Err(Fail::at(
                            QueryErrorKind::TypeMismatch,
                            last.pos,
                            format!("'{}' is not a collection navigation property", last.name),
                        ))
                    }
                    None => return Err(unknown_name(entity, last)),
                };
                let target = target_of(collection, last.pos)?;
                let var_index = vars.len();
                let body = match (var, body) {
                    (Some(v), Some(b)) => {
                        if vars.iter().any(|(n, _)| *n == v.name) || entity.properties.iter().any(|p| p.name == v.name)
                        {
                            return Err(Fail::at(
                                QueryErrorKind::Syntax,
                                v.pos,
                                format!("the lambda variable '{}' hides another name", v.name),
                            ));
                        }
                        vars.push((v.name.as_str(), target));
                        let body = self.expr(root, vars, b);
                        vars.pop();
                        let body = body?;
                        expect_bool(&body, b.pos)?;
                        Some(body)
                    }
                    _ => None,
                };
                Ok(Expr::Lambda(Box::new(Lambda {
                    kind: *kind,
                    source,
                    navigations,
                    collection,
                    target,
                    var: var_index,
                    body,
                })))
            }
            NodeKind::Call { name, args } => self.call_or_now(root, vars, name, args, node.pos),
            NodeKind::Not(inner) => {
                let e = self.expr(root, vars, inner)?;
                expect_bool(&e, inner.pos)?;
                Ok(Expr::Not(Box::new(e)))
            }
            NodeKind::Neg(inner) => {
                let e = self.expr(root, vars, inner)?;
                match e.ty() {
                    Some(t) if t.is_numeric() => Ok(Expr::Neg(Box::new(e))),
                    other => Err(mismatch(inner.pos, "'-' needs a number", other)),
                }
            }
            NodeKind::And(items) | NodeKind::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let e = self.expr(root, vars, item)?;
                    expect_bool(&e, item.pos)?;
                    out.push(e);
                }
                Ok(if matches!(node.kind, NodeKind::And(_)) { Expr::And(out) } else { Expr::Or(out) })
            }
            NodeKind::In { lhs, list } => {
                let l = self.expr(root, vars, lhs)?;
                let Some(ty) = l.ty() else {
                    return Err(Fail::at(
                        QueryErrorKind::TypeMismatch,
                        lhs.pos,
                        "null cannot be the left operand of 'in'",
                    ));
                };
                let mut values = Vec::with_capacity(list.len());
                let mut includes_null = false;
                for item in list {
                    match self.expr(root, vars, item)? {
                        Expr::Null => includes_null = true,
                        Expr::Value(v) => values.push(coerce(v, ty, item)?),
                        _ => {
                            return Err(Fail::at(
                                QueryErrorKind::Unsupported,
                                item.pos,
                                "only literals are supported in an 'in' list",
                            ))
                        }
                    }
                }
                Ok(Expr::In { expr: Box::new(l), values, includes_null })
            }
            NodeKind::Binary { op, lhs, rhs } => self.binary(root, vars, *op, lhs, rhs),
        }
    }

    fn literal(&self, l: &RawLiteral, pos: usize) -> Result<Expr> {
        Ok(Expr::Value(match l {
            RawLiteral::Null => return Ok(Expr::Null),
            RawLiteral::Bool(b) => Value::Boolean(*b),
            RawLiteral::Int(v) => Value::Int64(*v),
            RawLiteral::Decimal(v) => Value::Decimal(*v),
            RawLiteral::String(s) => Value::String(s.clone()),
            RawLiteral::DateTimeOffset(d) => Value::DateTimeOffset(d.timestamp_millis()),
            RawLiteral::Date(d) => Value::Date(days_since_epoch(*d)),
            RawLiteral::Guid(g) => Value::Guid(g.clone()),
            RawLiteral::Typed { type_name, text } => {
                let Some((ns, name)) = type_name.rsplit_once('.') else {
                    return Err(Fail::at(
                        QueryErrorKind::Unsupported,
                        pos,
                        format!("{type_name}'…' literals are not supported (OData v4 writes most literals without a type prefix)"),
                    ));
                };
                let ty = ENUM_TYPES
                    .iter()
                    .copied()
                    .find(|e| ns.eq_ignore_ascii_case(schema::NAMESPACE) && e.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        Fail::at(QueryErrorKind::TypeMismatch, pos, format!("unknown enum type '{type_name}'"))
                    })?;
                let member = enum_member(ty, text).ok_or_else(|| not_a_member(ty, text, pos))?;
                Value::Enum { ty, member }
            }
        }))
    }

    fn binary<'n>(
        &self,
        root: &'static EntityType,
        vars: &mut Vars<'n>,
        op: BinaryOp,
        lhs: &'n Node,
        rhs: &'n Node,
    ) -> Result<Expr> {
        let l = self.expr(root, vars, lhs)?;
        let r = self.expr(root, vars, rhs)?;
        let cmp = match op {
            BinaryOp::Eq => Some(CompareOp::Eq),
            BinaryOp::Ne => Some(CompareOp::Ne),
            BinaryOp::Gt => Some(CompareOp::Gt),
            BinaryOp::Ge => Some(CompareOp::Ge),
            BinaryOp::Lt => Some(CompareOp::Lt),
            BinaryOp::Le => Some(CompareOp::Le),
            _ => None,
        };
        if let Some(cmp) = cmp {
            let (l, r) = unify(l, lhs, r, rhs)?;
            return Ok(Expr::Compare { op: cmp, lhs: Box::new(l), rhs: Box::new(r) });
        }
        if op == BinaryOp::Has {
            let Some(Ty::Enum(ty)) = l.ty() else {
                return Err(mismatch(lhs.pos, "'has' needs an enum property on the left", l.ty()));
            };
            let r = match r {
                Expr::Value(v @ Value::String(_)) | Expr::Value(v @ Value::Enum { .. }) => {
                    coerce(v, Ty::Enum(ty), rhs)?
                }
                other => return Err(mismatch(rhs.pos, "'has' needs an enum literal on the right", other.ty())),
            };
            return Ok(Expr::Compare { op: CompareOp::Eq, lhs: Box::new(l), rhs: Box::new(Expr::Value(r)) });
        }
        let arith = match op {
            BinaryOp::Add => ArithOp::Add,
            BinaryOp::Sub => ArithOp::Sub,
            BinaryOp::Mul => ArithOp::Mul,
            BinaryOp::Div => ArithOp::Div,
            BinaryOp::DivBy => ArithOp::DivBy,
            _ => ArithOp::Mod,
        };
        for (e, n) in [(&l, lhs), (&r, rhs)] {
            match e.ty() {
                Some(Ty::Int64) => {}
                Some(Ty::Decimal) if arith != ArithOp::Mod => {}
                other if arith == ArithOp::Mod => return Err(mismatch(n.pos, "'mod' needs Edm.Int64 operands", other)),
                other => return Err(mismatch(n.pos, &format!("'{}' needs numbers", op.keyword()), other)),
            }
        }
        Ok(Expr::Arith { op: arith, lhs: Box::new(l), rhs: Box::new(r) })
    }

    fn call<'n>(
        &self,
        root: &'static EntityType,
        vars: &mut Vars<'n>,
        name: &str,
        args: &'n [Node],
        pos: usize,
    ) -> Result<Expr> {
        let Some(function) = Function::lookup(name) else {
            const KNOWN_ODATA: &[&str] = &[
                "matchespattern",
                "round",
                "floor",
                "ceiling",
                "cast",
                "isof",
                "time",
                "totaloffsetminutes",
                "fractionalseconds",
                "totalseconds",
                "mindatetime",
                "maxdatetime",
                "hassubset",
                "hassubsequence",
                "case",
                "geo.distance",
                "geo.intersects",
                "geo.length",
            ];
            let kind = if KNOWN_ODATA.contains(&name.to_ascii_lowercase().as_str()) {
                QueryErrorKind::Unsupported
            } else {
                QueryErrorKind::Syntax
            };
            let what = if kind == QueryErrorKind::Unsupported { "is not supported" } else { "is not a known function" };
            return Err(Fail::at(kind, pos, format!("'{name}' {what}")));
        };
        use Function as F;
        let sig: &[&[Ty]] = match function {
            F::Contains | F::StartsWith | F::EndsWith | F::IndexOf | F::Concat => &[&[Ty::String], &[Ty::String]],
            F::ToLower | F::ToUpper | F::Trim | F::Length => &[&[Ty::String]],
            F::Substring if args.len() == 3 => &[&[Ty::String], &[Ty::Int64], &[Ty::Int64]],
            F::Substring => &[&[Ty::String], &[Ty::Int64]],
            F::Year | F::Month | F::Day => &[&[Ty::DateTimeOffset, Ty::Date]],
            F::Hour | F::Minute | F::Second | F::Date => &[&[Ty::DateTimeOffset]],
        };
        if args.len() != sig.len() {
            return Err(Fail::at(
                QueryErrorKind::TypeMismatch,
                pos,
                format!(
                    "{} takes {} argument{}, not {}",
                    name.to_ascii_lowercase(),
                    sig.len(),
                    if sig.len() == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        let mut checked = Vec::with_capacity(args.len());
        for (arg, allowed) in args.iter().zip(sig) {
            let e = self.expr(root, vars, arg)?;
            match e.ty() {
                Some(t) if allowed.contains(&t) => checked.push(e),
                other => {
                    let want = allowed.iter().map(|t| t.name()).collect::<Vec<_>>().join(" or ");
                    return Err(mismatch(arg.pos, &format!("{} expects {want}", name.to_ascii_lowercase()), other));
                }
            }
        }
        Ok(Expr::Call { function, args: checked })
    }
}

fn start_of_path<'p>(
    root: &'static EntityType,
    vars: &Vars<'_>,
    path: &'p [Segment],
) -> (Source, &'static EntityType, &'p [Segment]) {
    if let Some(i) = vars.iter().position(|(n, _)| *n == path[0].name) {
        return (Source::Var(i), vars[i].1, &path[1..]);
    }
    if path[0].name == "$it" {
        return (Source::Root, root, &path[1..]);
    }
    (Source::Root, root, path)
}

/// Walks single-valued navigations; every segment must be one.
fn walk_single(
    mut entity: &'static EntityType,
    segs: &[Segment],
) -> Result<(Vec<&'static Navigation>, &'static EntityType)> {
    let mut navs = Vec::new();
    for seg in segs {
        match entity.navigations.iter().find(|n| n.name == seg.name) {
            Some(n) if !n.collection => {
                navs.push(n);
                entity = target_of(n, seg.pos)?;
            }
            Some(n) => {
                return Err(Fail::at(
                    QueryErrorKind::TypeMismatch,
                    seg.pos,
                    format!("'{}' is a collection: use {}/any(x: …) or {}/all(x: …)", n.name, n.name, n.name),
                ))
            }
            None if entity.properties.iter().any(|p| p.name == seg.name) => {
                return Err(Fail::at(
                    QueryErrorKind::TypeMismatch,
                    seg.pos,
                    format!("'{}' is not a navigation property; '/' cannot follow it", seg.name),
                ))
            }
            None => return Err(unknown_name(entity, seg)),
        }
    }
    Ok((navs, entity))
}

fn mismatch(pos: usize, what: &str, found: Option<Ty>) -> Fail {
    let found = found.map(|t| t.name()).unwrap_or_else(|| "null".into());
    Fail::at(QueryErrorKind::TypeMismatch, pos, format!("{what}, found {found}"))
}

fn expect_bool(e: &Expr, pos: usize) -> Result<()> {
    match e.ty() {
        Some(Ty::Boolean) => Ok(()),
        other => Err(mismatch(pos, "expected a Boolean expression", other)),
    }
}

/// Gives a literal the type `ty` it is compared with, where OData allows it.
fn coerce(v: Value, ty: Ty, node: &Node) -> Result<Value> {
    match (v, ty) {
        (Value::String(s), Ty::Enum(e)) => {
            enum_member(e, &s).map(|member| Value::Enum { ty: e, member }).ok_or_else(|| not_a_member(e, &s, node.pos))
        }
        (Value::Enum { ty: vt, member }, Ty::Enum(e)) if std::ptr::eq(vt, e) || vt == e => {
            Ok(Value::Enum { ty: e, member })
        }
        (Value::Date(d), Ty::DateTimeOffset) => Ok(Value::DateTimeOffset(d.saturating_mul(86_400_000))),
        (v, t) if v.ty() == t || (v.ty().is_numeric() && t.is_numeric()) => Ok(v),
        (v, t) => Err(type_pair(node.pos, t, v.ty())),
    }
}

fn type_pair(pos: usize, a: Ty, b: Ty) -> Fail {
    let hint = match (a, b) {
        (Ty::DateTimeOffset, Ty::String) | (Ty::String, Ty::DateTimeOffset) => {
            " (write DateTimeOffset literals without quotes, e.g. 2026-11-22T10:00:00Z)"
        }
        (Ty::Guid, Ty::String) | (Ty::String, Ty::Guid) => " (write GUID literals without quotes)",
        _ => "",
    };
    Fail::at(QueryErrorKind::TypeMismatch, pos, format!("cannot compare {} with {}{hint}", a.name(), b.name()))
}

/// Types both sides of a comparison, coercing a literal side to the other side's type.
fn unify(l: Expr, ln: &Node, r: Expr, rn: &Node) -> Result<(Expr, Expr)> {
    let (lt, rt) = match (l.ty(), r.ty()) {
        (Some(lt), Some(rt)) => (lt, rt),
        // null compares with anything.
        _ => return Ok((l, r)),
    };
    if lt == rt || (lt.is_numeric() && rt.is_numeric()) {
        return Ok((l, r));
    }
    match (l, r) {
        // Two literals: whichever reading works ('High' eq OpenTI.AlertSeverity'High').
        (Expr::Value(lv), Expr::Value(rv)) => match coerce(rv.clone(), lt, rn) {
            Ok(rv) => Ok((Expr::Value(lv), Expr::Value(rv))),
            Err(e) => coerce(lv, rt, ln).map(|lv| (Expr::Value(lv), Expr::Value(rv))).map_err(|_| e),
        },
        (l, Expr::Value(v)) => Ok((l, Expr::Value(coerce(v, lt, rn)?))),
        (Expr::Value(v), r) => Ok((Expr::Value(coerce(v, rt, ln)?), r)),
        _ => Err(type_pair(rn.pos, lt, rt)),
    }
}

// `now()` is folded to a constant here, so that one request sees one instant (and tests
// can inject the clock).
impl Checker<'_> {
    fn call_or_now<'n>(
        &self,
        root: &'static EntityType,
        vars: &mut Vars<'n>,
        name: &str,
        args: &'n [Node],
        pos: usize,
    ) -> Result<Expr> {
        if name.eq_ignore_ascii_case("now") {
            if !args.is_empty() {
                return Err(Fail::at(QueryErrorKind::TypeMismatch, pos, "now takes no arguments"));
            }
            return Ok(Expr::Value(Value::DateTimeOffset(self.now_ms)));
        }
        self.call(root, vars, name, args, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_collection_query, QueryLimits};
    use super::*;
    use openti_model::schema::{ALERT, ALERT_DEFINITION as AD, INDICATOR_OF_COMPROMISE as IOC};

    fn err(entity: &'static EntityType, raw: &str) -> QueryError {
        parse_collection_query(entity, Some(raw), &QueryLimits::default()).unwrap_err()
    }

    fn filter(entity: &'static EntityType, f: &str) -> Expr {
        let raw = format!("$filter={}", super::super::options::encode(f));
        parse_collection_query(entity, Some(&raw), &QueryLimits::default())
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .filter
            .unwrap()
    }

    #[test]
    fn unknown_names_get_hints_and_positions() {
        let e = err(&AD, "$filter=severity eq 'High'");
        assert_eq!(e.kind, QueryErrorKind::UnknownProperty);
        assert_eq!(
            e.message,
            "$filter: AlertDefinition has no property 'severity'; did you mean 'Severity'? (property names are case-sensitive) at position 0"
        );
        let e = err(&AD, "$filter=Name eq 'a' and Severty eq 'High'");
        assert_eq!((e.position, e.message.contains("did you mean 'Severity'?")), (Some(16), true));
        let e = err(&AD, "$orderby=Nme");
        assert!(e.message.contains("did you mean 'Name'"), "{e}");
        let e = err(&AD, "$select=Name,Bogus");
        assert_eq!((e.option.as_str(), e.position), ("$select", Some(5)));
        let e = err(&IOC, "$filter=AlertDefinition/Sev eq 'High'");
        assert_eq!(e.position, Some(16));
        // Positions count characters, not bytes.
        let e = err(&AD, "$filter=Name%20eq%20'%C3%A9%C3%A9'%20and%20Nope%20eq%201");
        assert_eq!(e.position, Some(17));
    }

    #[test]
    fn type_errors_name_both_sides() {
        let e = err(&AD, "$filter=Name eq 1");
        assert_eq!((e.kind, e.position), (QueryErrorKind::TypeMismatch, Some(8)));
        assert!(e.message.contains("cannot compare Edm.String with Edm.Int64"), "{e}");
        let e = err(&AD, "$filter=CreatedAt gt '2026-01-01T00:00:00Z'");
        assert!(e.message.contains("without quotes"), "{e}");
        let e = err(&AD, "$filter=Severity eq 'Critical'");
        assert!(e.message.contains("'Critical' is not a member of OpenTI.AlertSeverity"), "{e}");
        let e = err(&AD, "$filter=Severity eq OpenTI.IocType'Url'");
        assert_eq!(e.kind, QueryErrorKind::TypeMismatch);
        let e = err(&AD, "$filter=Name");
        assert!(e.message.contains("expected a Boolean expression, found Edm.String"), "{e}");
        let e = err(&AD, "$filter=not Name eq 'x'");
        assert_eq!(e.position, Some(4), "{e}");
        let e = err(&AD, "$filter=contains(Severity, 'Hi')");
        assert!(e.message.contains("contains expects Edm.String, found OpenTI.AlertSeverity"), "{e}");
        let e = err(&AD, "$filter=Id mod 2.5 eq 1");
        assert!(e.message.contains("'mod' needs Edm.Int64"), "{e}");
        assert_eq!(err(&AD, "$filter=round(Id) eq 1").kind, QueryErrorKind::Unsupported);
        assert_eq!(err(&AD, "$filter=frobnicate(Id)").kind, QueryErrorKind::Syntax);
        assert_eq!(err(&ALERT, "$filter=IocIds eq 1").kind, QueryErrorKind::Unsupported);
        assert_eq!(err(&ALERT, "$orderby=Evidence").kind, QueryErrorKind::Unsupported);
        assert_eq!(err(&AD, "$filter=IndicatorsOfCompromise eq 1").kind, QueryErrorKind::TypeMismatch);
        assert_eq!(err(&IOC, "$filter=AlertDefinition/any(d: d/Enabled)").kind, QueryErrorKind::TypeMismatch);
        assert_eq!(err(&AD, "$filter=IndicatorsOfCompromise/Type eq 'Url'").kind, QueryErrorKind::TypeMismatch);
        assert_eq!(err(&AD, "$filter=duration'P1D' eq null").kind, QueryErrorKind::Unsupported);
    }

    #[test]
    fn literals_are_typed_by_what_they_meet() {
        let member = |e: &Expr| match e {
            Expr::Compare { rhs, .. } => match rhs.as_ref() {
                Expr::Value(Value::Enum { member, .. }) => *member,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(member(&filter(&AD, "Severity eq 'high'")), "High");
        assert_eq!(member(&filter(&AD, "Severity has OpenTI.AlertSeverity'HIGH'")), "High");
        assert_eq!(member(&filter(&IOC, "DetectionFunction eq 'StartsWith'")), "StartWith");
        match filter(&AD, "CreatedAt ge 2026-11-22") {
            Expr::Compare { rhs, .. } => assert_eq!(*rhs, Expr::Value(Value::DateTimeOffset(1_795_305_600_000))),
            other => panic!("{other:?}"),
        }
        match filter(&AD, "CreatedAt lt 2026-11-22T10:00:00.5+01:00") {
            Expr::Compare { rhs, .. } => assert_eq!(*rhs, Expr::Value(Value::DateTimeOffset(1_795_338_000_500))),
            other => panic!("{other:?}"),
        }
        match filter(&IOC, "Type in ('url', null, OpenTI.IocType'Md5')") {
            Expr::In { values, includes_null, .. } => {
                assert!(includes_null);
                assert_eq!(values.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_are_checked() {
        let q = parse_collection_query(
            &AD,
            Some("$select=*,Name&$orderby=Severity desc,Name&$top=5&$skip=2&$count=true"),
            &QueryLimits::default(),
        )
        .unwrap();
        assert_eq!(q.select, None);
        assert_eq!(q.orderby.len(), 2);
        assert!(q.orderby[0].descending && !q.orderby[1].descending);
        assert_eq!((q.top, q.skip, q.count), (Some(5), Some(2), true));
        let e = err(&AD, "$top=2000000");
        assert_eq!((e.kind, e.option.as_str()), (QueryErrorKind::LimitExceeded, "$top"));
        assert!(e.message.contains("max_top"), "{e}");
        assert_eq!(err(&AD, "$orderby=IndicatorsOfCompromise").kind, QueryErrorKind::Unsupported);
        let q = parse_collection_query(
            &AD,
            Some("$select=Name,IndicatorsOfCompromise&$expand=IndicatorsOfCompromise"),
            &QueryLimits::default(),
        )
        .unwrap();
        assert_eq!(q.select.map(|s| s.iter().map(|p| p.name).collect::<Vec<_>>()), Some(vec!["Name"]));
        assert_eq!(err(&AD, "$select=IndicatorsOfCompromise/Value").kind, QueryErrorKind::Unsupported);
        assert_eq!(err(&AD, "$expand=Name").kind, QueryErrorKind::TypeMismatch);
        assert_eq!(err(&AD, "$expand=IndicatorsOfCompromise/$ref").kind, QueryErrorKind::Unsupported);
        assert_eq!(err(&IOC, "$expand=AlertDefinition($top=1)").kind, QueryErrorKind::Unsupported);
        let e = err(&AD, "$expand=IndicatorsOfCompromise($filter=Typo eq 1)");
        assert_eq!((e.option.as_str(), e.position), ("$expand", Some(31)));
        let q = parse_collection_query(&IOC, Some("$expand=*"), &QueryLimits::default()).unwrap();
        assert_eq!(q.expand.len(), 1);
    }
}

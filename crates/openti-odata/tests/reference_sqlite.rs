//! Property test: random indicator rows in a real SQLite table and random well-typed
//! `$filter` + `$orderby` + `$top`/`$skip` requests, read page by page through
//! `@odata.nextLink`, must give exactly the rows, in exactly the order, of a small in-memory
//! reference evaluator written here independently of the engine (its own expression tree,
//! its own rendering to OData text with minimal parentheses, its own null semantics).
//!
//! Reference semantics (OData 4.01 §5.1.1 as OpenTI reads it): a comparison with null is
//! false, except `eq`/`ne` which test (in)equality with null (`null eq null` is true);
//! boolean functions of a null argument are false; arithmetic and string functions of null
//! are null; division by zero is null; a null boolean property is false.

mod support;

use std::cell::RefCell;
use std::cmp::Ordering;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat, Timelike, Utc};
use openti_model::schema::{EdmType, EnumType, INDICATOR_OF_COMPROMISE as IOC};
use openti_odata::query::{parse_collection_query, Dialect, QueryLimits};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sqlx::{Row, SqliteConnection};
use support::*;

// ---------------------------------------------------------------------------------------
// Values and rows

#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Int(i64),
    Dec(f64),
    Str(String),
    Bool(bool),
    /// DateTimeOffset as Unix ms.
    Ms(i64),
    /// Enum ordinal.
    Enum(usize),
    /// Days since the epoch.
    Date(i64),
}

type RowV = Vec<V>;

fn enum_of(prop: usize) -> &'static EnumType {
    match IOC.properties[prop].ty {
        EdmType::Enum(e) => e,
        _ => unreachable!("not an enum property"),
    }
}

const INT_PROPS: &[usize] = &[0, 6, 7];
const STR_PROPS: &[usize] = &[2, 10, 12];
const MS_PROPS: &[usize] = &[5, 8, 9, 11];
const ENUM_PROPS: &[usize] = &[1, 3];
const BOOL_PROP: usize = 4;

const PIECES: &[&str] = &["", "a", "A", "ab", "b%", "_", "*", "?", "[a]", "'", "é", " a ", "--", ";", "x*y", "B"];
const MS_POOL: &[i64] = &[
    -86_400_001,
    -1,
    0,
    999,
    86_399_999,
    86_400_000,
    946_684_799_999,
    1_700_000_000_000,
    1_700_000_000_000,
    1_767_225_600_000,
];

fn text() -> BoxedStrategy<String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..3).prop_map(|v| v.concat()).boxed()
}

fn ms() -> BoxedStrategy<i64> {
    prop_oneof![prop::sample::select(MS_POOL), -2_000_000_000_000i64..3_000_000_000_000].boxed()
}

fn nullable<T: std::fmt::Debug + Clone + 'static>(s: BoxedStrategy<T>, f: fn(T) -> V) -> BoxedStrategy<V> {
    prop_oneof![1 => Just(V::Null), 3 => s.prop_map(f)].boxed()
}

fn row() -> impl Strategy<Value = RowV> {
    (
        0..7usize,
        text(),
        0..5usize,
        any::<bool>(),
        nullable(ms(), V::Ms),
        1..4i64,
        -3..12i64,
        nullable(ms(), V::Ms),
        ms(),
        nullable(text(), V::Str),
        nullable(ms(), V::Ms),
        nullable(text(), V::Str),
    )
        .prop_map(|(ty, value, func, enabled, expires, def, hits, seen, created, by, modified, mby)| {
            vec![
                V::Int(0),
                V::Enum(ty),
                V::Str(value),
                V::Enum(func),
                V::Bool(enabled),
                expires,
                V::Int(def),
                V::Int(hits),
                seen,
                V::Ms(created),
                by,
                modified,
                mby,
            ]
        })
}

fn cells(r: &RowV) -> Vec<Cell> {
    r.iter()
        .enumerate()
        .map(|(i, v)| match v {
            V::Null => Cell::Null,
            V::Int(x) | V::Ms(x) => Cell::Int(*x),
            V::Str(s) => Cell::Text(s.clone()),
            V::Bool(b) => Cell::Bool(*b),
            V::Enum(o) => Cell::Text(enum_of(i).members[*o].to_string()),
            V::Dec(_) | V::Date(_) => unreachable!("not stored"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The reference expression tree

#[derive(Debug, Clone)]
enum E {
    Prop(usize),
    Lit(V),
    /// Enum member literal: (enum property it is compared with, ordinal, spelling style).
    EnumLit(usize, usize, u8),
    Null,
    Arith(&'static str, Box<E>, Box<E>),
    Neg(Box<E>),
    Func(&'static str, Vec<E>),
    Cmp(&'static str, Box<E>, Box<E>),
    In(Box<E>, Vec<E>),
    Has(Box<E>, Box<E>),
    And(Box<E>, Box<E>),
    Or(Box<E>, Box<E>),
    Not(Box<E>),
}

fn prec(e: &E) -> u8 {
    match e {
        E::Or(..) => 1,
        E::And(..) => 2,
        E::Cmp(op, ..) if *op == "eq" || *op == "ne" => 3,
        E::Cmp(..) => 4,
        E::Arith(op, ..) if *op == "add" || *op == "sub" => 5,
        E::Arith(..) => 6,
        E::Not(_) | E::Neg(_) => 7,
        E::In(..) | E::Has(..) => 8,
        // A negative number literal lexes as one token, but it must not sit where a
        // binary-minus-like reading could matter; treat it as primary all the same.
        _ => 9,
    }
}

fn render_lit(v: &V) -> String {
    match v {
        V::Null => "null".into(),
        V::Int(i) => i.to_string(),
        V::Dec(f) => format!("{f:?}"),
        V::Str(s) => format!("'{}'", s.replace('\'', "''")),
        V::Bool(b) => b.to_string(),
        V::Ms(ms) => {
            // Spell the instant in one of three offsets; all denote the same instant.
            let offset = FixedOffset::east_opt(match ms.rem_euclid(3) {
                0 => 0,
                1 => 2 * 3600,
                _ => -(5 * 3600 + 30 * 60),
            })
            .unwrap();
            DateTime::<Utc>::from_timestamp_millis(*ms)
                .unwrap()
                .with_timezone(&offset)
                .to_rfc3339_opts(SecondsFormat::Millis, true)
        }
        V::Date(d) => {
            (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(*d)).format("%Y-%m-%d").to_string()
        }
        V::Enum(_) => unreachable!("enum literals are E::EnumLit"),
    }
}

fn render(e: &E, min: u8) -> String {
    let p = prec(e);
    let s = match e {
        E::Prop(i) => IOC.properties[*i].name.to_string(),
        E::Lit(v) => render_lit(v),
        E::EnumLit(prop, o, style) => {
            let ty = enum_of(*prop);
            let m = ty.members[*o];
            match (style, m) {
                (0, _) => format!("'{m}'"),
                (1, _) => format!("'{}'", m.to_lowercase()),
                (2, _) => format!("'{}'", m.to_uppercase()),
                // Historical aliases of DetectionFunction (SPEC A.5).
                (4, "StartWith") => "'StartsWith'".into(),
                (4, "EndWith") => "'endswith'".into(),
                _ => format!("OpenTI.{}'{m}'", ty.name),
            }
        }
        E::Null => "null".into(),
        E::Arith(op, l, r) | E::Cmp(op, l, r) => format!("{} {op} {}", render(l, p), render(r, p + 1)),
        E::And(l, r) => format!("{} and {}", render(l, p), render(r, p + 1)),
        E::Or(l, r) => format!("{} or {}", render(l, p), render(r, p + 1)),
        E::Not(x) => format!("not {}", render(x, 7)),
        E::Neg(x) => format!("-{}", render(x, 7)),
        E::In(x, items) => {
            format!("{} in ({})", render(x, 9), items.iter().map(|i| render(i, 0)).collect::<Vec<_>>().join(", "))
        }
        E::Has(x, y) => format!("{} has {}", render(x, 9), render(y, 9)),
        E::Func(name, args) => format!("{name}({})", args.iter().map(|a| render(a, 0)).collect::<Vec<_>>().join(", ")),
    };
    if p < min {
        format!("({s})")
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// The reference evaluator

fn num(v: &V) -> Option<f64> {
    match v {
        V::Int(i) => Some(*i as f64),
        V::Dec(f) => Some(*f),
        _ => None,
    }
}

fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Str(x), V::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Ms(x), V::Ms(y)) => Some(x.cmp(y)),
        (V::Ms(x), V::Date(d)) => Some(x.cmp(&(d * 86_400_000))),
        (V::Date(d), V::Ms(y)) => Some((d * 86_400_000).cmp(y)),
        (V::Date(x), V::Date(y)) => Some(x.cmp(y)),
        (V::Enum(x), V::Enum(y)) => Some(x.cmp(y)),
        _ => num(a)?.partial_cmp(&num(b)?),
    }
}

fn equal(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Null, _) | (_, V::Null) => false,
        _ => compare(a, b) == Some(Ordering::Equal),
    }
}

fn is_bool_expr(e: &E) -> bool {
    matches!(e, E::Cmp(..) | E::In(..) | E::Has(..) | E::And(..) | E::Or(..) | E::Not(..))
        || matches!(e, E::Func(n, _) if ["contains", "startswith", "endswith"].contains(n))
}

fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap()
}

fn eval(e: &E, r: &RowV) -> V {
    if is_bool_expr(e) {
        return V::Bool(holds(e, r));
    }
    match e {
        E::Prop(i) => r[*i].clone(),
        E::Lit(v) => v.clone(),
        E::EnumLit(_, o, _) => V::Enum(*o),
        E::Null => V::Null,
        E::Neg(x) => match eval(x, r) {
            V::Int(i) => V::Int(-i),
            V::Dec(f) => V::Dec(-f),
            _ => V::Null,
        },
        E::Arith(op, l, rr) => {
            let (a, b) = (eval(l, r), eval(rr, r));
            match (&a, &b) {
                (V::Null, _) | (_, V::Null) => V::Null,
                (V::Int(x), V::Int(y)) => match *op {
                    "add" => V::Int(x + y),
                    "sub" => V::Int(x - y),
                    "mul" => V::Int(x * y),
                    "div" if *y == 0 => V::Null,
                    "div" => V::Int(x / y),
                    "mod" if *y == 0 => V::Null,
                    _ => V::Int(x % y),
                },
                _ => {
                    let (x, y) = (num(&a).unwrap(), num(&b).unwrap());
                    match *op {
                        "add" => V::Dec(x + y),
                        "sub" => V::Dec(x - y),
                        "mul" => V::Dec(x * y),
                        _ if y == 0.0 => V::Null,
                        _ => V::Dec(x / y),
                    }
                }
            }
        }
        E::Func(name, args) => {
            let vals: Vec<V> = args.iter().map(|a| eval(a, r)).collect();
            if vals.contains(&V::Null) {
                return V::Null;
            }
            let s = |i: usize| match &vals[i] {
                V::Str(s) => s.clone(),
                _ => unreachable!(),
            };
            let int = |i: usize| match &vals[i] {
                V::Int(x) => *x,
                _ => unreachable!(),
            };
            let instant = || match &vals[0] {
                V::Ms(m) => datetime(*m),
                V::Date(d) => datetime(d * 86_400_000),
                _ => unreachable!(),
            };
            match *name {
                "tolower" => V::Str(s(0).to_ascii_lowercase()),
                "toupper" => V::Str(s(0).to_ascii_uppercase()),
                "trim" => V::Str(s(0).trim_matches(' ').to_string()),
                "length" => V::Int(s(0).chars().count() as i64),
                "concat" => V::Str(s(0) + &s(1)),
                "indexof" => V::Int(s(0).find(&s(1)).map_or(-1, |b| s(0)[..b].chars().count() as i64)),
                "substring" => {
                    let chars: Vec<char> = s(0).chars().collect();
                    let start = (int(1).max(0) as usize).min(chars.len());
                    let end = if vals.len() == 3 {
                        start.saturating_add(int(2).max(0) as usize).min(chars.len())
                    } else {
                        chars.len()
                    };
                    V::Str(chars[start..end].iter().collect())
                }
                "year" => V::Int(instant().year() as i64),
                "month" => V::Int(instant().month() as i64),
                "day" => V::Int(instant().day() as i64),
                "hour" => V::Int(instant().hour() as i64),
                "minute" => V::Int(instant().minute() as i64),
                "second" => V::Int(instant().second() as i64),
                "date" => match &vals[0] {
                    V::Ms(m) => V::Date(m.div_euclid(86_400_000)),
                    _ => unreachable!(),
                },
                other => unreachable!("{other}"),
            }
        }
        _ => unreachable!("boolean expressions are handled by holds()"),
    }
}

fn holds(e: &E, r: &RowV) -> bool {
    match e {
        E::And(a, b) => holds(a, r) && holds(b, r),
        E::Or(a, b) => holds(a, r) || holds(b, r),
        E::Not(a) => !holds(a, r),
        E::Cmp(op, a, b) => {
            let (x, y) = (eval(a, r), eval(b, r));
            match *op {
                "eq" => equal(&x, &y),
                "ne" => !equal(&x, &y),
                _ if x == V::Null || y == V::Null => false,
                "gt" => compare(&x, &y) == Some(Ordering::Greater),
                "ge" => matches!(compare(&x, &y), Some(Ordering::Greater | Ordering::Equal)),
                "lt" => compare(&x, &y) == Some(Ordering::Less),
                _ => matches!(compare(&x, &y), Some(Ordering::Less | Ordering::Equal)),
            }
        }
        E::Has(a, b) => equal(&eval(a, r), &eval(b, r)),
        E::In(x, items) => {
            let v = eval(x, r);
            items.iter().any(|i| equal(&v, &eval(i, r)))
        }
        E::Func(name, args) => {
            let (a, b) = (eval(&args[0], r), eval(&args[1], r));
            let (V::Str(a), V::Str(b)) = (a, b) else { return false };
            match *name {
                "contains" => a.contains(&b),
                "startswith" => a.starts_with(&b),
                _ => a.ends_with(&b),
            }
        }
        other => eval(other, r) == V::Bool(true),
    }
}

// ---------------------------------------------------------------------------------------
// Generators of well-typed expressions

fn b<T>(x: T) -> Box<T> {
    Box::new(x)
}

fn prop_of(list: &'static [usize]) -> BoxedStrategy<E> {
    prop::sample::select(list).prop_map(E::Prop).boxed()
}

fn ms_e() -> BoxedStrategy<E> {
    prop_oneof![prop_of(MS_PROPS), ms().prop_map(|m| E::Lit(V::Ms(m)))].boxed()
}

fn date_lit() -> BoxedStrategy<E> {
    (-20_000i64..30_000).prop_map(|d| E::Lit(V::Date(d))).boxed()
}

fn int_e(depth: u32) -> BoxedStrategy<E> {
    let leaf = prop_oneof![prop_of(INT_PROPS), (-5i64..15).prop_map(|i| E::Lit(V::Int(i)))].boxed();
    if depth == 0 {
        return leaf;
    }
    let d = depth - 1;
    prop_oneof![
        3 => leaf,
        2 => (prop::sample::select(&["add", "sub", "mul", "div", "mod"][..]), int_e(d), int_e(d)).prop_map(|(op, l, r)| E::Arith(op, b(l), b(r))),
        1 => int_e(d).prop_map(|x| E::Neg(b(x))),
        1 => str_e(d).prop_map(|s| E::Func("length", vec![s])),
        1 => (str_e(d), str_e(0)).prop_map(|(s, t)| E::Func("indexof", vec![s, t])),
        1 => (prop::sample::select(&["year", "month", "day", "hour", "minute", "second"][..]), ms_e()).prop_map(|(f, m)| E::Func(f, vec![m])),
        1 => (prop::sample::select(&["year", "month", "day"][..]), ms_e()).prop_map(|(f, m)| E::Func(f, vec![E::Func("date", vec![m])])),
    ]
    .boxed()
}

fn num_e(depth: u32) -> BoxedStrategy<E> {
    let dec = (-20i64..20).prop_map(|x| E::Lit(V::Dec(x as f64 / 4.0))).boxed();
    if depth == 0 {
        return prop_oneof![int_e(0), dec].boxed();
    }
    prop_oneof![
        3 => int_e(depth),
        1 => dec.clone(),
        1 => (prop::sample::select(&["add", "sub", "mul", "div"][..]), num_e(depth - 1), dec).prop_map(|(op, l, r)| E::Arith(op, b(l), b(r))),
    ]
    .boxed()
}

fn str_e(depth: u32) -> BoxedStrategy<E> {
    let leaf = prop_oneof![prop_of(STR_PROPS), text().prop_map(|s| E::Lit(V::Str(s)))].boxed();
    if depth == 0 {
        return leaf;
    }
    let d = depth - 1;
    prop_oneof![
        3 => leaf,
        1 => (prop::sample::select(&["tolower", "toupper", "trim"][..]), str_e(d)).prop_map(|(f, s)| E::Func(f, vec![s])),
        1 => (str_e(d), str_e(d)).prop_map(|(s, t)| E::Func("concat", vec![s, t])),
        1 => (str_e(d), int_e(0)).prop_map(|(s, i)| E::Func("substring", vec![s, i])),
        1 => (str_e(d), -1i64..4, -1i64..4).prop_map(|(s, i, n)| E::Func("substring", vec![s, E::Lit(V::Int(i)), E::Lit(V::Int(n))])),
    ]
    .boxed()
}

/// Needles are often a single piece, so wildcard characters (`*`, `?`, `[a]`, `%`, `_`) are
/// searched for on their own and must match literally.
fn needle() -> BoxedStrategy<E> {
    prop_oneof![str_e(0), prop::sample::select(PIECES).prop_map(|s| E::Lit(V::Str(s.to_string())))].boxed()
}

fn cmp_op() -> BoxedStrategy<&'static str> {
    prop::sample::select(&["eq", "ne", "gt", "ge", "lt", "le"][..]).boxed()
}

fn enum_lit(prop: usize) -> BoxedStrategy<E> {
    let n = enum_of(prop).members.len();
    (0..n, 0u8..5).prop_map(move |(o, style)| E::EnumLit(prop, o, style)).boxed()
}

fn enum_pred() -> BoxedStrategy<E> {
    prop::sample::select(ENUM_PROPS)
        .prop_flat_map(|p| {
            prop_oneof![
                (cmp_op(), enum_lit(p)).prop_map(move |(op, l)| E::Cmp(op, b(E::Prop(p)), b(l))),
                (cmp_op(), enum_lit(p)).prop_map(move |(op, l)| E::Cmp(op, b(l), b(E::Prop(p)))),
                cmp_op().prop_map(move |op| E::Cmp(op, b(E::Prop(p)), b(E::Prop(p)))),
                prop::collection::vec(enum_lit(p), 0..4).prop_map(move |l| E::In(b(E::Prop(p)), l)),
                enum_lit(p).prop_map(move |l| E::Has(b(E::Prop(p)), b(l))),
            ]
        })
        .boxed()
}

fn null_pred() -> BoxedStrategy<E> {
    let any_prop = prop::sample::select((0..IOC.properties.len()).collect::<Vec<_>>()).prop_map(E::Prop);
    prop_oneof![
        6 => (cmp_op(), any_prop.clone()).prop_map(|(op, p)| E::Cmp(op, b(p), b(E::Null))),
        2 => (cmp_op(), any_prop).prop_map(|(op, p)| E::Cmp(op, b(E::Null), b(p))),
        1 => cmp_op().prop_map(|op| E::Cmp(op, b(E::Null), b(E::Null))),
    ]
    .boxed()
}

fn leaf_pred() -> BoxedStrategy<E> {
    prop_oneof![
        3 => (cmp_op(), num_e(2), num_e(1)).prop_map(|(op, l, r)| E::Cmp(op, b(l), b(r))),
        3 => (cmp_op(), str_e(2), str_e(1)).prop_map(|(op, l, r)| E::Cmp(op, b(l), b(r))),
        2 => (cmp_op(), ms_e(), prop_oneof![ms_e(), date_lit()]).prop_map(|(op, l, r)| E::Cmp(op, b(l), b(r))),
        1 => (cmp_op(), ms_e(), date_lit()).prop_map(|(op, m, d)| E::Cmp(op, b(E::Func("date", vec![m])), b(d))),
        3 => enum_pred(),
        2 => null_pred(),
        2 => (int_e(1), prop::collection::vec(prop_oneof![4 => (-5i64..15).prop_map(|i| E::Lit(V::Int(i))), 1 => Just(E::Null)], 0..4))
            .prop_map(|(x, l)| E::In(b(x), l)),
        1 => (prop_of(STR_PROPS), prop::collection::vec(prop_oneof![4 => text().prop_map(|s| E::Lit(V::Str(s))), 1 => Just(E::Null)], 0..4))
            .prop_map(|(x, l)| E::In(b(x), l)),
        3 => (prop::sample::select(&["contains", "startswith", "endswith"][..]), str_e(1), needle()).prop_map(|(f, s, t)| E::Func(f, vec![s, t])),
        1 => Just(E::Prop(BOOL_PROP)),
        1 => (prop::sample::select(&["eq", "ne"][..]), any::<bool>()).prop_map(|(op, v)| E::Cmp(op, b(E::Prop(BOOL_PROP)), b(E::Lit(V::Bool(v))))),
    ]
    .boxed()
}

fn pred(depth: u32) -> BoxedStrategy<E> {
    if depth == 0 {
        return leaf_pred();
    }
    let d = depth - 1;
    prop_oneof![
        3 => leaf_pred(),
        2 => (pred(d), pred(d)).prop_map(|(l, r)| E::And(b(l), b(r))),
        2 => (pred(d), pred(d)).prop_map(|(l, r)| E::Or(b(l), b(r))),
        2 => pred(d).prop_map(|x| E::Not(b(x))),
        1 => (prop::sample::select(&["eq", "ne"][..]), pred(d), any::<bool>()).prop_map(|(op, p, v)| E::Cmp(op, b(p), b(E::Lit(V::Bool(v))))),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// The property

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<RowV>,
    foreign: Vec<RowV>,
    filter: Option<E>,
    orderby: Vec<(usize, bool)>,
    top: Option<u64>,
    skip: Option<u64>,
    page_size: u64,
    plus_for_space: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(row(), 0..25),
        prop::collection::vec(row(), 0..4),
        prop::option::weighted(0.9, pred(3)),
        prop::collection::vec((0..IOC.properties.len(), any::<bool>()), 0..4),
        prop::option::weighted(0.3, 0u64..30),
        prop::option::weighted(0.3, 0u64..10),
        1u64..8,
        any::<bool>(),
    )
        .prop_map(|(rows, foreign, filter, orderby, top, skip, page_size, plus_for_space)| Case {
            rows,
            foreign,
            filter,
            orderby,
            top,
            skip,
            page_size,
            plus_for_space,
        })
}

fn sort_cmp(a: &V, b: &V) -> Ordering {
    match (a, b) {
        (V::Null, V::Null) => Ordering::Equal,
        (V::Null, _) => Ordering::Less,
        (_, V::Null) => Ordering::Greater,
        _ => compare(a, b).unwrap_or(Ordering::Equal),
    }
}

fn query_string(c: &Case) -> String {
    let enc = |s: &str| {
        let e = encode(s);
        if c.plus_for_space {
            e.replace("%20", "+")
        } else {
            e
        }
    };
    let mut parts = Vec::new();
    if let Some(f) = &c.filter {
        parts.push(format!("$filter={}", enc(&render(f, 0))));
    }
    if !c.orderby.is_empty() {
        let keys: Vec<String> = c
            .orderby
            .iter()
            .map(|(p, desc)| format!("{}{}", IOC.properties[*p].name, if *desc { " desc" } else { " asc" }))
            .collect();
        parts.push(format!("$orderby={}", enc(&keys.join(","))));
    }
    if let Some(t) = c.top {
        parts.push(format!("$top={t}"));
    }
    if let Some(s) = c.skip {
        parts.push(format!("$skip={s}"));
    }
    parts.push("$count=true".into());
    parts.join("&")
}

async fn run_case(conn: &mut SqliteConnection, c: Case) -> Result<(), TestCaseError> {
    sqlx::query("DELETE FROM indicators").execute(&mut *conn).await.unwrap();
    let mut rows = c.rows.clone();
    for (i, r) in rows.iter_mut().enumerate() {
        r[0] = V::Int(i as i64 + 1);
        insert(conn, &IOC, TENANT, &cells(r)).await;
    }
    // Another tenant's rows, with the same ids, must never show up.
    for (i, r) in c.foreign.iter().enumerate() {
        let mut r = r.clone();
        r[0] = V::Int(i as i64 + 1);
        insert(conn, &IOC, OTHER_TENANT, &cells(&r)).await;
    }

    let qs = query_string(&c);
    let filter_text = c.filter.as_ref().map(|f| render(f, 0)).unwrap_or_default();

    let mut expected: Vec<&RowV> = rows.iter().filter(|r| c.filter.as_ref().is_none_or(|f| holds(f, r))).collect();
    let matching = expected.len();
    let tie_desc = c.orderby.last().is_some_and(|(_, d)| *d);
    expected.sort_by(|a, b| {
        for (p, desc) in &c.orderby {
            let o = sort_cmp(&a[*p], &b[*p]);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = by_id(a, b);
        if tie_desc {
            o.reverse()
        } else {
            o
        }
    });
    let expected: Vec<i64> = expected
        .into_iter()
        .skip(c.skip.unwrap_or(0) as usize)
        .take(c.top.unwrap_or(u64::MAX) as usize)
        .map(|r| match r[0] {
            V::Int(i) => i,
            _ => unreachable!(),
        })
        .collect();

    let (got, _) = read_all_pages(conn, &IOC, &qs, c.page_size)
        .await
        .map_err(|e| TestCaseError::fail(format!("{filter_text}\n{e}")))?;
    prop_assert_eq!(&got, &expected, "filter: {}\nquery: {}", filter_text, qs);

    let q = parse_collection_query(&IOC, Some(&qs), &QueryLimits::default()).unwrap();
    let count = fetch(conn, &q.count_statement(Dialect::Sqlite, TENANT)).await.unwrap();
    prop_assert_eq!(count[0].get::<i64, _>(0), matching as i64, "count of {}", filter_text);
    Ok(())
}

fn by_id(a: &RowV, b: &RowV) -> Ordering {
    sort_cmp(&a[0], &b[0])
}

#[test]
fn sqlite_results_equal_the_reference_evaluator() {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let rt = runtime();
    let conn = RefCell::new(rt.block_on(database()));
    let result = runner.run(&case(), |c| rt.block_on(run_case(&mut conn.borrow_mut(), c)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The renderer above relies on the engine's precedence; pin a few renderings so a change in
/// the renderer cannot silently stop testing precedence.
#[test]
fn renderer_uses_minimal_parentheses() {
    let e = E::Or(
        b(E::Cmp("eq", b(E::Prop(7)), b(E::Lit(V::Int(1))))),
        b(E::And(
            b(E::Not(b(E::Prop(4)))),
            b(E::Cmp(
                "gt",
                b(E::Arith("add", b(E::Prop(7)), b(E::Arith("mul", b(E::Prop(0)), b(E::Lit(V::Int(2))))))),
                b(E::Lit(V::Int(3))),
            )),
        )),
    );
    assert_eq!(render(&e, 0), "HitCount eq 1 or not Enabled and HitCount add Id mul 2 gt 3");
    let e = E::Not(b(E::Or(b(E::Prop(4)), b(E::Prop(4)))));
    assert_eq!(render(&e, 0), "not (Enabled or Enabled)");
    let e = E::Arith("sub", b(E::Prop(7)), b(E::Arith("sub", b(E::Prop(0)), b(E::Prop(6)))));
    assert_eq!(render(&e, 0), "HitCount sub (Id sub AlertDefinitionId)");
}

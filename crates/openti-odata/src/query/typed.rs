//! The checked, typed query model: every name is a reference into the schema of
//! `openti-model`, every literal has the type of what it is compared with, and every
//! construct here can be translated to SQL without further validation.

use openti_model::schema::{EdmType, EntityType, EnumType, Navigation, Property};

use super::ast::LambdaKind;

/// The type of a value expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Boolean,
    Int64,
    /// OData `Edm.Decimal`/`Edm.Double` literals and results; carried as `f64`.
    Decimal,
    String,
    DateTimeOffset,
    Date,
    Guid,
    Enum(&'static EnumType),
}

impl Ty {
    /// The type of a property, or None for the JSON-stored types that cannot be queried.
    pub fn of(edm: EdmType) -> Option<Ty> {
        Some(match edm {
            EdmType::Int64 | EdmType::Int32 => Ty::Int64,
            EdmType::String => Ty::String,
            EdmType::Boolean => Ty::Boolean,
            EdmType::DateTimeOffset => Ty::DateTimeOffset,
            EdmType::Guid => Ty::Guid,
            EdmType::Enum(e) => Ty::Enum(e),
            EdmType::Int64Collection | EdmType::Json(_) => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int64 | Ty::Decimal)
    }

    /// The name used in error messages (`$metadata` spelling).
    pub fn name(self) -> String {
        match self {
            Ty::Boolean => "Edm.Boolean".into(),
            Ty::Int64 => "Edm.Int64".into(),
            Ty::Decimal => "Edm.Decimal".into(),
            Ty::String => "Edm.String".into(),
            Ty::DateTimeOffset => "Edm.DateTimeOffset".into(),
            Ty::Date => "Edm.Date".into(),
            Ty::Guid => "Edm.Guid".into(),
            Ty::Enum(e) => format!("{}.{}", openti_model::schema::NAMESPACE, e.name),
        }
    }
}

/// A typed constant, already in its storage representation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Boolean(bool),
    Int64(i64),
    Decimal(f64),
    String(String),
    /// Unix milliseconds, UTC (the storage convention of DateTimeOffset columns).
    DateTimeOffset(i64),
    /// Days since 1970-01-01.
    Date(i64),
    /// Lower-case hyphenated.
    Guid(String),
    /// A member, by its `$metadata` spelling (the stored text).
    Enum {
        ty: &'static EnumType,
        member: &'static str,
    },
}

impl Value {
    pub fn ty(&self) -> Ty {
        match self {
            Value::Boolean(_) => Ty::Boolean,
            Value::Int64(_) => Ty::Int64,
            Value::Decimal(_) => Ty::Decimal,
            Value::String(_) => Ty::String,
            Value::DateTimeOffset(_) => Ty::DateTimeOffset,
            Value::Date(_) => Ty::Date,
            Value::Guid(_) => Ty::Guid,
            Value::Enum { ty, .. } => Ty::Enum(ty),
        }
    }

    /// The member's position in its enum type (for ordering comparisons).
    pub fn enum_ordinal(&self) -> Option<usize> {
        match self {
            Value::Enum { ty, member } => ty.members.iter().position(|m| m == member),
            _ => None,
        }
    }
}

/// Where a property path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The entity being queried (`$it`).
    Root,
    /// The range variable of the lambda at this nesting index (0 = outermost).
    Var(usize),
}

/// A property reached from `source` through zero or more single-valued navigations.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyRef {
    pub source: Source,
    pub navigations: Vec<&'static Navigation>,
    /// The entity type that owns `property`.
    pub entity: &'static EntityType,
    pub property: &'static Property,
}

impl PropertyRef {
    pub fn ty(&self) -> Ty {
        // The checker only builds references to queryable properties.
        Ty::of(self.property.ty).unwrap_or(Ty::String)
    }
    /// Whether the value can be null: a nullable column, or a navigation that may find no row.
    pub fn nullable(&self) -> bool {
        self.property.nullable || !self.navigations.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    /// Integer division for two Int64 operands, as in OData.
    Div,
    /// Always decimal division (OData 4.01 `divby`).
    DivBy,
    /// Int64 operands only.
    Mod,
}

/// The built-in functions OpenTI implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Contains,
    StartsWith,
    EndsWith,
    ToLower,
    ToUpper,
    Trim,
    Length,
    IndexOf,
    Substring,
    Concat,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Date,
}

impl Function {
    pub fn lookup(name: &str) -> Option<Function> {
        Some(match name.to_ascii_lowercase().as_str() {
            "contains" => Function::Contains,
            "startswith" => Function::StartsWith,
            "endswith" => Function::EndsWith,
            "tolower" => Function::ToLower,
            "toupper" => Function::ToUpper,
            "trim" => Function::Trim,
            "length" => Function::Length,
            "indexof" => Function::IndexOf,
            "substring" => Function::Substring,
            "concat" => Function::Concat,
            "year" => Function::Year,
            "month" => Function::Month,
            "day" => Function::Day,
            "hour" => Function::Hour,
            "minute" => Function::Minute,
            "second" => Function::Second,
            "date" => Function::Date,
            _ => return None,
        })
    }

    pub fn result(self) -> Ty {
        match self {
            Function::Contains | Function::StartsWith | Function::EndsWith => Ty::Boolean,
            Function::ToLower | Function::ToUpper | Function::Trim | Function::Substring | Function::Concat => {
                Ty::String
            }
            Function::Date => Ty::Date,
            _ => Ty::Int64,
        }
    }
}

/// A checked filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Value(Value),
    Property(PropertyRef),
    Compare {
        op: CompareOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `expr in (values…)`; a `null` in the list is kept apart as `includes_null`.
    In {
        expr: Box<Expr>,
        values: Vec<Value>,
        includes_null: bool,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Arith {
        op: ArithOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
    Call {
        function: Function,
        args: Vec<Expr>,
    },
    Lambda(Box<Lambda>),
}

/// `path/any(var: body)` or `path/all(var: body)` over a collection navigation.
#[derive(Debug, Clone, PartialEq)]
pub struct Lambda {
    pub kind: LambdaKind,
    pub source: Source,
    /// Single-valued navigations walked before the collection.
    pub navigations: Vec<&'static Navigation>,
    pub collection: &'static Navigation,
    pub target: &'static EntityType,
    /// The variable's nesting index, referenced by [`Source::Var`] in the body.
    pub var: usize,
    /// None for `any()`: "the collection is not empty".
    pub body: Option<Expr>,
}

impl Expr {
    /// The type of the expression; None for the `null` literal.
    pub fn ty(&self) -> Option<Ty> {
        match self {
            Expr::Null => None,
            Expr::Value(v) => Some(v.ty()),
            Expr::Property(p) => Some(p.ty()),
            Expr::Compare { .. } | Expr::In { .. } | Expr::And(_) | Expr::Or(_) | Expr::Not(_) | Expr::Lambda(_) => {
                Some(Ty::Boolean)
            }
            Expr::Arith { op, lhs, rhs } => {
                let ints = lhs.ty() == Some(Ty::Int64) && rhs.ty() == Some(Ty::Int64);
                Some(if ints && *op != ArithOp::DivBy { Ty::Int64 } else { Ty::Decimal })
            }
            Expr::Neg(x) => x.ty(),
            Expr::Call { function, .. } => Some(function.result()),
        }
    }
}

/// One `$orderby` key: a property of the queried entity. Ties are always broken by `Id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderKey {
    pub property: &'static Property,
    pub descending: bool,
}

/// One checked `$expand` item.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub navigation: &'static Navigation,
    pub target: &'static EntityType,
    pub filter: Option<Expr>,
    pub orderby: Vec<OrderKey>,
    /// None = all properties.
    pub select: Option<Vec<&'static Property>>,
    pub expand: Vec<Expand>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    /// `$count=true` inside the expand: the store adds `Nav@odata.count` per parent
    /// (see [`CheckedQuery::expand_count_statement`](super::CheckedQuery::expand_count_statement)).
    pub count: bool,
}

impl Expand {
    /// The property of the *parent* entity whose value keys the expanded rows
    /// (the parent's `local_column`): `Id` for AlertDefinition → IndicatorsOfCompromise,
    /// `AlertDefinitionId` for IndicatorOfCompromise → AlertDefinition.
    pub fn parent_key_property(&self, parent: &'static EntityType) -> Option<&'static Property> {
        parent.properties.iter().find(|p| p.column == self.navigation.local_column)
    }

    /// The property of the expanded entity that holds the parent key (`remote_column`).
    pub fn child_key_property(&self) -> Option<&'static Property> {
        self.target.properties.iter().find(|p| p.column == self.navigation.remote_column)
    }
}

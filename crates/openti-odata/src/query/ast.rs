//! The untyped syntax tree: what the parser understood, before any name or type is checked.
//! Names are plain strings here; only [`check`](super::check) turns them into schema
//! references. Every node keeps the byte offset of its first token in its option's text.

use chrono::{DateTime, FixedOffset, NaiveDate};

/// A filter expression as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: usize,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Literal(RawLiteral),
    /// `A`, `A/B/C`; segments with their offsets.
    Path(Vec<Segment>),
    /// `Path/any(v: body)`, `Path/all(v: body)`, `Path/any()`.
    Lambda {
        path: Vec<Segment>,
        kind: LambdaKind,
        var: Option<Segment>,
        body: Option<Box<Node>>,
    },
    Call {
        name: String,
        args: Vec<Node>,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary {
        op: BinaryOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    /// n-ary so that long chains (`Id eq 1 or Id eq 2 or …`) do not become deep trees.
    And(Vec<Node>),
    Or(Vec<Node>),
    In {
        lhs: Box<Node>,
        list: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: String,
    pub pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaKind {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Has,
    Add,
    Sub,
    Mul,
    Div,
    DivBy,
    Mod,
}

impl BinaryOp {
    pub fn keyword(self) -> &'static str {
        match self {
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Has => "has",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::DivBy => "divby",
            BinaryOp::Mod => "mod",
        }
    }
}

/// A literal as written; typing (e.g. `'High'` as an enum member) happens in the checker.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLiteral {
    Null,
    Bool(bool),
    Int(i64),
    Decimal(f64),
    String(String),
    DateTimeOffset(DateTime<FixedOffset>),
    Date(NaiveDate),
    Guid(String),
    /// `Namespace.Type'text'`.
    Typed {
        type_name: String,
        text: String,
    },
}

/// One `$orderby` item.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOrderKey {
    pub path: Vec<Segment>,
    pub descending: bool,
}

/// One `$select` item.
#[derive(Debug, Clone, PartialEq)]
pub enum RawSelectItem {
    Star(usize),
    Path(Vec<Segment>),
}

/// One `$expand` item with its nested options.
#[derive(Debug, Clone, PartialEq)]
pub struct RawExpand {
    pub path: Vec<Segment>,
    pub options: RawOptions,
}

/// The options of one query level (the request, or one `$expand` item).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawOptions {
    pub filter: Option<Node>,
    pub orderby: Vec<RawOrderKey>,
    pub select: Option<Vec<RawSelectItem>>,
    pub expand: Vec<RawExpand>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    pub count: Option<bool>,
}

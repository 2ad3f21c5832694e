//! Recursive-descent parser for `$filter`, `$orderby`, `$select` and `$expand`, producing the
//! untyped tree of [`ast`](super::ast).
//!
//! Operator precedence follows OData 4.01 (Part 2, §5.1.1.16), tightest first:
//! primary (`/`, calls, `has`, `in`) > unary (`not`, `-`) > `mul div divby mod` >
//! `add sub` > `gt ge lt le` > `eq ne` > `and` > `or`. All binary operators are
//! left-associative; `and`/`or` chains are collected into one n-ary node.
//!
//! Recursion depth and node count are limited *while* parsing, so a hostile
//! `((((…` or `not not not …` is rejected before it can exhaust the stack.

use super::ast::*;
use super::error::{Fail, Result};
use super::lexer::{string_literal, tokenize, Tok, Token};
use super::{QueryErrorKind, QueryLimits};

struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    limits: &'a QueryLimits,
    depth: usize,
    nodes: usize,
}

/// Parses a `$filter` (or lambda body, or nested `$filter`) expression.
pub fn parse_filter(text: &str, base: usize, limits: &QueryLimits) -> Result<Node> {
    let toks = tokenize(text, base)?;
    let mut p = Parser { toks, i: 0, limits, depth: 0, nodes: 0 };
    if p.peek().tok == Tok::Eof {
        return Err(Fail::syntax(base, "expected an expression"));
    }
    let node = p.expr()?;
    p.expect_eof("an operator")?;
    check_tree_depth(&node, limits.max_filter_depth)?;
    Ok(node)
}

/// The parser's recursion guard bounds nesting it recurses on (parentheses, calls, unary
/// operators), but a left-associative chain (`a add b add c …`) is parsed by a loop and
/// still yields a deep tree, which the checker and SQL generation then walk recursively. So
/// the tree itself is measured too — iteratively, as it may be deep. `and`/`or` chains are
/// one n-ary node and stay shallow however long they are.
fn check_tree_depth(root: &Node, max: usize) -> Result<()> {
    let mut stack = vec![(root, 1usize)];
    while let Some((n, d)) = stack.pop() {
        if d > max {
            return Err(Fail::at(
                QueryErrorKind::LimitExceeded,
                n.pos,
                format!("expression is nested deeper than max_filter_depth ({max})"),
            ));
        }
        match &n.kind {
            NodeKind::Literal(_) | NodeKind::Path(_) => {}
            NodeKind::Lambda { body, .. } => stack.extend(body.as_deref().map(|b| (b, d + 1))),
            NodeKind::Call { args, .. } => stack.extend(args.iter().map(|a| (a, d + 1))),
            NodeKind::Not(x) | NodeKind::Neg(x) => stack.push((x, d + 1)),
            NodeKind::Binary { lhs, rhs, .. } => stack.extend([(&**lhs, d + 1), (&**rhs, d + 1)]),
            NodeKind::And(items) | NodeKind::Or(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            NodeKind::In { lhs, list } => {
                stack.push((lhs, d + 1));
                stack.extend(list.iter().map(|i| (i, d + 1)));
            }
        }
    }
    Ok(())
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `i` never passes it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }
    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }
    /// The word at the cursor, lower-cased, if it is an identifier.
    fn word(&self) -> Option<String> {
        match &self.peek().tok {
            Tok::Ident(s) => Some(s.to_ascii_lowercase()),
            _ => None,
        }
    }
    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            let t = self.peek();
            Err(Fail::syntax(t.pos, format!("expected {what}, found {}", t.tok.describe())))
        }
    }
    fn expect_eof(&self, what: &str) -> Result<()> {
        let t = self.peek();
        if t.tok == Tok::Eof {
            Ok(())
        } else {
            Err(Fail::syntax(t.pos, format!("expected {what}, found {}", t.tok.describe())))
        }
    }
    fn node(&mut self, pos: usize, kind: NodeKind) -> Result<Node> {
        self.nodes += 1;
        if self.nodes > self.limits.max_filter_nodes {
            return Err(Fail::at(
                QueryErrorKind::LimitExceeded,
                pos,
                format!("expression has more than max_filter_nodes ({}) nodes", self.limits.max_filter_nodes),
            ));
        }
        Ok(Node { pos, kind })
    }
    fn enter(&mut self, pos: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > self.limits.max_filter_depth {
            return Err(Fail::at(
                QueryErrorKind::LimitExceeded,
                pos,
                format!("expression is nested deeper than max_filter_depth ({})", self.limits.max_filter_depth),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node> {
        let pos = self.peek().pos;
        self.enter(pos)?;
        let r = self.or();
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Node> {
        let first = self.and()?;
        self.chain(first, "or", Self::and, NodeKind::Or)
    }

    fn and(&mut self) -> Result<Node> {
        let first = self.equality()?;
        self.chain(first, "and", Self::equality, NodeKind::And)
    }

    fn chain(
        &mut self,
        first: Node,
        word: &str,
        next: fn(&mut Self) -> Result<Node>,
        make: fn(Vec<Node>) -> NodeKind,
    ) -> Result<Node> {
        if self.word().as_deref() != Some(word) {
            return Ok(first);
        }
        let pos = first.pos;
        let mut items = vec![first];
        while self.word().as_deref() == Some(word) {
            let op = self.bump();
            items.push(self.operand(&op, next)?);
        }
        self.node(pos, make(items))
    }

    /// Parses the right operand of `op`, turning a missing operand into a precise message.
    fn operand(&mut self, op: &Token, next: fn(&mut Self) -> Result<Node>) -> Result<Node> {
        if matches!(self.peek().tok, Tok::Eof | Tok::RParen | Tok::Comma) {
            let t = self.peek();
            return Err(Fail::syntax(t.pos, format!("expected a value after {}", op.tok.describe())));
        }
        next(self)
    }

    fn binary_level(&mut self, ops: &[(&str, BinaryOp)], next: fn(&mut Self) -> Result<Node>) -> Result<Node> {
        let mut lhs = next(self)?;
        loop {
            let Some(w) = self.word() else { return Ok(lhs) };
            let Some((_, op)) = ops.iter().find(|(k, _)| *k == w) else { return Ok(lhs) };
            let op_tok = self.bump();
            let rhs = self.operand(&op_tok, next)?;
            let pos = lhs.pos;
            lhs = self.node(pos, NodeKind::Binary { op: *op, lhs: Box::new(lhs), rhs: Box::new(rhs) })?;
        }
    }

    fn equality(&mut self) -> Result<Node> {
        self.binary_level(&[("eq", BinaryOp::Eq), ("ne", BinaryOp::Ne)], Self::relational)
    }
    fn relational(&mut self) -> Result<Node> {
        self.binary_level(
            &[("gt", BinaryOp::Gt), ("ge", BinaryOp::Ge), ("lt", BinaryOp::Lt), ("le", BinaryOp::Le)],
            Self::additive,
        )
    }
    fn additive(&mut self) -> Result<Node> {
        self.binary_level(&[("add", BinaryOp::Add), ("sub", BinaryOp::Sub)], Self::multiplicative)
    }
    fn multiplicative(&mut self) -> Result<Node> {
        self.binary_level(
            &[("mul", BinaryOp::Mul), ("div", BinaryOp::Div), ("divby", BinaryOp::DivBy), ("mod", BinaryOp::Mod)],
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<Node> {
        let t = self.peek().clone();
        let is_not = self.word().as_deref() == Some("not");
        if is_not || t.tok == Tok::Minus {
            self.bump();
            self.enter(t.pos)?;
            let inner = self.operand(&t, Self::unary);
            self.depth -= 1;
            let inner = Box::new(inner?);
            let kind = if is_not { NodeKind::Not(inner) } else { NodeKind::Neg(inner) };
            return self.node(t.pos, kind);
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Node> {
        let mut lhs = self.primary()?;
        loop {
            match self.word().as_deref() {
                Some("has") => {
                    let op = self.bump();
                    let rhs = self.operand(&op, Self::primary)?;
                    let pos = lhs.pos;
                    lhs =
                        self.node(pos, NodeKind::Binary { op: BinaryOp::Has, lhs: Box::new(lhs), rhs: Box::new(rhs) })?;
                }
                Some("in") => {
                    let op = self.bump();
                    if self.peek().tok != Tok::LParen {
                        let t = self.peek();
                        return Err(Fail::syntax(
                            t.pos,
                            format!("expected '(' after {}, found {}", op.tok.describe(), t.tok.describe()),
                        ));
                    }
                    let list = self.list(op.pos)?;
                    if list.len() > self.limits.max_in_list {
                        return Err(Fail::at(
                            QueryErrorKind::LimitExceeded,
                            op.pos,
                            format!("'in' list has more than max_in_list ({}) items", self.limits.max_in_list),
                        ));
                    }
                    let pos = lhs.pos;
                    lhs = self.node(pos, NodeKind::In { lhs: Box::new(lhs), list })?;
                }
                _ => return Ok(lhs),
            }
        }
    }

    /// `( expr, expr, … )`, possibly empty.
    fn list(&mut self, pos: usize) -> Result<Vec<Node>> {
        self.expect(Tok::LParen, "'('")?;
        let mut items = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            // Bounded here too so a huge list is refused before it is all allocated.
            if items.len() > self.limits.max_in_list.max(self.limits.max_filter_nodes) {
                return Err(Fail::at(QueryErrorKind::LimitExceeded, pos, "list is too long"));
            }
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(items);
                }
                _ => {
                    let t = self.peek();
                    return Err(Fail::syntax(t.pos, format!("expected ',' or ')', found {}", t.tok.describe())));
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Node> {
        let t = self.peek().clone();
        let lit = |l| NodeKind::Literal(l);
        let kind = match t.tok {
            Tok::Str(s) => lit(RawLiteral::String(s)),
            Tok::Int(v) => lit(RawLiteral::Int(v)),
            Tok::Decimal(v) => lit(RawLiteral::Decimal(v)),
            Tok::DateTimeOffset(v) => lit(RawLiteral::DateTimeOffset(v)),
            Tok::Date(v) => lit(RawLiteral::Date(v)),
            Tok::Guid(v) => lit(RawLiteral::Guid(v)),
            Tok::Typed { type_name, text } => lit(RawLiteral::Typed { type_name, text }),
            Tok::LParen => {
                self.bump();
                let inner = self.expr()?;
                self.expect(Tok::RParen, "')' or an operator")?;
                return Ok(inner);
            }
            Tok::Ident(name) => return self.name(name, t.pos),
            ref other => {
                let after = match self.i.checked_sub(1).and_then(|j| self.toks.get(j)) {
                    Some(prev) => format!(" after {}", prev.tok.describe()),
                    None => String::new(),
                };
                return Err(Fail::syntax(t.pos, format!("expected a value{after}, found {}", other.describe())));
            }
        };
        self.bump();
        self.node(t.pos, kind)
    }

    /// A name at primary position: keyword literal, function call, path or lambda.
    fn name(&mut self, name: String, pos: usize) -> Result<Node> {
        self.bump();
        match name.to_ascii_lowercase().as_str() {
            "true" => return self.node(pos, NodeKind::Literal(RawLiteral::Bool(true))),
            "false" => return self.node(pos, NodeKind::Literal(RawLiteral::Bool(false))),
            "null" => return self.node(pos, NodeKind::Literal(RawLiteral::Null)),
            _ => {}
        }
        if self.peek().tok == Tok::LParen {
            let args = self.list(pos)?;
            return self.node(pos, NodeKind::Call { name, args });
        }
        let mut path = vec![Segment { name, pos }];
        while self.peek().tok == Tok::Slash {
            self.bump();
            let t = self.bump();
            let Tok::Ident(seg) = t.tok else {
                return Err(Fail::syntax(
                    t.pos,
                    format!("expected a property name after '/', found {}", t.tok.describe()),
                ));
            };
            let lower = seg.to_ascii_lowercase();
            if (lower == "any" || lower == "all") && self.peek().tok == Tok::LParen {
                let kind = if lower == "any" { LambdaKind::Any } else { LambdaKind::All };
                return self.lambda(path, kind, t.pos);
            }
            path.push(Segment { name: seg, pos: t.pos });
        }
        self.node(pos, NodeKind::Path(path))
    }

    fn lambda(&mut self, path: Vec<Segment>, kind: LambdaKind, pos: usize) -> Result<Node> {
        self.expect(Tok::LParen, "'('")?;
        if self.peek().tok == Tok::RParen {
            self.bump();
            if kind == LambdaKind::All {
                return Err(Fail::syntax(pos, "all() needs a lambda expression, e.g. all(x: x/Enabled)"));
            }
            let start = path[0].pos;
            return self.node(start, NodeKind::Lambda { path, kind, var: None, body: None });
        }
        let v = self.bump();
        let Tok::Ident(var) = v.tok else {
            return Err(Fail::syntax(v.pos, format!("expected a lambda variable name, found {}", v.tok.describe())));
        };
        self.expect(Tok::Colon, "':' after the lambda variable")?;
        let body = self.expr()?;
        self.expect(Tok::RParen, "')' or an operator")?;
        let start = path[0].pos;
        self.node(
            start,
            NodeKind::Lambda { path, kind, var: Some(Segment { name: var, pos: v.pos }), body: Some(Box::new(body)) },
        )
    }
}

/// Parses `$orderby`: comma-separated property paths, each optionally `asc` or `desc`.
pub fn parse_orderby(text: &str, base: usize) -> Result<Vec<RawOrderKey>> {
    let toks = tokenize(text, base)?;
    let mut i = 0;
    let mut keys = Vec::new();
    loop {
        let path = path_items(&toks, &mut i, "a property name")?;
        let mut descending = false;
        if let Tok::Ident(w) = &toks[i].tok {
            match w.to_ascii_lowercase().as_str() {
                "asc" => i += 1,
                "desc" => {
                    descending = true;
                    i += 1
                }
                _ => return Err(Fail::syntax(toks[i].pos, format!("expected 'asc', 'desc' or ',', found '{w}'"))),
            }
        }
        keys.push(RawOrderKey { path, descending });
        match &toks[i].tok {
            Tok::Comma => i += 1,
            Tok::Eof => return Ok(keys),
            Tok::LParen => {
                return Err(Fail::at(
                    QueryErrorKind::Unsupported,
                    toks[i].pos,
                    "only property names can be ordered by, not expressions",
                ))
            }
            other => {
                return Err(Fail::syntax(toks[i].pos, format!("expected ',' or the end, found {}", other.describe())))
            }
        }
    }
}

/// `Name/Name/…` at `toks[*i]`.
fn path_items(toks: &[Token], i: &mut usize, what: &str) -> Result<Vec<Segment>> {
    let mut path = Vec::new();
    loop {
        let t = &toks[*i];
        let Tok::Ident(name) = &t.tok else {
            return Err(Fail::syntax(t.pos, format!("expected {what}, found {}", t.tok.describe())));
        };
        path.push(Segment { name: name.clone(), pos: t.pos });
        *i += 1;
        if toks[*i].tok != Tok::Slash {
            return Ok(path);
        }
        *i += 1;
    }
}

/// Parses `$select`: `*` or comma-separated property names.
pub fn parse_select(text: &str, base: usize) -> Result<Vec<RawSelectItem>> {
    let toks = tokenize(text, base)?;
    let mut i = 0;
    let mut items = Vec::new();
    loop {
        if toks[i].tok == Tok::Star {
            items.push(RawSelectItem::Star(toks[i].pos));
            i += 1;
        } else {
            items.push(RawSelectItem::Path(path_items(&toks, &mut i, "a property name or '*'")?));
        }
        match &toks[i].tok {
            Tok::Comma => i += 1,
            Tok::Eof => return Ok(items),
            other => {
                return Err(Fail::syntax(toks[i].pos, format!("expected ',' or the end, found {}", other.describe())))
            }
        }
    }
}

/// Parses a non-negative integer option value (`$top`, `$skip`).
pub fn parse_uint(text: &str, base: usize) -> Result<u64> {
    let t = text.trim();
    let lead = text.len() - text.trim_start().len();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fail::syntax(base + lead, format!("expected a non-negative integer, found '{t}'")));
    }
    t.parse::<u64>().map_err(|_| Fail::syntax(base + lead, format!("'{t}' is too large")))
}

pub fn parse_bool(text: &str, base: usize) -> Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(Fail::syntax(base, format!("expected true or false, found '{other}'"))),
    }
}

/// Parses `$expand` at nesting `depth` (1 for the request's own `$expand`).
pub fn parse_expand(text: &str, base: usize, limits: &QueryLimits, depth: usize) -> Result<Vec<RawExpand>> {
    if depth > limits.max_expand_depth {
        return Err(Fail::at(
            QueryErrorKind::LimitExceeded,
            base,
            format!("$expand is nested deeper than max_expand_depth ({})", limits.max_expand_depth),
        ));
    }
    let b = text.as_bytes();
    let mut i = 0;
    let mut items = Vec::new();
    let skip_ws = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        // The path: names separated by '/', or '*'.
        let mut path = Vec::new();
        loop {
            let start = i;
            while b.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.' | b'*')) {
                i += 1;
            }
            if start == i {
                return Err(Fail::syntax(base + i, "expected a navigation property name"));
            }
            path.push(Segment { name: text[start..i].to_string(), pos: base + start });
            if b.get(i) != Some(&b'/') {
                break;
            }
            i += 1;
        }
        skip_ws(&mut i);
        let mut options = RawOptions::default();
        if b.get(i) == Some(&b'(') {
            let close = matching_paren(text, i, base)?;
            let mut seen: Vec<String> = Vec::new();
            for (start, end) in split_top_level(text, i + 1, close, b';', base)? {
                let part = &text[start..end];
                if part.trim().is_empty() {
                    continue;
                }
                let Some(eq) = part.find('=') else {
                    return Err(Fail::syntax(
                        base + start,
                        format!("expected name=value in the options of '{}'", path_text(&path)),
                    ));
                };
                let name = part[..eq].trim().to_ascii_lowercase();
                let name_pos = base + start + (part.len() - part.trim_start().len());
                if seen.contains(&name) {
                    return Err(Fail::syntax(name_pos, format!("option {name} is given more than once")));
                }
                seen.push(name.clone());
                apply_level_option(
                    &mut options,
                    &name,
                    &part[eq + 1..],
                    base + start + eq + 1,
                    name_pos,
                    limits,
                    depth + 1,
                )?;
            }
            i = close + 1;
        }
        items.push(RawExpand { path, options });
        skip_ws(&mut i);
        match b.get(i) {
            None => return Ok(items),
            Some(b',') => i += 1,
            Some(_) => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(Fail::syntax(base + i, format!("expected ',' or '(' after an $expand item, found '{ch}'")));
            }
        }
    }
}

fn path_text(path: &[Segment]) -> String {
    path.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("/")
}

/// Byte offset of the `)` matching the `(` at `open`, skipping string literals.
fn matching_paren(text: &str, open: usize, base: usize) -> Result<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                i = string_literal(text, i, base)?.1;
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(Fail::syntax(base + open, "unbalanced '(': no matching ')'"))
}

/// Ranges of `text[from..to]` separated by `sep` outside parentheses and string literals.
fn split_top_level(text: &str, from: usize, to: usize, sep: u8, base: usize) -> Result<Vec<(usize, usize)>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = from;
    let mut i = from;
    while i < to {
        match b[i] {
            b'\'' => {
                i = string_literal(text, i, base)?.1;
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                out.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push((start, to));
    Ok(out)
}

/// Applies one option of a query level. `name` is lower-cased; `value_base` is the offset
/// of `value` and `name_pos` that of the name (used when the option itself is refused).
/// `expand_depth` is the depth a nested `$expand` value would have.
pub fn apply_level_option(
    opts: &mut RawOptions,
    name: &str,
    value: &str,
    value_base: usize,
    name_pos: usize,
    limits: &QueryLimits,
    expand_depth: usize,
) -> Result<()> {
    match name {
        "$filter" => opts.filter = Some(parse_filter(value, value_base, limits)?),
        "$orderby" => opts.orderby = parse_orderby(value, value_base)?,
        "$select" => opts.select = Some(parse_select(value, value_base)?),
        "$expand" => opts.expand = parse_expand(value, value_base, limits, expand_depth)?,
        "$top" => opts.top = Some(parse_uint(value, value_base)?),
        "$skip" => opts.skip = Some(parse_uint(value, value_base)?),
        "$count" => opts.count = Some(parse_bool(value, value_base)?),
        _ => return Err(unsupported_option(name, name_pos)),
    }
    Ok(())
}

/// The error for a `$…` option OpenTI does not implement, with a hint where one helps.
pub fn unsupported_option(name: &str, pos: usize) -> Fail {
    let hint = match name {
        "$search" => ": use $filter with contains()",
        "$levels" => ": nest $expand instead",
        "$apply" | "$compute" => ": aggregation and computed properties are not implemented",
        _ => "",
    };
    Fail::at(QueryErrorKind::Unsupported, pos, format!("the query option {name} is not supported{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueryLimits {
        QueryLimits::default()
    }

    /// Renders a tree in fully parenthesised prefix form, to assert structure compactly.
    fn show(n: &Node) -> String {
        match &n.kind {
            NodeKind::Literal(l) => match l {
                RawLiteral::Null => "null".into(),
                RawLiteral::Bool(b) => b.to_string(),
                RawLiteral::Int(v) => v.to_string(),
                RawLiteral::Decimal(v) => format!("{v}m"),
                RawLiteral::String(s) => format!("'{s}'"),
                RawLiteral::DateTimeOffset(d) => d.to_rfc3339(),
                RawLiteral::Date(d) => d.to_string(),
                RawLiteral::Guid(g) => format!("guid:{g}"),
                RawLiteral::Typed { type_name, text } => format!("{type_name}'{text}'"),
            },
            NodeKind::Path(p) => p.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("/"),
            NodeKind::Lambda { path, kind, var, body } => format!(
                "{}/{:?}({}{})",
                path.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("/"),
                kind,
                var.as_ref().map(|v| format!("{}:", v.name)).unwrap_or_default(),
                body.as_ref().map(|b| show(b)).unwrap_or_default()
            ),
            NodeKind::Call { name, args } => format!("{name}({})", args.iter().map(show).collect::<Vec<_>>().join(",")),
            NodeKind::Not(x) => format!("(not {})", show(x)),
            NodeKind::Neg(x) => format!("(- {})", show(x)),
            NodeKind::Binary { op, lhs, rhs } => format!("({} {} {})", op.keyword(), show(lhs), show(rhs)),
            NodeKind::And(v) => format!("(and {})", v.iter().map(show).collect::<Vec<_>>().join(" ")),
            NodeKind::Or(v) => format!("(or {})", v.iter().map(show).collect::<Vec<_>>().join(" ")),
            NodeKind::In { lhs, list } => {
                format!("(in {} [{}])", show(lhs), list.iter().map(show).collect::<Vec<_>>().join(","))
            }
        }
    }

    fn p(s: &str) -> String {
        show(&parse_filter(s, 0, &limits()).unwrap_or_else(|e| panic!("{s}: {e:?}")))
    }

    fn err(s: &str) -> Fail {
        parse_filter(s, 0, &limits()).unwrap_err()
    }

    #[test]
    fn precedence_follows_odata() {
        assert_eq!(p("A eq 1 or B eq 2 and C eq 3"), "(or (eq A 1) (and (eq B 2) (eq C 3)))");
        assert_eq!(p("A add B mul C eq D"), "(eq (add A (mul B C)) D)");
        assert_eq!(p("A sub B sub C eq 0"), "(eq (sub (sub A B) C) 0)");
        assert_eq!(p("not A and B"), "(and (not A) B)");
        assert_eq!(p("not (A and B)"), "(not (and A B))");
        assert_eq!(p("-A mul B"), "(mul (- A) B)");
        assert_eq!(p("A div B mod C divby D"), "(divby (mod (div A B) C) D)");
        assert_eq!(p("A gt 1 eq B lt 2"), "(eq (gt A 1) (lt B 2))");
        assert_eq!(p("A eq 1 and B eq 2 and C eq 3 or D"), "(or (and (eq A 1) (eq B 2) (eq C 3)) D)");
        assert_eq!(p("((A eq (1)))"), "(eq A 1)");
        assert_eq!(
            p("Severity in ('High', 'Low') and not Enabled"),
            "(and (in Severity ['High','Low']) (not Enabled))"
        );
        assert_eq!(p("not Severity in ('High')"), "(not (in Severity ['High']))");
        assert_eq!(p("Severity has OpenTI.AlertSeverity'High'"), "(has Severity OpenTI.AlertSeverity'High')");
        assert_eq!(p("A EQ 1 AND B Ne 2"), "(and (eq A 1) (ne B 2))");
    }

    #[test]
    fn calls_paths_and_lambdas() {
        assert_eq!(p("contains(tolower(Name),'x')"), "contains(tolower(Name),'x')");
        assert_eq!(p("substring(Name, 1, 2) eq 'ab'"), "(eq substring(Name,1,2) 'ab')");
        assert_eq!(p("now() gt CreatedAt"), "(gt now() CreatedAt)");
        assert_eq!(p("AlertDefinition/Severity eq 'High'"), "(eq AlertDefinition/Severity 'High')");
        assert_eq!(
            p("IndicatorsOfCompromise/any(i: i/Type eq 'Sha256')"),
            "IndicatorsOfCompromise/Any(i:(eq i/Type 'Sha256'))"
        );
        assert_eq!(p("IndicatorsOfCompromise/any()"), "IndicatorsOfCompromise/Any()");
        assert_eq!(
            p("IndicatorsOfCompromise/all(i: i/Enabled and i/HitCount gt 0)"),
            "IndicatorsOfCompromise/All(i:(and i/Enabled (gt i/HitCount 0)))"
        );
    }

    #[test]
    fn every_literal_type() {
        assert_eq!(p("X eq null"), "(eq X null)");
        assert_eq!(p("X eq true or X eq False"), "(or (eq X true) (eq X false))");
        assert_eq!(p("X eq 'O''Brien'"), "(eq X 'O'Brien')");
        assert_eq!(p("X eq -42"), "(eq X -42)");
        assert_eq!(p("X eq 4.5"), "(eq X 4.5m)");
        assert_eq!(p("X eq 2026-11-22T10:00:00+01:00"), "(eq X 2026-11-22T10:00:00+01:00)");
        assert_eq!(p("X eq 2026-11-22"), "(eq X 2026-11-22)");
        assert_eq!(p("X eq 01234567-89ab-cdef-0123-456789abcdef"), "(eq X guid:01234567-89ab-cdef-0123-456789abcdef)");
        assert_eq!(p("X in ()"), "(in X [])");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = err("Name eq ");
        assert_eq!((e.pos, e.detail.as_str()), (Some(8), "expected a value after 'eq'"));
        assert_eq!(err("Name eq 'a' and").pos, Some(15));
        assert_eq!(err("Name eqq 'a'").pos, Some(5));
        assert_eq!(err("(Name eq 'a'").pos, Some(12));
        assert_eq!(err("Name eq 'a')").pos, Some(11));
        assert_eq!(err("contains(Name,").pos, Some(14));
        assert_eq!(err("X in 'a'").pos, Some(5));
        assert_eq!(err("A/all()").pos, Some(2));
        assert_eq!(err("").pos, Some(0));
        assert_eq!(err("Name eq 'abc").pos, Some(8));
    }

    #[test]
    fn limits_are_enforced_while_parsing() {
        let deep = format!("{}Id eq 1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(err(&deep).kind, QueryErrorKind::LimitExceeded);
        let nots = format!("{}Enabled", "not ".repeat(10_000));
        assert_eq!(err(&nots).kind, QueryErrorKind::LimitExceeded);
        let chain = format!("Id eq 0{}", " add 1".repeat(40));
        let e = err(&chain);
        assert_eq!(e.kind, QueryErrorKind::LimitExceeded);
        assert!(e.pos.is_some_and(|p| p >= 6 && p < chain.len()), "{e:?}");
        // A long and/or chain is flat: fine as long as the node count allows it.
        assert!(parse_filter(&(0..100).map(|i| format!("Id eq {i}")).collect::<Vec<_>>().join(" or "), 0, &limits())
            .is_ok());
        let wide = (0..2000).map(|i| format!("Id eq {i}")).collect::<Vec<_>>().join(" or ");
        assert_eq!(err(&wide).kind, QueryErrorKind::LimitExceeded);
        let list = format!("Id in ({})", (0..5000).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        assert_eq!(err(&list).kind, QueryErrorKind::LimitExceeded);
    }

    #[test]
    fn orderby_select_expand() {
        let o = parse_orderby("Severity desc, Name asc,Id", 0).unwrap();
        assert_eq!(o.len(), 3);
        assert!(o[0].descending && !o[1].descending && !o[2].descending);
        assert_eq!(parse_orderby("Name sideways", 0).unwrap_err().pos, Some(5));
        assert_eq!(parse_orderby("tolower(Name)", 0).unwrap_err().kind, QueryErrorKind::Unsupported);
        assert_eq!(parse_select("Name, *", 0).unwrap().len(), 2);
        assert_eq!(parse_select("Name,", 0).unwrap_err().pos, Some(5));

        let e =
            parse_expand("IndicatorsOfCompromise($filter=Value eq 'a;b)';$top=2;$select=Value),Other", 0, &limits(), 1)
                .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].options.top, Some(2));
        assert!(e[0].options.filter.is_some());
        assert_eq!(e[1].path[0].name, "Other");
        // Errors inside nested options are positioned in the whole $expand text.
        let err = parse_expand("IndicatorsOfCompromise($filter=Value eq)", 0, &limits(), 1).unwrap_err();
        assert_eq!(err.pos, Some(39));
        let err = parse_expand("A($levels=2)", 0, &limits(), 1).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Unsupported);
        let err = parse_expand("A($expand=B($expand=C($expand=D)))", 0, &limits(), 1).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::LimitExceeded);
        assert!(parse_expand("A($top=1", 0, &limits(), 1).is_err());
    }
}

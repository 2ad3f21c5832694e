pub mod csdl;
pub mod openapi;
pub mod query;

pub use query::{
    fuzz_parse, parse_collection_query, parse_entity_query, CheckedQuery, Dialect, Expand, OrderKey, QueryError,
    QueryErrorKind, QueryLimits, SkipToken,
};

pub fn add(left: u64, right: u64) -> u64 {
    left + right
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_works() {
        let result = add(2, 2);
        assert_eq!(result, 4);
    }
}

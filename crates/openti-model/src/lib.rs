//! The custom TI domain model: entities, enumerations, validation and normalisation of
//! values, and the schema that `$metadata`, the OData query engine and the store share.
//! No I/O lives here.

pub mod entities;
pub mod enums;
pub mod error;
pub mod input;
pub mod schema;
pub mod values;

pub use entities::*;
pub use enums::*;
pub use error::{ErrorCode, InputError};

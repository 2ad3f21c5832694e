//! Detection: the event model, the telemetry adapters that map every input format into it,
//! the incremental matcher index, and alert grouping.

pub mod adapters;
pub mod event;
pub mod matcher;

pub use adapters::{adapter_for, guess_format, Adapter, Format, LineError};
pub use event::{Event, Field, Observable, Raw};

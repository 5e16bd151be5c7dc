//! The council's rules for day opportunities, free of storage and HTTP.
//!
//! Everything here is plain data and pure functions: reference data and its validation,
//! effective-dated rate lookup, the audit chain's hashing. The persistence and HTTP crates
//! call in; nothing here calls out.

pub mod agreement;
pub mod audit;
pub mod budget;
pub mod calendar;
pub mod canonical;
pub mod checks;
pub mod claim;
pub mod contract;
pub mod error;
pub mod events;
pub mod finding;
pub mod identifiers;
pub mod kpi;
pub mod lifecycle;
pub mod matrix;
pub mod note;
pub mod outcomes;
pub mod patterns;
pub mod provider;
pub mod register;
pub mod report;
pub mod rules;
pub mod submission;
pub mod tlog;
pub mod types;
pub mod webhook;
pub mod workbook;

pub use error::{FieldError, FieldErrors};

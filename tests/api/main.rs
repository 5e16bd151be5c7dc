#![allow(clippy::unwrap_used, clippy::expect_used)]

//! End-to-end tests of the running API. They run on SQLite, or on PostgreSQL when
//! `DAYOPS_TEST_POSTGRES_URL` is set (`.ci/run` runs them both ways).

mod conformance;
mod support;

mod agreements;
mod audit;
mod auth;
mod claims;
mod errors;
mod events;
mod identity;
mod logs;
mod matrices;
mod operations;
mod people;
mod queries;
mod reference;
mod registers;
mod reports;
mod webhooks;
mod workbooks;

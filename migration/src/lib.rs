//! Gatehouse schema migrations.
//!
//! One `Migrator` for PostgreSQL (production) and SQLite (the embedded default). Each
//! migration writes the DDL for both backends side by side, because the two dialects differ
//! exactly where the contract is strict: identity columns, `timestamptz`, `NULLS LAST`
//! indexes and the full-text GIN index that only PostgreSQL has.
//!
//! Migrations are append-only: never edit one that has shipped, add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_tables;

/// Applies Gatehouse's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261127_000001_create_tables::Migration)]
    }
}

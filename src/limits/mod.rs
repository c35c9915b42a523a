//! Guard rails: the per-caller cost budget.

pub mod budget;

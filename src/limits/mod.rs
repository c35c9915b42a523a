//! Guard rails: document analysis and limits, the per-caller cost budget (in-process or
//! shared through Redis), and the extension that applies both before anything runs.

pub mod analysis;
pub mod budget;
pub mod guard;
pub mod redis_budget;
pub mod throttle;

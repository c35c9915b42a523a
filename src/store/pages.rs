//! "The first N children of each parent" in ONE statement, whatever the number of parents:
//! a `LATERAL` join on PostgreSQL (one index range scan per parent, stops after N rows) and
//! a `ROW_NUMBER()` window on SQLite (which has no `LATERAL`).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseBackend};

use super::rows::FromRows;
use super::sql::Sql;
use crate::error::AppResult;

/// The shape of a per-parent page query.
pub struct PerParent<'a> {
    /// Columns of the child rows, e.g. `p.*`.
    pub select: &'a str,
    /// The `FROM` clause (tables and joins) of the child rows.
    pub from: &'a str,
    /// The column that names the parent, e.g. `c.post_id`.
    pub parent_col: &'a str,
    /// The child ordering, e.g. `c.created_at DESC, c.id DESC`.
    pub order: &'a str,
    /// Rows per parent.
    pub limit: u64,
}

impl PerParent<'_> {
    /// Builds the statement; `conditions` appends ` AND …` clauses on the child rows.
    pub fn statement(
        &self,
        backend: DatabaseBackend,
        parent_ids: &[i64],
        conditions: impl FnOnce(&mut Sql),
    ) -> sea_orm::Statement {
        let mut sql = Sql::new(backend);
        let Self {
            select,
            from,
            parent_col,
            order,
            limit,
        } = self;
        if backend == DatabaseBackend::Postgres {
            sql.push("SELECT parent.id AS parent_id, page.* FROM (VALUES ");
            for (i, id) in parent_ids.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(*id)
                    .push("::bigint)");
            }
            if parent_ids.is_empty() {
                sql.push("(NULL::bigint)");
            }
            sql.push(&format!(
                ") AS parent(id) CROSS JOIN LATERAL (SELECT {select} FROM {from} WHERE {parent_col} = parent.id"
            ));
            conditions(&mut sql);
            sql.push(&format!(" ORDER BY {order} LIMIT {limit}) page"));
        } else {
            sql.push(&format!(
                "SELECT * FROM (SELECT {parent_col} AS parent_id, {select}, ROW_NUMBER() OVER (PARTITION BY {parent_col} ORDER BY {order}) AS gh_rank FROM {from} WHERE {parent_col} IN "
            ));
            sql.bind_list(parent_ids.iter().copied());
            conditions(&mut sql);
            sql.push(&format!(") ranked WHERE ranked.gh_rank <= {limit}"));
        }
        sql.build()
    }
}

/// Runs a statement whose rows carry a `parent_id` column first and groups the decoded
/// rows by it.
pub async fn grouped<M: FromRows>(
    db: &impl ConnectionTrait,
    statement: sea_orm::Statement,
) -> AppResult<HashMap<i64, Vec<M>>> {
    let rows = db.query_all(statement).await?;
    let mut groups: HashMap<i64, Vec<M>> = HashMap::new();
    let Some(first) = rows.first() else {
        return Ok(groups);
    };
    let plan = M::plan(first, 1);
    for row in &rows {
        let parent: i64 = row.try_get_by_index(0)?;
        groups
            .entry(parent)
            .or_default()
            .push(M::decode(plan, row)?);
    }
    Ok(groups)
}

/// Runs `SELECT <parent> AS parent_id, COUNT(*) AS n … GROUP BY <parent>` and returns the
/// counts, with zero for parents that have no rows.
pub async fn counts(
    db: &impl ConnectionTrait,
    parent_ids: &[i64],
    statement: sea_orm::Statement,
) -> AppResult<HashMap<i64, i64>> {
    let mut counts: HashMap<i64, i64> = parent_ids.iter().map(|id| (*id, 0)).collect();
    for row in db.query_all(statement).await? {
        let parent: i64 = row.try_get("", "parent_id")?;
        let n: i64 = row.try_get("", "n")?;
        counts.insert(parent, n);
    }
    Ok(counts)
}

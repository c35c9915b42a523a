//! A tiny SQL text builder for the hand-tuned statements (keyset pages, window functions):
//! it writes backend-correct placeholders so one piece of SQL serves PostgreSQL and SQLite.

use sea_orm::{DatabaseBackend, Statement, Value};

/// SQL text plus its bound values.
pub struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// An empty statement for `backend`.
    pub fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    /// The backend this statement is written for.
    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Appends literal SQL.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value` (`$n` on PostgreSQL, `?n` on SQLite).
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        let marker = match self.backend {
            DatabaseBackend::Postgres => '$',
            _ => '?',
        };
        self.text.push(marker);
        self.text.push_str(&self.values.len().to_string());
        self
    }

    /// Appends `(v1, v2, …)`; an empty list becomes `(NULL)`, which matches nothing.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.push("(");
        let mut first = true;
        for value in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.bind(value);
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    /// The finished statement.
    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let mut pg = Sql::new(DatabaseBackend::Postgres);
        pg.push("id IN ")
            .bind_list([1i64, 2])
            .push(" AND x = ")
            .bind("a");
        assert_eq!(pg.build().sql, "id IN ($1, $2) AND x = $3");
        let mut lite = Sql::new(DatabaseBackend::Sqlite);
        lite.push("id IN ").bind_list(Vec::<i64>::new());
        assert_eq!(lite.build().sql, "id IN (NULL)");
    }
}

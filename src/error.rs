//! Errors and their contract codes (CONTRACT.md section 3).
//!
//! Policy: resolvers and services return [`AppError`]. Variants a client can act on carry
//! their `extensions.code` and a message meant for the client. Everything else becomes
//! `INTERNAL`: the full cause chain is logged once, where it turns into a GraphQL error, and
//! the client sees only the code and a generic message (the request id ties the two).

use std::sync::Arc;

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

/// The `extensions.code` values of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Missing, invalid or expired credentials.
    Unauthenticated,
    /// Authenticated but not allowed.
    Forbidden,
    /// The object does not exist or the caller may not see it.
    NotFound,
    /// Input the client must fix.
    BadUserInput,
    /// The document is not valid GraphQL syntax.
    GraphqlParseFailed,
    /// The document does not validate against the schema.
    GraphqlValidationFailed,
    /// Nested deeper than allowed.
    QueryTooDeep,
    /// Too costly, too many aliases or root fields.
    QueryTooComplex,
    /// Over the rate budget.
    RateLimited,
    /// An Apollo persisted-query hash the server does not know yet.
    PersistedQueryNotFound,
    /// The request ran out of time.
    Timeout,
    /// A fault on our side.
    Internal,
}

impl Code {
    /// The wire form, as in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::QueryTooDeep => "QUERY_TOO_DEEP",
            Code::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Code::RateLimited => "RATE_LIMITED",
            Code::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Code::Timeout => "TIMEOUT",
            Code::Internal => "INTERNAL",
        }
    }
}

/// The application error: one type for services, loaders and resolvers.
///
/// `Clone` because async-graphql's `DataLoader` shares one error between every key of a
/// failed batch.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials where they are required.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials presented but refused (bad token, wrong password).
    #[error("{0}")]
    BadCredentials(&'static str),
    /// The caller may not do this.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Missing or invisible to the caller.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for ("post", "comment").
        what: &'static str,
    },
    /// Input the client must fix.
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument or input field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Anything else; never shown to the client.
    #[error("internal error")]
    Internal(Arc<anyhow::Error>),
}

/// Shorthand for results of this layer.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// Input error on `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The contract code of this error.
    pub fn code(&self) -> Code {
        match self {
            AppError::Unauthenticated | AppError::BadCredentials(_) => Code::Unauthenticated,
            AppError::Forbidden => Code::Forbidden,
            AppError::NotFound { .. } => Code::NotFound,
            AppError::Invalid { .. } => Code::BadUserInput,
            AppError::Internal(_) => Code::Internal,
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::Internal(Arc::new(err))
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        unique_violation(&err).unwrap_or_else(|| AppError::Internal(Arc::new(err.into())))
    }
}

/// Maps the unique constraints a client can hit to input errors, by constraint name on
/// PostgreSQL and by `table.column` on SQLite.
fn unique_violation(err: &DbErr) -> Option<AppError> {
    const KNOWN: [(&str, &str, &str); 2] = [
        ("users_username_key", "users.username", "username"),
        ("users_email_key", "users.email", "email"),
    ];
    let text = err.to_string();
    KNOWN
        .iter()
        .find(|(constraint, column, _)| text.contains(constraint) || text.contains(column))
        .filter(|_| text.contains("unique") || text.contains("UNIQUE"))
        .map(|(_, _, field)| AppError::invalid(*field, "is already taken"))
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let AppError::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let code = self.code();
        let err = async_graphql::Error::new(self.to_string());
        match self {
            AppError::Invalid { field, .. } => err.extend_with(|_, e| {
                e.set("code", code.as_str());
                e.set("field", field.as_str());
            }),
            _ => err.extend_with(|_, e| e.set("code", code.as_str())),
        }
    }
}

/// A GraphQL error with just a code, for the HTTP layer's own refusals.
pub fn coded_error(code: Code, message: impl Into<String>) -> async_graphql::ServerError {
    let mut err = async_graphql::ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    err.extensions = Some(ext);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err: AppError = anyhow::anyhow!("SELECT secret FROM vault").into();
        let gql = err.extend();
        assert_eq!(gql.message, "internal error");
    }

    #[test]
    fn unique_violations_become_input_errors() {
        let err = DbErr::Custom(
            "duplicate key value violates unique constraint \"users_email_key\"".into(),
        );
        let app: AppError = err.into();
        assert!(matches!(app, AppError::Invalid { ref field, .. } if field == "email"));
        let err = DbErr::Custom("UNIQUE constraint failed: users.username".into());
        let app: AppError = err.into();
        assert!(matches!(app, AppError::Invalid { ref field, .. } if field == "username"));
    }
}

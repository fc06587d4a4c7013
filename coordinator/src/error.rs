//! Error types: `DomainError` from the domain layer (one conversion to a gRPC status) and
//! `CoordinatorError` from the library entry points.

use lookout_proto::validate::FieldError;
use lookout_store::StoreError;

/// Why a domain operation (admin call or agent session step) was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Bad input; the message starts with the field path (`http.url: ...`).
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("monitor {0:?} not found")]
    NotFound(String),
    #[error("monitor {0:?} was changed concurrently; read it again and retry")]
    Conflict(String),
    #[error("delivery {0:?} not found")]
    DeliveryNotFound(String),
    #[error("integration {0:?} not found")]
    IntegrationNotFound(String),
    #[error("monitor {monitor:?} does not attach integration {integration:?}")]
    NotAttached {
        monitor: String,
        integration: String,
    },
    #[error("variable {0:?} not found")]
    VariableNotFound(String),
    #[error("project {0:?} not found")]
    ProjectNotFound(String),
    #[error("incident {0:?} not found")]
    IncidentNotFound(String),
    #[error("token {0:?} not found")]
    TokenNotFound(String),
    #[error("no member of this project has the address {0:?}")]
    MemberNotFound(String),
    #[error("{0:?} is a verified member of this project already")]
    MemberExists(String),
    #[error("a project named {0:?} exists already")]
    ProjectExists(String),
    /// Over a project quota; the message names the quota and its value.
    #[error("{0}")]
    QuotaExceeded(String),
    /// A system integration (declared in a configuration file, which owns it) was to be
    /// changed or deleted through an API.
    #[error("integration {id:?} is declared in the configuration file and cannot be {} through the API; change the file instead", .change.past())]
    SystemIntegration { id: String, change: Change },
    /// The project is not on a paid plan, which the request needs (SMS integrations).
    #[error("SMS integrations require a paid plan")]
    PaidPlanRequired,
    /// The request is valid but the target is not in a state that allows it.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// Authenticated, but not allowed to do this (an agent token used from another region).
    #[error("{0}")]
    PermissionDenied(String),
    /// The agent's stream failed (a message over the size limit, a broken connection); the
    /// session ends with the same status.
    #[error("{}: {}", .0.code(), .0.message())]
    Stream(tonic::Status),
    #[error("{0}")]
    Unavailable(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What was refused of a system integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Edit,
    Delete,
}

impl Change {
    fn past(self) -> &'static str {
        match self {
            Change::Edit => "edited",
            Change::Delete => "deleted",
        }
    }
}

impl From<DomainError> for tonic::Status {
    fn from(e: DomainError) -> tonic::Status {
        match e {
            DomainError::Invalid(f) => tonic::Status::invalid_argument(f.to_string()),
            DomainError::NotFound(_)
            | DomainError::DeliveryNotFound(_)
            | DomainError::IntegrationNotFound(_)
            | DomainError::NotAttached { .. }
            | DomainError::VariableNotFound(_)
            | DomainError::ProjectNotFound(_)
            | DomainError::IncidentNotFound(_)
            | DomainError::TokenNotFound(_)
            | DomainError::MemberNotFound(_) => tonic::Status::not_found(e.to_string()),
            DomainError::ProjectExists(_) | DomainError::MemberExists(_) => {
                tonic::Status::already_exists(e.to_string())
            }
            DomainError::QuotaExceeded(_) => tonic::Status::resource_exhausted(e.to_string()),
            DomainError::FailedPrecondition(_)
            | DomainError::SystemIntegration { .. }
            | DomainError::PaidPlanRequired => tonic::Status::failed_precondition(e.to_string()),
            DomainError::Conflict(_) => tonic::Status::aborted(e.to_string()),
            DomainError::Unauthenticated => tonic::Status::unauthenticated(e.to_string()),
            DomainError::PermissionDenied(m) => tonic::Status::permission_denied(m),
            DomainError::Stream(status) => status,
            DomainError::Unavailable(_) => tonic::Status::unavailable(e.to_string()),
            DomainError::Store(err) => {
                // Database details stay in the log; callers learn only that it failed.
                tracing::error!(error = %err, "store operation failed");
                tonic::Status::internal("internal storage error")
            }
        }
    }
}

/// Failure of a library entry point (`serve`, `apply_declared_monitors`).
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("invalid config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A declared monitor is invalid; the message starts with `monitors[i].<field>`.
    #[error("{0}")]
    Invalid(FieldError),
    #[error("listener: {0}")]
    Io(String),
    /// The TLS files cannot be read or used; the message names the field and file.
    #[error("{0}")]
    Tls(String),
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Shorthand for a refused field.
pub(crate) fn field_error(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

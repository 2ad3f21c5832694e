//! The one table of API error codes: each code's wire spelling and HTTP status, so that no
//! other layer invents an error string or picks a status on its own (SPEC A.9).

/// An OData error code (the successor service's vocabulary where one fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    InvalidRequestBody,
    InvalidHashValue,
    InvalidDomainName,
    InvalidIpAddress,
    InvalidUrl,
    MissingRequiredParameter,
    MaximumBatchSizeExceeded,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    QuotaExceeded,
    InternalServerError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "BadRequest",
            InvalidRequestBody => "InvalidRequestBody",
            InvalidHashValue => "InvalidHashValue",
            InvalidDomainName => "InvalidDomainName",
            InvalidIpAddress => "InvalidIpAddress",
            InvalidUrl => "InvalidUrl",
            MissingRequiredParameter => "MissingRequiredParameter",
            MaximumBatchSizeExceeded => "MaximumBatchSizeExceeded",
            Unauthorized => "Unauthorized",
            Forbidden => "Forbidden",
            NotFound => "NotFound",
            MethodNotAllowed => "MethodNotAllowed",
            Conflict => "Conflict",
            PreconditionFailed => "PreconditionFailed",
            RequestEntityTooLarge => "RequestEntityTooLarge",
            UnsupportedMediaType => "UnsupportedMediaType",
            TooManyRequests => "TooManyRequests",
            QuotaExceeded => "QuotaExceeded",
            InternalServerError => "InternalServerError",
            ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The HTTP status the code is always sent with.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | InvalidRequestBody | InvalidHashValue | InvalidDomainName | InvalidIpAddress | InvalidUrl
            | MissingRequiredParameter | MaximumBatchSizeExceeded => 400,
            Unauthorized => 401,
            Forbidden => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            Conflict => 409,
            PreconditionFailed => 412,
            RequestEntityTooLarge => 413,
            UnsupportedMediaType => 415,
            TooManyRequests => 429,
            QuotaExceeded => 507,
            InternalServerError => 500,
            ServiceUnavailable => 503,
        }
    }

    /// Looks a code up by its spelling (used for codes carried as text, e.g. by `ValueError`).
    pub fn parse(text: &str) -> Option<ErrorCode> {
        use ErrorCode::*;
        [
            BadRequest, InvalidRequestBody, InvalidHashValue, InvalidDomainName, InvalidIpAddress, InvalidUrl,
            MissingRequiredParameter, MaximumBatchSizeExceeded, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
            Conflict, PreconditionFailed, RequestEntityTooLarge, UnsupportedMediaType, TooManyRequests, QuotaExceeded,
            InternalServerError, ServiceUnavailable,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// A request body that does not describe a valid entity: which property, why, and the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub code: ErrorCode,
    /// The offending property (wire name), or the bulk index path such as `iocs[3771].Value`.
    pub target: Option<String>,
    pub message: String,
}

impl InputError {
    pub fn new(code: ErrorCode, target: impl Into<String>, message: impl Into<String>) -> Self {
        InputError { code, target: Some(target.into()), message: message.into() }
    }

    pub fn body(message: impl Into<String>) -> Self {
        InputError { code: ErrorCode::InvalidRequestBody, target: None, message: message.into() }
    }

    /// Re-targets the error at one element of a bulk request.
    pub fn at_index(mut self, wrapper: &str, index: usize) -> Self {
        let inner = self.target.take();
        self.target = Some(match &inner {
            Some(t) => format!("{wrapper}[{index}].{t}"),
            None => format!("{wrapper}[{index}]"),
        });
        self.message = format!("entity at index {index}: {}", self.message);
        self
    }
}

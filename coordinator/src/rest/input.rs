//! Reading requests: the JSON body (bounded, any malformation a 422 naming `body`), its
//! objects field by field (an unknown key is refused by its path), query strings against the
//! parameters an endpoint takes, and path segments. Nothing here panics on any input.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use lookout_proto::bounds::quote;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::rest::MAX_BODY_BYTES;
use crate::rest::error::ApiError;

/// A request body that is one JSON object.
pub struct JsonBody(pub Object);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(MAX_BODY_BYTES)
            } else {
                ApiError::invalid("body", "could not be read")
            }
        })?;
        let map = json_object(&bytes)?;
        Ok(JsonBody(Object::new(String::new(), map)))
    }
}

/// `bytes` as one JSON object; anything else is a 422 naming `body`.
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("body", "is required: a JSON object"));
    }
    // serde_json bounds nesting (128 levels), so a deep body is an error, not a crash.
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::invalid(
            "body",
            format!("must be a JSON object, not {}", json_type(&other)),
        )),
        Err(e) => Err(ApiError::invalid("body", format!("is not valid JSON: {e}"))),
    }
}

/// A JSON object read key by key: each `take` removes a key, and [`Object::finish`] refuses
/// whatever is left, naming it.
pub struct Object {
    path: String,
    map: Map<String, Value>,
}

impl Object {
    fn new(path: String, map: Map<String, Value>) -> Object {
        Object { path, map }
    }

    /// The path of `key` in the request (`integration.settings`).
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`, if present and not `null`.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// The value of `key`, which must be present.
    pub fn required(&mut self, key: &str) -> Result<Value, ApiError> {
        self.take(key)
            .ok_or_else(|| ApiError::invalid(self.path_of(key), "is required"))
    }

    /// The object at `key`, which must be present.
    pub fn object(&mut self, key: &str) -> Result<Object, ApiError> {
        let path = self.path_of(key);
        match self.required(key)? {
            Value::Object(map) => Ok(Object::new(path, map)),
            other => Err(ApiError::invalid(
                path,
                format!("must be an object, not {}", json_type(&other)),
            )),
        }
    }

    /// The string at `key`, if present.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::invalid(
                self.path_of(key),
                format!("must be a string, not {}", json_type(&other)),
            )),
        }
    }

    /// The value at `key` decoded as `T` (proto3 JSON for the admin API's messages), if
    /// present; a refusal names the path inside it.
    pub fn decode<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, ApiError> {
        let path = self.path_of(key);
        self.take(key).map(|v| decode(v, &path)).transpose()
    }

    /// Refuses the first key no `take` read.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(ApiError::invalid(self.path_of(key), "is not a known field")),
        }
    }

    /// The rest of the object, as it is.
    pub fn into_map(self) -> (String, Map<String, Value>) {
        (self.path, self.map)
    }
}

/// `value` decoded as `T`; a refusal names the path inside it, under `path`.
pub fn decode<T: DeserializeOwned>(value: Value, path: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let at = match inner.as_str() {
            "." | "" => path.to_string(),
            p if p.starts_with('[') => format!("{path}{p}"),
            p => format!("{path}.{p}"),
        };
        ApiError::invalid(at, e.into_inner())
    })
}

/// What a JSON value is, for messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The query string's parameters, each at most once; [`Query::finish`] refuses the others.
pub struct Query(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(ApiError::invalid(k.into_owned(), "is given more than once"));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Query(pairs))
    }
}

impl Query {
    /// Parameter `name`, if given.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }

    /// `page_size` (absent: the default).
    pub fn page_size(&mut self) -> Result<u32, ApiError> {
        match self.take("page_size") {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| {
                ApiError::invalid("page_size", format!("{} is not a number", quote(&v)))
            }),
        }
    }

    /// Refuses the first parameter no `take` read.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(ApiError::invalid(
                k.clone(),
                "is not a parameter of this endpoint",
            )),
        }
    }
}

/// The path's parameters (`{id}`), percent-decoded: a `String`, or a tuple of them.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathParams<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(PathParams(t)),
            Err(e) => Err(ApiError::invalid("path", e.body_text())),
        }
    }
}

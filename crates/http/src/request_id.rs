//! Request ids: a client's `X-Request-Id` is kept when it is well formed, and one is
//! made otherwise. The id is echoed on the response, written on every log line of the
//! request (the access log, and anything logged while it is being answered, on the
//! worker or on the blocking pool) and named in every problem's `instance`.

use std::cell::RefCell;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

pub const HEADER: &str = "x-request-id";

/// The longest client-supplied id kept.
pub const MAX_LEN: usize = 128;

/// One request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A new id: a UUID (version 7, so ids sort by time).
    pub fn fresh() -> Self {
        RequestId(uuid::Uuid::now_v7().to_string().into())
    }

    /// The client's id when it is well formed: 1 to 128 characters of letters, digits
    /// and `-`, `_`, `.`, `:`. Anything else could forge log lines or carry personal
    /// data into them, so it is replaced rather than cleaned.
    pub fn from_client(value: &str) -> Option<Self> {
        let well_formed = (1..=MAX_LEN).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        well_formed.then(|| RequestId(value.into()))
    }

    /// The problem `instance` naming this request (a URN, since the id is no address).
    pub fn instance(&self) -> String {
        format!("urn:dayops:request:{}", self.0)
    }
}

tokio::task_local! {
    /// The id of the request whose future is being polled.
    static TASK: RequestId;
}

thread_local! {
    /// The id of the request a blocking-pool thread is working for.
    static THREAD: RefCell<Option<RequestId>> = const { RefCell::new(None) };
}

/// The id of the request being answered here, if any.
pub fn current() -> Option<RequestId> {
    TASK.try_with(RequestId::clone)
        .ok()
        .or_else(|| THREAD.with(|id| id.borrow().clone()))
}

/// Runs blocking work with `id` as the thread's current request, so what it logs names
/// the request.
pub fn within<T>(id: Option<RequestId>, work: impl FnOnce() -> T) -> T {
    THREAD.with(|slot| *slot.borrow_mut() = id);
    let result = work();
    THREAD.with(|slot| *slot.borrow_mut() = None);
    result
}

/// Middleware: assigns the id, answers the request within its scope and echoes it.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::from_client)
        .unwrap_or_else(RequestId::fresh);
    req.extensions_mut().insert(id.clone());
    let mut response = TASK.scope(id.clone(), next.call(req)).await?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_well_formed_ids_and_replaces_others() {
        for good in ["abc", "4bf92f3577b34da6a3ce929d0e0e4736", "req:1.2_3-x"] {
            assert_eq!(
                RequestId::from_client(good).map(|i| i.0.to_string()),
                Some(good.into())
            );
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            "has space",
            "new\nline",
            "émoji",
            "a/b",
            "x\"y",
            long.as_str(),
        ] {
            assert!(RequestId::from_client(bad).is_none(), "{bad:?}");
        }
        assert_ne!(RequestId::fresh(), RequestId::fresh());
    }

    #[test]
    fn blocking_work_sees_its_request() {
        let id = RequestId::fresh();
        assert_eq!(within(Some(id.clone()), current), Some(id));
        assert_eq!(current(), None);
    }
}

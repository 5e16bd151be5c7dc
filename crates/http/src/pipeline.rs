//! The submission pipeline over HTTP: one create, amend and validate for every kind.
//!
//! A kind's route reads its body (JSON, CSV or XLSX) into the kind's input and says how
//! its answer is rendered; these functions do the rest: the `Idempotency-Key`, the
//! persistence pipeline's prepare and commit on the blocking pool, and retrying a commit
//! that lost a race on a unique key, so that the rules run again and see the winner.

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use dayops_persistence::idempotency::{self, KeyedRequest};
use dayops_persistence::pipeline::{self, Kind, Prepared};
use dayops_persistence::DbConnection;

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::routes::submissions::{
    created_response, keyed_request, refuse, today, with_version_headers, Created,
};
use crate::{run, AppState};

/// How many times a commit that lost a race on a unique key is prepared again.
const ATTEMPTS: u32 = 3;

/// Prepares with `prepare` and commits, again while the commit loses a race on a unique
/// key that the rules check beforehand (up to [`ATTEMPTS`] times); `answer` renders the
/// body stored with an idempotent create, before the write transaction opens.
fn prepare_and_commit<'a, K: Kind>(
    state: &AppState,
    conn: &mut DbConnection,
    actor: &dayops_domain::audit::Actor,
    mut prepare: impl FnMut(&mut DbConnection) -> Result<Prepared<'a, K>, ApiError>,
    keyed: Option<&KeyedRequest>,
    answer: &impl Fn(&Prepared<'a, K>) -> Result<String, ApiError>,
) -> Result<(Prepared<'a, K>, String), ApiError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let prepared = prepare(conn)?;
        let body = answer(&prepared)?;
        let stored_answer = keyed.map(|request| (request, 201, body.as_str()));
        match pipeline::commit(conn, actor, &prepared, stored_answer) {
            Ok(()) => {
                state.metrics.submission(
                    K::KIND,
                    &K::report(&prepared.assessment),
                    K::accepted_pence(&prepared.assessment),
                );
                return Ok((prepared, body));
            }
            Err(e) if e.is_unique_violation() && tries < ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Stores a new submission under the request's `Idempotency-Key` (`key`, over `bytes`,
/// the body as posted) and answers 201 with `answer`, which is also what a replay of the
/// key returns. A failure that stored nothing frees the key.
pub async fn create<K, A>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    principal: &Principal,
    (key, bytes): (String, &[u8]),
    input: K::Input,
    answer: A,
) -> Result<HttpResponse, ApiError>
where
    K: Kind + 'static,
    K::Input: Send,
    A: for<'a> Fn(&Prepared<'a, K>) -> Result<String, ApiError> + Send + 'static,
{
    let reservation = state.memory.reserve_submission(bytes.len()).await?;
    let keyed = keyed_request(req, principal, key, bytes);
    let lease = renew_while_running(state, keyed.clone());
    let actor = principal.actor();
    let scope = principal.provider_id.clone();
    let today = today();
    let shared = state.clone();
    let created = run(state, move |conn| {
        if let Some(replay) = refuse(idempotency::reserve(conn, &keyed)?)? {
            return Ok(replay);
        }
        let prepare = |conn: &mut DbConnection| {
            Ok(pipeline::prepare::<K>(
                conn,
                &actor,
                scope.as_deref(),
                &input,
                today,
            )?)
        };
        match prepare_and_commit(&shared, conn, &actor, prepare, Some(&keyed), &answer) {
            Ok((prepared, body)) => Ok(Created::New {
                id: prepared.version.envelope.id.clone(),
                version: prepared.version.envelope.version,
                body,
            }),
            Err(error) => {
                if let Err(release) = idempotency::release(conn, &keyed) {
                    log::error!("cannot release an idempotency key: {release}");
                }
                Err(error)
            }
        }
    })
    .await;
    lease.abort();
    drop(reservation);
    created_response(K::KIND, created?)
}

/// Renews the key's reservation every few seconds until aborted: a retry finds it in
/// flight while this process works on it, and free within seconds of this process dying.
fn renew_while_running(
    state: &web::Data<AppState>,
    keyed: KeyedRequest,
) -> actix_web::rt::task::JoinHandle<()> {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let every = std::time::Duration::from_secs(idempotency::RENEW_EVERY_SECONDS);
        loop {
            actix_web::rt::time::sleep(every).await;
            let keyed = keyed.clone();
            if let Err(e) = run(&state, move |conn| Ok(idempotency::renew(conn, &keyed)?)).await {
                log::warn!("cannot renew an idempotency reservation: {e}");
            }
        }
    })
}

/// Stores `input` as the next version of submission `id` if `if_match` names the current
/// one, and answers 200 with `answer` and the new version's ETag.
pub async fn amend<K, A>(
    state: &web::Data<AppState>,
    principal: &Principal,
    (id, if_match): (String, String),
    (input, body_len): (K::Input, usize),
    answer: A,
) -> Result<HttpResponse, ApiError>
where
    K: Kind + 'static,
    K::Input: Send,
    A: for<'a> Fn(&Prepared<'a, K>) -> Result<String, ApiError> + Send + 'static,
{
    let reservation = state.memory.reserve_submission(body_len).await?;
    let actor = principal.actor();
    let scope = principal.provider_id.clone();
    let today = today();
    let shared = state.clone();
    let (id, version, body) = run(state, move |conn| {
        let prepare = |conn: &mut DbConnection| {
            Ok(pipeline::prepare_amendment::<K>(
                conn,
                &actor,
                scope.as_deref(),
                (&id, &if_match),
                &input,
                today,
            )?)
        };
        let (prepared, body) = prepare_and_commit(&shared, conn, &actor, prepare, None, &answer)?;
        let envelope = &prepared.version.envelope;
        Ok((envelope.id.clone(), envelope.version, body))
    })
    .await?;
    drop(reservation);
    Ok(with_version_headers(
        HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        K::KIND,
        &id,
        version,
        false,
    ))
}

/// Runs the kind's rules on `input` against stored state; stores nothing. The input comes
/// back with the assessment, for answers that show both.
pub async fn validate<K>(
    state: &web::Data<AppState>,
    principal: &Principal,
    input: K::Input,
) -> Result<(K::Input, K::Assessment), ApiError>
where
    K: Kind + 'static,
    K::Input: Send,
    K::Assessment: Send,
{
    let scope = principal.provider_id.clone();
    let today = today();
    run(state, move |conn| {
        let assessment = pipeline::validate::<K>(conn, scope.as_deref(), &input, today)?;
        Ok((input, assessment))
    })
    .await
}

/// A stored version at least this large is read on a connection of its own
/// ([`crate::run_large_read`]).
const LARGE_ANSWER_BYTES: i64 = 8 * 1024 * 1024;

/// A version's answer as it is sent: the pieces of its JSON, in order.
pub struct AnswerPieces(pub Vec<Bytes>);

impl AnswerPieces {
    /// A document written as one piece.
    pub fn json(document: &impl Serialize) -> Result<Self, ApiError> {
        Ok(AnswerPieces(vec![Bytes::from(json(document)?)]))
    }
}

/// How a kind reads one of its versions for an answer: `(id, version, scope)` to the
/// version's number and answer, `None` when there is none the caller may see.
pub type ReadVersion = fn(
    &mut DbConnection,
    &str,
    Option<i32>,
    Option<&str>,
) -> Result<Option<(i32, AnswerPieces)>, ApiError>;

/// A stored version as answered, with its `ETag` (a provider sees its own only). `weight`
/// is how many copies of it the answer holds besides the driver's while it is read and
/// sent ([`crate::budget`]).
pub async fn read_version(
    state: &web::Data<AppState>,
    kind: dayops_domain::submission::SubmissionKind,
    principal: &Principal,
    (id, version): (String, Option<i32>),
    (read, weight): (ReadVersion, usize),
) -> Result<HttpResponse, ApiError> {
    let scope = principal.own_provider().map(str::to_string);
    // Weigh the answer first, and wait until it fits the budget.
    let size = {
        let (id, scope) = (id.clone(), scope.clone());
        run(state, move |conn| {
            Ok(dayops_persistence::submissions::stored_size(
                conn,
                kind,
                &id,
                version,
                scope.as_deref(),
            )?)
        })
        .await?
        .ok_or_else(ApiError::not_found)?
    };
    let weight = weight + crate::budget::DRIVER_COPIES;
    let reservation = state.memory.reserve_answer(size, weight).await?;
    // Written off the workers; a stored body that no longer reads is our 500 problem.
    let read = move |conn: &mut DbConnection| {
        let (version, answer) =
            read(conn, &id, version, scope.as_deref())?.ok_or_else(ApiError::not_found)?;
        Ok((id, version, answer))
    };
    let (id, version, answer) = if size >= LARGE_ANSWER_BYTES {
        crate::run_large_read(state, read).await?
    } else {
        run(state, read).await?
    };
    Ok(with_version_headers(
        HttpResponse::Ok()
            .content_type(actix_web::http::header::ContentType::json())
            .body(crate::budget::Budgeted::new(answer.0, reservation)),
        kind,
        &id,
        version,
        false,
    ))
}

/// The read routes every submission kind answers: its current version, one version, and
/// its list. A kind names its paths, operation ids and document, and gives its
/// [`ReadVersion`]. The kind's module imports `actix_web::get`: utoipa finds a route's
/// method by that attribute's bare name.
macro_rules! submission_reads {
    (
        kind: $kind:expr, tag: $tag:literal, document: $doc:ty, read: ($read:path, $weight:expr),
        get: ($get_id:literal, $get_path:literal, $get_summary:literal),
        version: ($version_id:literal, $version_path:literal, $version_summary:literal),
        list: ($list_id:literal, $list_path:literal, $list_summary:literal) $(,)?
    ) => {
        #[doc = $get_summary]
        #[utoipa::path(operation_id = $get_id, tag = $tag, responses((status = 200, body = $doc, headers(("ETag" = String))), $crate::problem::Problems<{ $crate::problem::may::FIND }>))]
        #[get($get_path)]
        pub async fn get(
            principal: $crate::auth::Principal,
            state: actix_web::web::Data<$crate::AppState>,
            id: actix_web::web::Path<String>,
        ) -> Result<actix_web::HttpResponse, $crate::problem::ApiError> {
            let at = (id.into_inner(), None);
            $crate::pipeline::read_version(&state, $kind, &principal, at, ($read, $weight)).await
        }

        #[doc = $version_summary]
        #[utoipa::path(operation_id = $version_id, tag = $tag, responses((status = 200, body = $doc, headers(("ETag" = String))), $crate::problem::Problems<{ $crate::problem::may::FIND }>))]
        #[get($version_path)]
        pub async fn get_version(
            principal: $crate::auth::Principal,
            state: actix_web::web::Data<$crate::AppState>,
            path: actix_web::web::Path<(String, String)>,
        ) -> Result<actix_web::HttpResponse, $crate::problem::ApiError> {
            let (id, version) = path.into_inner();
            let at = (id, Some($crate::routes::submissions::version_number(&version)?));
            $crate::pipeline::read_version(&state, $kind, &principal, at, ($read, $weight)).await
        }

        #[doc = $list_summary]
        #[utoipa::path(operation_id = $list_id, tag = $tag, params($crate::routes::submissions::KindListQuery), responses((status = 200, description = "A page, or with `Accept: text/csv` every match", content((dayops_persistence::Page<dayops_persistence::submissions::SubmissionSummary> = "application/json"), (String = "text/csv"))), $crate::problem::Problems<{ $crate::problem::may::QUERY }>))]
        #[get($list_path)]
        pub async fn list(
            principal: $crate::auth::Principal,
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::AppState>,
            $crate::extract::Query(query): $crate::extract::Query<$crate::routes::submissions::SubmissionListQuery>,
        ) -> Result<actix_web::HttpResponse, $crate::problem::ApiError> {
            $crate::routes::submissions::list_kind(principal, &req, &state, query, Some($kind)).await
        }
    };
}
pub(crate) use submission_reads;

/// A JSON body, for an answer.
pub fn json(value: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::Internal(format!("writing an answer: {e}")))
}

//! Providers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use dayops_domain::audit::{Actor, NewEvent};

use crate::audit::Audited;
use dayops_domain::canonical::content_sha256;
use dayops_domain::provider::{Provider, ProviderInput};
use dayops_domain::types::ProviderStatus;

use crate::error::{to_json_value, vocab, StoreError};
use crate::schema::providers;
use crate::{audit, new_id, now, utc, write_transaction, DbConnection, Page};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = providers)]
#[diesel(treat_none_as_default_value = false)]
struct ProviderRow {
    id: String,
    name: String,
    cqc_location_id: Option<String>,
    status: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl ProviderRow {
    fn into_domain(self) -> Result<Provider, StoreError> {
        Ok(Provider {
            id: self.id,
            details: ProviderInput {
                name: self.name,
                cqc_location_id: self.cqc_location_id,
                status: vocab("providers.status", &self.status, ProviderStatus::parse)?,
            },
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
        })
    }
}

/// The audit event of a provider's new state.
fn event(action: &'static str, provider: &Provider) -> Result<NewEvent, StoreError> {
    Ok(NewEvent {
        id: None,
        action,
        entity: "provider",
        entity_id: provider.id.clone(),
        version: None,
        content_sha256: Some(content_sha256(&to_json_value(provider)?)),
    })
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    input: ProviderInput,
) -> Result<Audited<Provider>, StoreError> {
    let at = now();
    let provider = Provider {
        id: new_id(),
        details: input,
        created_at: at,
        updated_at: at,
    };
    write_transaction(conn, |conn| {
        diesel::insert_into(providers::table)
            .values(ProviderRow {
                id: provider.id.clone(),
                name: provider.details.name.clone(),
                cqc_location_id: provider.details.cqc_location_id.clone(),
                status: provider.details.status.as_str().to_string(),
                created_at: at.naive_utc(),
                updated_at: at.naive_utc(),
            })
            .execute(conn)?;
        audit::append(conn, actor, vec![event("create", &provider)?])
    })
    .map(|events| Audited {
        value: provider,
        events,
    })
}

pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Provider>, StoreError> {
    providers::table
        .find(id)
        .first::<ProviderRow>(conn)
        .optional()?
        .map(ProviderRow::into_domain)
        .transpose()
}

/// Replaces the provider's details with what `change` makes of the current ones.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    change: impl FnOnce(&Provider) -> Result<ProviderInput, StoreError>,
) -> Result<Audited<Provider>, StoreError> {
    write_transaction(conn, |conn| {
        // Lock the row first (a no-op UPDATE), so concurrent patches apply one after the
        // other instead of the later overwriting the earlier.
        let touched = diesel::update(providers::table.find(id))
            .set(providers::updated_at.eq(providers::updated_at))
            .execute(conn)?;
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        let current = get(conn, id)?.ok_or(StoreError::NotFound)?;
        let details = change(&current)?;
        let updated = Provider {
            details,
            updated_at: now(),
            ..current
        };
        diesel::update(providers::table.find(id))
            .set((
                providers::name.eq(&updated.details.name),
                providers::cqc_location_id.eq(&updated.details.cqc_location_id),
                providers::status.eq(updated.details.status.as_str()),
                providers::updated_at.eq(updated.updated_at.naive_utc()),
            ))
            .execute(conn)?;
        let events = audit::append(conn, actor, vec![event("update", &updated)?])?;
        Ok(Audited {
            value: updated,
            events,
        })
    })
}

/// Providers in id order after `after`; `only` restricts to one provider (a provider's
/// own view).
pub fn list(
    conn: &mut DbConnection,
    only: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Provider>, StoreError> {
    let mut query = providers::table.into_boxed();
    if let Some(only) = only {
        query = query.filter(providers::id.eq(only.to_string()));
    }
    if let Some(after) = after {
        query = query.filter(providers::id.gt(after.to_string()));
    }
    let rows: Vec<ProviderRow> = query
        .order(providers::id.asc())
        .limit(limit + 1)
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(ProviderRow::into_domain)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, limit, |p| p.id.clone()))
}

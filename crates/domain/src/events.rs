//! The event feed's vocabulary (SPEC §6.1): what a provider, or the council, hears about.
//! Types are `<object>.<what happened>`, as payment platforms name theirs.

use serde::{Deserialize, Serialize};

macro_rules! event_types {
    ($($variant:ident => $text:literal: $doc:literal,)+) => {
        /// What an event in the feed tells.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType {
            $(#[doc = $doc] #[serde(rename = $text)] $variant,)+
        }

        impl EventType {
            /// What each type tells, for the document.
            const DOCS: &'static [&'static str] = &[$($doc),+];
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    RegisterCreated => "register.created": "A register was stored; the payload has its outcome.",
    RegisterAmended => "register.amended": "A register was amended; the payload has the new version's outcome.",
    ClaimCreated => "claim.created": "A claim was stored and priced.",
    ClaimAmended => "claim.amended": "A claim was amended and priced again.",
    WorkbookCreated => "workbook.created": "A quarter's workbook was stored.",
    WorkbookAmended => "workbook.amended": "A workbook was amended.",
    ClaimApproved => "claim.approved": "The council approved a claim.",
    ClaimDeclined => "claim.declined": "The council declined a claim.",
    ClaimPaid => "claim.paid": "The council paid a claim; the payload has the remittance reference.",
    ClaimNeedsAdjustment => "claim.needs_adjustment": "A register behind an approved claim changed: the claim needs adjusting.",
    AgreementPlaced => "agreement.placed": "A person was placed on a contract (a new agreement).",
    AgreementChanged => "agreement.changed": "An agreement changed (band, plan, suspension, authorisations).",
    AgreementEnded => "agreement.ended": "An agreement was given an end date.",
    ContractCreated => "contract.created": "A contract was created for the provider.",
    ContractUpdated => "contract.updated": "A contract's terms changed.",
    RateMatrixCreated => "rate_matrix.created": "A new rate matrix version was added to a contract.",
    WebhookSubscriptionDisabled => "webhook_subscription.disabled": "Deliveries to a webhook subscription failed for too long, and it was disabled.",
}

/// In the document: a string enum of the type names, each with what it tells.
impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let mut description = String::from("What an event in the feed tells:\n");
        for (t, doc) in EventType::ALL.iter().zip(EventType::DOCS) {
            description.push_str(&format!("\n- `{}`: {doc}", t.as_str()));
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(EventType::ALL.iter().map(|t| t.as_str())))
            .description(Some(description))
            .into()
    }
}

impl utoipa::ToSchema for EventType {}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_as_their_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(EventType::parse("claim.refunded"), None);
    }
}

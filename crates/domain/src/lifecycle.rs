//! What happens to a claim after it is stored (SPEC §4.2): it is decided, paid, marked for
//! adjustment when a register behind it changes, and amended only while unpaid. Persistence
//! asks this table and stores the answer; it decides nothing itself.

use crate::submission::SubmissionStatus as Status;

/// Something that moves a stored claim on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimEvent {
    /// A commissioner approves it.
    Approve,
    /// A commissioner declines it; its units are released.
    Decline,
    /// A commissioner records its payment.
    Pay,
    /// A register behind an approved claim changed (REG amendment): it needs adjusting.
    RegisterChanged,
}

/// Why a claim cannot take an event or an amendment (409, nothing stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub detail: String,
    /// The member of the request the refusal points at (empty: the whole request).
    pub pointer: &'static str,
    pub reason: &'static str,
}

impl ClaimEvent {
    pub const ALL: [ClaimEvent; 4] = [
        ClaimEvent::Approve,
        ClaimEvent::Decline,
        ClaimEvent::Pay,
        ClaimEvent::RegisterChanged,
    ];

    /// The statuses the event applies to.
    pub const fn applies_to(self) -> &'static [Status] {
        match self {
            ClaimEvent::Approve | ClaimEvent::Decline => {
                &[Status::Accepted, Status::PartiallyAccepted]
            }
            ClaimEvent::Pay | ClaimEvent::RegisterChanged => &[Status::Approved],
        }
    }

    /// The status it leads to.
    pub const fn leads_to(self) -> Status {
        match self {
            ClaimEvent::Approve => Status::Approved,
            ClaimEvent::Decline => Status::Declined,
            ClaimEvent::Pay => Status::Paid,
            ClaimEvent::RegisterChanged => Status::NeedsAdjustment,
        }
    }

    /// The action the audit trail records.
    pub const fn action(self) -> &'static str {
        match self {
            ClaimEvent::Approve => "approve",
            ClaimEvent::Decline => "decline",
            ClaimEvent::Pay => "pay",
            ClaimEvent::RegisterChanged => "needs_adjustment",
        }
    }

    /// The status after the event, or why a claim in `current` cannot take it.
    pub fn apply(self, current: Status) -> Result<Status, Refusal> {
        if self.applies_to().contains(&current) {
            return Ok(self.leads_to());
        }
        let (verb, pointer, reason) = match self {
            ClaimEvent::Approve | ClaimEvent::Decline => (
                "decided",
                "/decision",
                "only accepted or partially accepted claims are decided",
            ),
            ClaimEvent::Pay => ("paid", "/remittance_ref", "only approved claims are paid"),
            ClaimEvent::RegisterChanged => (
                "marked for adjustment",
                "",
                "only approved claims need adjusting",
            ),
        };
        Err(Refusal {
            detail: format!("a {current} claim cannot be {verb}"),
            pointer,
            reason,
        })
    }
}

/// Whether a claim in `current` may be amended: not once paid (SUB-005), the money has gone.
/// Any other status may be, and the amendment's own report then decides its status.
pub fn may_amend(current: Status) -> Result<(), Refusal> {
    if current == Status::Paid {
        return Err(Refusal {
            detail: "SUB-005: a paid claim cannot be amended".into(),
            pointer: "",
            reason: "the claim is paid",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status against every event: the whole state machine in one table.
    #[test]
    fn the_claim_state_machine() {
        use ClaimEvent::*;
        let table: &[(Status, ClaimEvent, Option<Status>)] = &[
            (Status::Accepted, Approve, Some(Status::Approved)),
            (Status::PartiallyAccepted, Approve, Some(Status::Approved)),
            (Status::Accepted, Decline, Some(Status::Declined)),
            (Status::PartiallyAccepted, Decline, Some(Status::Declined)),
            (Status::Approved, Pay, Some(Status::Paid)),
            (
                Status::Approved,
                RegisterChanged,
                Some(Status::NeedsAdjustment),
            ),
        ];
        for &status in Status::ALL {
            for event in ClaimEvent::ALL {
                let expected = table
                    .iter()
                    .find(|(s, e, _)| *s == status && *e == event)
                    .and_then(|(_, _, to)| *to);
                assert_eq!(event.apply(status).ok(), expected, "{status} + {event:?}");
            }
        }
    }

    #[test]
    fn refusals_name_the_status_and_the_member() {
        let r = ClaimEvent::Approve.apply(Status::Paid).unwrap_err();
        assert_eq!(r.detail, "a paid claim cannot be decided");
        assert_eq!(r.pointer, "/decision");
        let r = ClaimEvent::Pay.apply(Status::Declined).unwrap_err();
        assert_eq!(r.detail, "a declined claim cannot be paid");
        assert_eq!(r.pointer, "/remittance_ref");
    }

    #[test]
    fn only_a_paid_claim_cannot_be_amended() {
        for &status in Status::ALL {
            assert_eq!(
                may_amend(status).is_err(),
                status == Status::Paid,
                "{status}"
            );
        }
    }
}

"""One week of a provider's life through a client generated from dayops' OpenAPI document.

Generate the client (see examples/README.md), then run:

    DAYOPS_URL=http://127.0.0.1:8080 \
    DAYOPS_COMMISSIONER_TOKEN=... DAYOPS_AUDITOR_TOKEN=... \
    DAYOPS_PROVIDER_TOKEN_COMMAND="dayops token --role provider --provider-id" \
    python scenario.py

A council issues each provider its token; here the scenario mints one with the
development command once it has created the provider.
"""

import datetime
import io
import os
import shlex
import subprocess
import sys
import uuid

from dayops_client import AuthenticatedClient
from dayops_client.api.audit import list_audit_events, sign_audit_checkpoint
from dayops_client.api.claims import create_claim, decide_claim, draft_claim, pay_claim
from dayops_client.api.contracts import (
    create_contract,
    create_rate_matrix_version,
    upsert_agreements,
)
from dayops_client.api.providers import create_provider
from dayops_client.api.registers import amend_register, create_register, get_register
from dayops_client.api.submissions import list_submissions_csv
from dayops_client.api.workbooks import create_workbook, get_workbook_template
from dayops_client.models import (
    AgreementBatch,
    ClaimInput,
    ContractInput,
    DecisionInput,
    DecisionKind,
    PaymentInput,
    Problem,
    ProviderInput,
    RateMatrixInput,
    RegisterInput,
)
from dayops_client.types import File


def expect(response, status):
    """The parsed body of a response that must have `status`; anything else stops the run."""
    if response.status_code != status:
        sys.exit(f"expected {status}, got {response.status_code}: {response.content!r}")
    if isinstance(response.parsed, Problem):
        sys.exit(f"a {status} parsed as a problem: {response.parsed}")
    return response.parsed


def client(token):
    return AuthenticatedClient(base_url=os.environ["DAYOPS_URL"], token=token)


def main():
    council = client(os.environ["DAYOPS_COMMISSIONER_TOKEN"])
    auditor = client(os.environ["DAYOPS_AUDITOR_TOKEN"])
    today = datetime.date.today()
    monday = today - datetime.timedelta(days=today.weekday() + 7)  # last complete week
    day = lambda n: (monday + datetime.timedelta(days=n)).isoformat()
    tag = uuid.uuid4().hex[:6].upper()

    # The council sets the provider up: provider, contract, rate matrix, agreements.
    provider = expect(
        create_provider.sync_detailed(client=council, body=ProviderInput(name=f"Meadow Day Centre {tag}")),
        201,
    )
    contract = expect(
        create_contract.sync_detailed(
            client=council,
            body=ContractInput.from_dict(
                {
                    "reference": f"NCC-PY-{tag}",
                    "provider_id": provider.id,
                    "service_type": "building_based",
                    "start_date": "2025-01-06",
                    "need_bands": ["low", "medium", "high", "complex"],
                    "session_hours": {"am": 3, "pm": 3, "full_day": 6},
                    "capacity_per_session": 20,
                    "allows_extras": True,
                    "over_delivery_tolerance_pct": 10,
                    "register_deadline_days": 7,
                    "correction_window_days": 56,
                    "payment_period": "weekly",
                    "absence_policy": {"chargeable_reasons": ["illness"], "min_notice_hours": 24},
                    "bank_holidays": [],
                    "annual_budget_pence": 100_000_000,
                }
            ),
        ),
        201,
    )
    cells = [
        {"item": "session", "need_band": "*", "session_type": s, "day_category": "any", "rate_pence": 5000}
        for s in ("am", "pm", "full_day")
    ] + [{"item": "meal", "need_band": "*", "day_category": "any", "rate_pence": 450}]
    expect(
        create_rate_matrix_version.sync_detailed(
            contract.id,
            client=council,
            body=RateMatrixInput.from_dict({"effective_from": "2025-01-06", "cells": cells}),
        ),
        201,
    )
    people = [f"{tag}P1", f"{tag}P2"]
    agreements = expect(
        upsert_agreements.sync_detailed(
            contract.id,
            client=council,
            body=AgreementBatch.from_dict(
                {
                    "agreements": [
                        {
                            "person_ref": person,
                            "need_bands": [{"from": "2025-01-06", "band": "medium"}],
                            "planned_sessions": [{"weekday": "monday", "session_type": "am"}],
                            "start_date": "2025-01-06",
                            "pathway": "therapeutic",
                        }
                        for person in people
                    ]
                }
            ),
        ),
        200,
    )
    assert agreements.created == 2, agreements.to_dict()

    # The provider posts its week. The Idempotency-Key makes a retry safe.
    command = shlex.split(os.environ["DAYOPS_PROVIDER_TOKEN_COMMAND"]) + [provider.id]
    provider_token = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()
    centre = client(provider_token)
    register = {
        "contract_id": contract.id,
        "period_start": day(0),
        "period_end": day(6),
        "lines": [
            {"person_ref": people[0], "date": day(0), "session_type": "am", "status": "attended",
             "meal": True, "outcome_tags": ["wellbeing"]},
            # P2 was planned on Monday too: leaving it out is REG-001.
        ],
    }
    key = str(uuid.uuid4())
    receipt = expect(
        create_register.sync_detailed(client=centre, body=RegisterInput.from_dict(register), idempotency_key=key),
        201,
    )
    codes = [f.code for f in receipt.validation.findings]
    assert "REG-001" in codes, codes
    replay = expect(
        create_register.sync_detailed(client=centre, body=RegisterInput.from_dict(register), idempotency_key=key),
        201,
    )
    assert replay.id == receipt.id, "the same key answers the same receipt"

    # Its findings, then an amendment that adds the missing line, with If-Match.
    current = get_register.sync_detailed(receipt.id, client=centre)
    expect(current, 200)
    register["lines"].append(
        {"person_ref": people[1], "date": day(0), "session_type": "am", "status": "attended",
         "community_access": True}
    )
    amended = expect(
        amend_register.sync_detailed(
            receipt.id,
            client=centre,
            body=RegisterInput.from_dict(register),
            if_match=current.headers["etag"],
        ),
        200,
    )
    assert amended.version == 2 and amended.status.value == "accepted", amended.to_dict()

    # The claim: drafted from the register, submitted, decided and paid.
    draft = expect(
        draft_claim.sync_detailed(client=centre, contract_id=contract.id, period_start=monday), 200
    )
    claim = expect(
        create_claim.sync_detailed(
            client=centre, body=ClaimInput.from_dict(draft.to_dict()), idempotency_key=str(uuid.uuid4())
        ),
        201,
    )
    assert claim.status.value == "accepted", claim.to_dict()
    decided = expect(
        decide_claim.sync_detailed(
            claim.id, client=council, body=DecisionInput(decision=DecisionKind.APPROVE, reason="matches the register")
        ),
        200,
    )
    assert decided.status.value == "approved", decided.status
    paid = expect(
        pay_claim.sync_detailed(
            claim.id, client=council, body=PaymentInput(remittance_ref=f"BACS-{tag}", paid_on=today)
        ),
        200,
    )
    assert paid.status.value == "paid" and paid.remittance_ref == f"BACS-{tag}", paid.to_dict()

    # The auditor has a checkpoint signed (it takes in every event recorded so far), reads
    # the claim's trail, and exports the contract's submissions as CSV.
    checkpoint = expect(sign_audit_checkpoint.sync_detailed(client=auditor), 200)
    assert checkpoint.tree_size > 0, checkpoint.to_dict()
    events = expect(list_audit_events.sync_detailed(client=auditor, entity_id=claim.id), 200)
    actions = [e.action for e in events.items]
    assert {"create", "approve", "pay"} <= set(actions), actions
    csv = list_submissions_csv.sync_detailed(client=auditor, contract_id=contract.id)
    expect(csv, 200)
    assert csv.content.decode().count("\n") == 3, csv.content  # a header, the register, the claim

    # The quarter's workbook: the council's template down, and up again as it is.
    quarter = f"{monday.year if monday.month > 3 else monday.year - 1}-Q{((monday.month - 4) % 12) // 3 + 1}"
    template = get_workbook_template.sync_detailed(client=centre, contract_id=contract.id, quarter=quarter)
    expect(template, 200)
    assert template.content[:2] == b"PK", "an XLSX file is a zip"
    workbook = expect(
        create_workbook.sync_detailed(
            client=centre,
            body=File(payload=io.BytesIO(template.content), file_name="workbook.xlsx"),
            idempotency_key=str(uuid.uuid4()),
        ),
        201,
    )
    print(
        f"python: register {receipt.id} v{amended.version}, claim {claim.id} {paid.status.value}, "
        f"{len(actions)} audit events, workbook {workbook.id} {workbook.status.value}"
    )


if __name__ == "__main__":
    main()

// The diesel schema shared by both back ends (migrations/sqlite and migrations/postgres
// create the same tables with the same column types).

diesel::table! {
    providers (id) {
        id -> Text,
        name -> Text,
        cqc_location_id -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contracts (id) {
        id -> Text,
        reference -> Text,
        provider_id -> Text,
        service_type -> Text,
        start_date -> Date,
        end_date -> Nullable<Date>,
        need_bands -> Text,
        session_hours -> Text,
        capacity_per_session -> Integer,
        allows_extras -> Bool,
        over_delivery_tolerance_pct -> Integer,
        register_deadline_days -> Integer,
        correction_window_days -> Integer,
        payment_period -> Text,
        payment_anchor_date -> Nullable<Date>,
        absence_policy -> Text,
        closure_dates -> Text,
        bank_holidays -> Text,
        kpi_targets -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        bank_holiday_region -> Text,
        budgets -> Text,
        annual_budget_pence -> Nullable<BigInt>,
    }
}

diesel::table! {
    rate_matrix_versions (id) {
        id -> Text,
        contract_id -> Text,
        effective_from -> Date,
        effective_to -> Nullable<Date>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    rate_cells (version_id, position) {
        version_id -> Text,
        position -> Integer,
        item -> Text,
        need_band -> Text,
        session_type -> Nullable<Text>,
        day_category -> Text,
        rate_pence -> BigInt,
    }
}

diesel::table! {
    agreements (id) {
        id -> Text,
        contract_id -> Text,
        person_ref -> Text,
        start_date -> Date,
        end_date -> Nullable<Date>,
        pathway -> Text,
        need_bands -> Text,
        planned_sessions -> Text,
        one_to_one_quarter_hours_per_week -> Integer,
        transport_journeys_per_week -> Integer,
        meals -> Integer,
        suspensions -> Text,
        care_plan_review_due -> Nullable<Date>,
        content_sha256 -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        primary_support_reason -> Nullable<Text>,
        funding -> Text,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor_sub -> Text,
        actor_role -> Text,
        action -> Text,
        entity -> Text,
        entity_id -> Text,
        version -> Nullable<Integer>,
        content_sha256 -> Nullable<Text>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
        event_id -> Nullable<Text>,
        sequenced_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_pending (event_id) {
        event_id -> Text,
        at -> Timestamp,
        actor_sub -> Text,
        actor_role -> Text,
        action -> Text,
        entity -> Text,
        entity_id -> Text,
        version -> Nullable<Integer>,
        content_sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    audit_tree (level, idx) {
        level -> Integer,
        idx -> BigInt,
        hash -> Binary,
    }
}

diesel::table! {
    audit_checkpoints (tree_size) {
        tree_size -> BigInt,
        root_hash -> Binary,
        note -> Text,
        signed_at -> Timestamp,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::joinable!(contracts -> providers (provider_id));
diesel::joinable!(rate_matrix_versions -> contracts (contract_id));
diesel::joinable!(rate_cells -> rate_matrix_versions (version_id));
diesel::joinable!(agreements -> contracts (contract_id));

diesel::table! {
    submissions (id) {
        id -> Text,
        kind -> Text,
        contract_id -> Text,
        provider_id -> Text,
        period_key -> Text,
        period_start -> Date,
        period_end -> Date,
        current_version -> Integer,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    submission_versions (submission_id, version) {
        submission_id -> Text,
        version -> Integer,
        status -> Text,
        body -> Text,
        content_sha256 -> Text,
        findings -> Text,
        submitted_by -> Text,
        submitted_at -> Timestamp,
    }
}

diesel::table! {
    register_lines (submission_id, version, line_no) {
        submission_id -> Text,
        version -> Integer,
        line_no -> Integer,
        person_ref -> Text,
        date -> Date,
        session_type -> Text,
        status -> Text,
        absence_reason -> Nullable<Text>,
        notice_hours -> Nullable<Integer>,
        one_to_one_quarter_hours -> Nullable<Integer>,
        transport_journeys -> Integer,
        meal -> Bool,
        community_access -> Bool,
        outcome_tags -> Text,
    }
}

diesel::table! {
    idempotency_keys (scope, idempotency_key) {
        scope -> Text,
        idempotency_key -> Text,
        principal_sub -> Text,
        request_sha256 -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(submission_versions -> submissions (submission_id));
diesel::joinable!(register_lines -> submissions (submission_id));

diesel::table! {
    claim_lines (submission_id, version, line_no) {
        submission_id -> Text,
        version -> Integer,
        line_no -> Integer,
        person_ref -> Text,
        date -> Date,
        item -> Text,
        session_type -> Nullable<Text>,
        quantity_quarters -> BigInt,
        need_band -> Text,
        unit_price_pence -> BigInt,
        amount_pence -> BigInt,
        accepted_quantity_quarters -> BigInt,
        accepted_unit_price_pence -> BigInt,
        accepted_amount_pence -> BigInt,
        accepted_need_band -> Nullable<Text>,
        findings -> Text,
    }
}

diesel::table! {
    claim_totals (submission_id, version) {
        submission_id -> Text,
        version -> Integer,
        claimed_total_pence -> BigInt,
        accepted_total_pence -> BigInt,
    }
}

diesel::table! {
    claimed_units (person_ref, date, session_key, item) {
        person_ref -> Text,
        date -> Date,
        session_key -> Text,
        item -> Text,
        submission_id -> Text,
    }
}

diesel::table! {
    claim_states (submission_id) {
        submission_id -> Text,
        decision -> Nullable<Text>,
        decision_reason -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        remittance_ref -> Nullable<Text>,
        paid_on -> Nullable<Date>,
        paid_by -> Nullable<Text>,
        paid_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workbook_kpis (submission_id, version, code) {
        submission_id -> Text,
        version -> Integer,
        code -> Text,
        value -> Double,
        target -> Double,
        amber_below -> Double,
        rag -> Text,
    }
}

diesel::table! {
    register_week_measures (submission_id, version) {
        submission_id -> Text,
        version -> Integer,
        attending -> BigInt,
        in_community -> BigInt,
        independence -> BigInt,
        social_inclusion -> BigInt,
        wellbeing -> BigInt,
        life_goals -> BigInt,
        employment_volunteering_education -> BigInt,
        community_networks -> BigInt,
    }
}

diesel::table! {
    register_person_weeks (submission_id, version, person_ref) {
        submission_id -> Text,
        version -> Integer,
        person_ref -> Text,
        in_community -> Bool,
        independence -> Bool,
        social_inclusion -> Bool,
        wellbeing -> Bool,
        life_goals -> Bool,
        employment_volunteering_education -> Bool,
        community_networks -> Bool,
    }
}

diesel::table! {
    workbook_person_outcomes (submission_id, version, position) {
        submission_id -> Text,
        version -> Integer,
        position -> Integer,
        person_ref -> Text,
        domain -> Text,
        status -> Text,
    }
}

diesel::table! {
    submission_findings (submission_id, version, code, severity) {
        submission_id -> Text,
        version -> Integer,
        code -> Text,
        severity -> Text,
        occurrences -> Integer,
    }
}

diesel::joinable!(submission_findings -> submissions (submission_id));

diesel::table! {
    attendance_slots (person_ref, date, slot) {
        person_ref -> Text,
        date -> Date,
        slot -> Text,
        submission_id -> Text,
    }
}

diesel::table! {
    feed_events (event_id) {
        event_id -> Text,
        seq -> Nullable<BigInt>,
        provider_id -> Text,
        event_type -> Text,
        object_id -> Text,
        object_version -> Nullable<Integer>,
        payload -> Text,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        owner -> Text,
        url -> Text,
        event_types -> Text,
        description -> Nullable<Text>,
        secret -> Text,
        status -> Text,
        disabled_reason -> Nullable<Text>,
        cursor_seq -> BigInt,
        failures -> Integer,
        failing_since -> Nullable<Timestamp>,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        leased_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        subscription_id -> Text,
        event_id -> Text,
        seq -> BigInt,
        attempt -> Integer,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
        succeeded -> Bool,
        redelivery -> Bool,
    }
}

diesel::table! {
    webhook_redeliveries (subscription_id, event_id) {
        subscription_id -> Text,
        event_id -> Text,
        requested_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    providers,
    contracts,
    rate_matrix_versions,
    rate_cells,
    agreements,
    audit_events,
    audit_head,
    audit_pending,
    audit_tree,
    audit_checkpoints,
    submissions,
    submission_versions,
    register_lines,
    idempotency_keys,
    claim_lines,
    claim_totals,
    claimed_units,
    claim_states,
    workbook_kpis,
    workbook_person_outcomes,
    register_week_measures,
    register_person_weeks,
    submission_findings,
    attendance_slots,
    feed_events,
    webhook_subscriptions,
    webhook_deliveries,
    webhook_redeliveries,
);

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
        annual_budget_pence -> BigInt,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
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
        prev_hash -> Text,
        hash -> Text,
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

diesel::allow_tables_to_appear_in_same_query!(
    providers,
    contracts,
    rate_matrix_versions,
    rate_cells,
    agreements,
    audit_events,
    audit_head,
);

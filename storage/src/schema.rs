//! Table definitions shared by both backends (the SQL lives in `migrations/<backend>/`).
//!
//! Over 400 lines by nature: one `diesel::table!` per table, in the form `diesel print-schema`
//! writes, and the joins between them; a list to look things up in, not logic to read through.

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        settings -> Text,
        created_at -> BigInt,
        pruned_seq -> BigInt,
    }
}

diesel::table! {
    org_clocks (org_id) {
        org_id -> Text,
        change_seq -> BigInt,
        audit_seq -> BigInt,
        audit_head -> Text,
    }
}

diesel::table! {
    sites (id) {
        id -> Text,
        org_id -> Text,
        parent_id -> Nullable<Text>,
        name -> Text,
        kind -> Text,
        path -> Text,
        created_at -> BigInt,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        radius_m -> Nullable<Double>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        kind -> Text,
    }
}

diesel::table! {
    memberships (user_id, site_id) {
        user_id -> Text,
        site_id -> Text,
        org_id -> Text,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        device_id -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (email) {
        email -> Text,
        failures -> Integer,
        window_started_at -> BigInt,
        locked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    templates (id) {
        id -> Text,
        org_id -> Text,
        key -> Text,
        version -> Integer,
        title -> Text,
        content -> Text,
        content_hash -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    inspections (id) {
        id -> Text,
        org_id -> Text,
        site_id -> Text,
        template_id -> Text,
        inspector_id -> Text,
        status -> Text,
        deleted -> Bool,
        started_at_device -> Nullable<BigInt>,
        finished_at_device -> Nullable<BigInt>,
        gps -> Nullable<Text>,
        submitted_at -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    answers (inspection_id, item_key) {
        inspection_id -> Text,
        item_key -> Text,
        value -> Text,
        hlc -> Text,
        answered_by -> Text,
        device_time -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    answer_history (id) {
        id -> Text,
        inspection_id -> Text,
        item_key -> Text,
        value -> Text,
        hlc -> Text,
        answered_by -> Text,
        replaced_by_hlc -> Text,
        replaced_at -> BigInt,
    }
}

diesel::table! {
    hazards (id) {
        id -> Text,
        org_id -> Text,
        site_id -> Text,
        state -> Text,
        title -> Text,
        description -> Text,
        location -> Text,
        gps -> Nullable<Text>,
        category -> Text,
        grade -> Text,
        risk -> Text,
        reporter_id -> Text,
        owner_id -> Nullable<Text>,
        verifier_id -> Nullable<Text>,
        rectified_by -> Nullable<Text>,
        measures -> Nullable<Text>,
        deadline -> Nullable<BigInt>,
        five -> Nullable<Text>,
        inspection_id -> Nullable<Text>,
        item_key -> Nullable<Text>,
        reported_at_device -> BigInt,
        reported_at -> BigInt,
        closed_at -> Nullable<BigInt>,
        overdue_notified_deadline -> Nullable<BigInt>,
        field_clocks -> Text,
        version -> BigInt,
        updated_at -> BigInt,
        search_text -> Nullable<Text>,
        flags -> Text,
        rectification_cost -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (org_id, seq) {
        org_id -> Text,
        seq -> BigInt,
        id -> Text,
        change_seq -> BigInt,
        entity_type -> Text,
        entity_id -> Text,
        hazard_id -> Nullable<Text>,
        site_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        device_id -> Nullable<Text>,
        device_time -> Nullable<BigInt>,
        server_time -> BigInt,
        event -> Text,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        payload -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        org_id -> Text,
        user_id -> Text,
        name -> Text,
        platform -> Text,
        app_version -> Text,
        last_seq -> BigInt,
        created_at -> BigInt,
        last_seen_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    device_mutations (device_id, seq) {
        device_id -> Text,
        seq -> BigInt,
        mutation_id -> Text,
        result -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    entity_changes (entity_type, entity_id) {
        entity_type -> Text,
        entity_id -> Text,
        org_id -> Text,
        site_id -> Nullable<Text>,
        seq -> BigInt,
        deleted -> Bool,
        changed_at -> BigInt,
        data -> Nullable<Text>,
        due_at -> Nullable<BigInt>,
        audience -> Nullable<Text>,
    }
}

diesel::table! {
    conflicts (id) {
        id -> Text,
        org_id -> Text,
        site_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        kind -> Text,
        field -> Nullable<Text>,
        winning_value -> Nullable<Text>,
        winning_hlc -> Nullable<Text>,
        losing_value -> Nullable<Text>,
        losing_hlc -> Nullable<Text>,
        losing_actor -> Nullable<Text>,
        losing_device -> Nullable<Text>,
        detail -> Text,
        status -> Text,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<BigInt>,
        resolution -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        secret_hash -> Text,
        scopes -> Text,
        site_ids -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotency_keys (principal_id, key) {
        principal_id -> Text,
        key -> Text,
        org_id -> Text,
        request_hash -> Text,
        outcome -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        org_id -> Text,
        url -> Text,
        description -> Text,
        event_types -> Text,
        site_id -> Nullable<Text>,
        secret -> Text,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
        consecutive_failures -> Integer,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        org_id -> Text,
        webhook_id -> Text,
        message_id -> Text,
        event_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        locked_until -> Nullable<BigInt>,
        locked_by -> Nullable<Text>,
        last_attempt_at -> Nullable<BigInt>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<BigInt>,
        redelivery_of -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    photos (org_id, sha256) {
        org_id -> Text,
        sha256 -> Text,
        status -> Text,
        size -> Nullable<BigInt>,
        content_type -> Nullable<Text>,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        captured_local -> Nullable<Text>,
        captured_offset_minutes -> Nullable<Integer>,
        captured_at -> Nullable<BigInt>,
        gps_lat -> Nullable<Double>,
        gps_lon -> Nullable<Double>,
        uploaded_by -> Nullable<Text>,
        received_at -> Nullable<BigInt>,
        thumbnail_key -> Nullable<Text>,
        display_key -> Nullable<Text>,
        created_at -> BigInt,
        flags -> Text,
    }
}

diesel::table! {
    photo_uploaders (org_id, sha256, user_id) {
        org_id -> Text,
        sha256 -> Text,
        user_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    photo_links (org_id, entity_type, entity_id, sha256, role) {
        org_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        site_id -> Text,
        sha256 -> Text,
        role -> Text,
        created_at -> BigInt,
        reported_at -> Nullable<BigInt>,
        flags -> Text,
        vouched -> Bool,
    }
}

diesel::table! {
    uploads (id) {
        id -> Text,
        org_id -> Text,
        user_id -> Text,
        sha256 -> Text,
        metadata -> Text,
        length -> BigInt,
        received -> BigInt,
        staging -> Text,
        multipart_id -> Nullable<Text>,
        parts -> Text,
        tail_key -> Nullable<Text>,
        lock_token -> Nullable<Text>,
        locked_until -> Nullable<BigInt>,
        completed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        kind -> Text,
        payload -> Text,
        dedupe_key -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        run_at -> BigInt,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    report_signoffs (id) {
        id -> Text,
        org_id -> Text,
        scope -> Text,
        period -> Text,
        snapshot -> Text,
        snapshot_hash -> Text,
        signed_by -> Text,
        signed_at -> BigInt,
        submitted_by -> Nullable<Text>,
        submitted_at -> Nullable<BigInt>,
        submission_reference -> Nullable<Text>,
    }
}

diesel::table! {
    report_deadline_notices (org_id, period, kind) {
        org_id -> Text,
        period -> Text,
        kind -> Text,
        notified_at -> BigInt,
    }
}

diesel::joinable!(org_clocks -> organisations (org_id));
diesel::joinable!(sites -> organisations (org_id));
diesel::joinable!(users -> organisations (org_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> sites (site_id));

diesel::table! {
    console_sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        org_id -> Text,
        csrf_token -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    risk_units (id) {
        id -> Text,
        org_id -> Text,
        site_id -> Text,
        name -> Text,
        kind -> Text,
        department -> Text,
        responsible_id -> Text,
        major_hazard -> Bool,
        principal_id -> Nullable<Text>,
        technical_lead_id -> Nullable<Text>,
        operations_lead_id -> Nullable<Text>,
        inherent_level -> Nullable<Text>,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    risk_events (id) {
        id -> Text,
        org_id -> Text,
        unit_id -> Text,
        name -> Text,
        method -> Text,
        likelihood -> Double,
        severity -> Nullable<Double>,
        exposure -> Nullable<Double>,
        consequence -> Nullable<Double>,
        score -> BigInt,
        level -> Text,
        assessed_by -> Text,
        assessed_at -> BigInt,
        version -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    risk_assessments (id) {
        id -> Text,
        org_id -> Text,
        event_id -> Text,
        assessed_by -> Text,
        assessed_at -> BigInt,
        old_values -> Nullable<Text>,
        new_values -> Text,
        reason -> Text,
    }
}

diesel::table! {
    control_measures (id) {
        id -> Text,
        org_id -> Text,
        event_id -> Text,
        name -> Text,
        category -> Text,
        subcategory -> Text,
        check_content -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    check_duties (id) {
        id -> Text,
        org_id -> Text,
        measure_id -> Text,
        unit_id -> Text,
        site_id -> Text,
        cycle_unit -> Text,
        cycle_every -> Integer,
        window_start -> Integer,
        window_end -> Integer,
        day_rule -> Text,
        anchor -> Text,
        assignee_id -> Nullable<Text>,
        post -> Nullable<Text>,
        lead_role -> Nullable<Text>,
        active -> Bool,
        generated_until -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    risk_pauses (id) {
        id -> Text,
        org_id -> Text,
        unit_id -> Text,
        start_at -> BigInt,
        end_at -> BigInt,
        reason -> Text,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    check_tasks (id) {
        id -> Text,
        org_id -> Text,
        duty_id -> Text,
        unit_id -> Text,
        site_id -> Text,
        period_start -> BigInt,
        window_start -> BigInt,
        window_end -> BigInt,
        assignee_id -> Nullable<Text>,
        post -> Nullable<Text>,
        state -> Text,
        missed_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    console_sessions,
    org_clocks,
    organisations,
    sites,
    users,
    memberships,
    refresh_tokens,
    login_failures,
    templates,
    inspections,
    answers,
    answer_history,
    hazards,
    audit_events,
    leases,
    devices,
    device_mutations,
    entity_changes,
    conflicts,
    webhooks,
    webhook_deliveries,
    api_clients,
    idempotency_keys,
    photos,
    photo_uploaders,
    photo_links,
    uploads,
    jobs,
    report_signoffs,
    report_deadline_notices,
    risk_units,
    risk_events,
    risk_assessments,
    control_measures,
    check_duties,
    risk_pauses,
    check_tasks,
);

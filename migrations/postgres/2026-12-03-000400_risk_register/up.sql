-- Dual prevention (双重预防): the risk register (units -> events -> control measures), the check
-- duties of the measures, paused periods, and the task instances the duties generate.
-- Times are unix milliseconds; levels are blue / yellow / orange / red (hazardloop_sync::risk).

-- A risk analysis unit (风险分析单元): a place, installation or job at a site. A major hazard
-- installation (重大危险源) names its three 包保 people.
CREATE TABLE risk_units (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    department TEXT NOT NULL,
    responsible_id TEXT NOT NULL REFERENCES users(id),
    major_hazard BOOLEAN NOT NULL DEFAULT FALSE,
    principal_id TEXT REFERENCES users(id),
    technical_lead_id TEXT REFERENCES users(id),
    operations_lead_id TEXT REFERENCES users(id),
    -- The worst colour of its events' latest assessments; NULL while no event is assessed.
    inherent_level TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, site_id, name)
);
CREATE INDEX risk_units_site ON risk_units (org_id, site_id);

-- A risk event (风险事件) at a unit with its latest assessment (method ls or lec).
CREATE TABLE risk_events (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    unit_id TEXT NOT NULL REFERENCES risk_units(id),
    name TEXT NOT NULL,
    method TEXT NOT NULL,
    likelihood DOUBLE PRECISION NOT NULL,
    severity DOUBLE PRECISION,
    exposure DOUBLE PRECISION,
    consequence DOUBLE PRECISION,
    score BIGINT NOT NULL,
    level TEXT NOT NULL,
    assessed_by TEXT NOT NULL,
    assessed_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (unit_id, name)
);

-- Every assessment of an event, the first one included: who, when, the values before and
-- after (TEXT JSON, hazardloop_sync::risk::Assessment plus method, score and level) and why.
CREATE TABLE risk_assessments (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    event_id TEXT NOT NULL REFERENCES risk_events(id),
    assessed_by TEXT NOT NULL,
    assessed_at BIGINT NOT NULL,
    old_values TEXT,
    new_values TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX risk_assessments_event ON risk_assessments (event_id, assessed_at);

-- A control measure (管控措施) of an event, classified on two levels, with what to check.
CREATE TABLE control_measures (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    event_id TEXT NOT NULL REFERENCES risk_events(id),
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    subcategory TEXT NOT NULL,
    check_content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (event_id, name)
);

-- A check duty of a measure: its cycle, working window (minutes after local midnight), day
-- rule, anchor date (YYYY-MM-DD), and who checks: a person, or a post by name. `lead_role`
-- marks the duties of a major hazard's 包保 people (principal, technical_lead,
-- operations_lead). `generated_until`: the task job has made every window opening before it.
CREATE TABLE check_duties (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    measure_id TEXT NOT NULL REFERENCES control_measures(id),
    unit_id TEXT NOT NULL REFERENCES risk_units(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    cycle_unit TEXT NOT NULL,
    cycle_every INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    day_rule TEXT NOT NULL,
    anchor TEXT NOT NULL,
    assignee_id TEXT REFERENCES users(id),
    post TEXT,
    lead_role TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    generated_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX check_duties_unit ON check_duties (unit_id);

-- A paused period of a unit (停用检维修): no task is due in [start_at, end_at).
CREATE TABLE risk_pauses (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    unit_id TEXT NOT NULL REFERENCES risk_units(id),
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX risk_pauses_unit ON risk_pauses (unit_id, start_at);

-- A task instance: one window of one duty, made once (the unique key) however many nodes run
-- the job and however often. state: open, done, done_late, missed.
CREATE TABLE check_tasks (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    duty_id TEXT NOT NULL REFERENCES check_duties(id),
    unit_id TEXT NOT NULL REFERENCES risk_units(id),
    site_id TEXT NOT NULL REFERENCES sites(id),
    period_start BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    assignee_id TEXT,
    post TEXT,
    state TEXT NOT NULL,
    missed_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (duty_id, period_start)
);
CREATE INDEX check_tasks_open ON check_tasks (state, window_end);
CREATE INDEX check_tasks_site ON check_tasks (org_id, site_id, window_start);
CREATE INDEX check_tasks_assignee ON check_tasks (org_id, assignee_id, window_start);

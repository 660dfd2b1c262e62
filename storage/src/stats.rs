//! Hazard statistics, computed from a narrow projection read in pages.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{hazards, sites};
use crate::{DbConn, StorageError};

/// Counts for one site (or the whole selection).
#[derive(Debug, Default, Clone, Serialize)]
pub struct HazardCounts {
    pub total: u64,
    pub open: u64,
    pub overdue: u64,
    pub by_state: BTreeMap<String, u64>,
    pub by_grade: BTreeMap<String, u64>,
    /// closed / (total − cancelled); null when nothing counts.
    pub closure_rate: Option<f64>,
    /// Median days from report (server time) to close.
    pub median_days_to_close: Option<f64>,
}

/// Statistics over the hazards under the given paths.
#[derive(Debug, Default, Clone, Serialize)]
pub struct HazardStats {
    #[serde(flatten)]
    pub all: HazardCounts,
    pub per_site: Vec<SiteCounts>,
}

/// One site's counts.
#[derive(Debug, Clone, Serialize)]
pub struct SiteCounts {
    pub site_id: String,
    pub site_name: String,
    #[serde(flatten)]
    pub counts: HazardCounts,
}

#[derive(Default)]
struct Acc {
    counts: HazardCounts,
    close_days: Vec<f64>,
}

impl Acc {
    fn add(
        &mut self,
        state: &str,
        grade: &str,
        deadline: Option<i64>,
        reported: i64,
        closed: Option<i64>,
        now: i64,
    ) {
        let c = &mut self.counts;
        c.total += 1;
        *c.by_state.entry(state.to_string()).or_default() += 1;
        *c.by_grade.entry(grade.to_string()).or_default() += 1;
        let open = !matches!(state, "closed" | "cancelled");
        if open {
            c.open += 1;
            if deadline.is_some_and(|d| now > d) {
                c.overdue += 1;
            }
        }
        if let Some(closed) = closed.filter(|_| state == "closed") {
            self.close_days
                .push((closed - reported) as f64 / 86_400_000.0);
        }
    }

    fn finish(mut self) -> HazardCounts {
        let cancelled = self.counts.by_state.get("cancelled").copied().unwrap_or(0);
        let closed = self.counts.by_state.get("closed").copied().unwrap_or(0);
        let base = self.counts.total - cancelled;
        self.counts.closure_rate = (base > 0).then(|| closed as f64 / base as f64);
        self.close_days.sort_by(|a, b| a.total_cmp(b));
        let n = self.close_days.len();
        self.counts.median_days_to_close = (n > 0).then(|| {
            if n % 2 == 1 {
                self.close_days[n / 2]
            } else {
                (self.close_days[n / 2 - 1] + self.close_days[n / 2]) / 2.0
            }
        });
        self.counts
    }
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    Option<i64>,
);

/// Computes the statistics for hazards whose site path starts with one of `paths` (`None`:
/// every site of the organisation).
pub fn hazard_stats(
    conn: &mut DbConn,
    org_id: &str,
    paths: Option<&[String]>,
    now: i64,
) -> Result<HazardStats, StorageError> {
    let mut all = Acc::default();
    let mut per_site: BTreeMap<String, (String, Acc)> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let page: Vec<Row> = hazards::table
            .inner_join(sites::table.on(sites::id.eq(hazards::site_id)))
            .filter(hazards::org_id.eq(org_id))
            .filter(hazards::id.gt(&after))
            .order(hazards::id.asc())
            .limit(5000)
            .select((
                hazards::id,
                sites::path,
                sites::name,
                hazards::state,
                hazards::grade,
                hazards::deadline,
                hazards::reported_at,
                hazards::closed_at,
            ))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.0.clone();
        for (_, path, name, state, grade, deadline, reported, closed) in page {
            if let Some(p) = paths {
                if !p.iter().any(|root| path.starts_with(root)) {
                    continue;
                }
            }
            all.add(&state, &grade, deadline, reported, closed, now);
            let site_id = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            per_site
                .entry(site_id)
                .or_insert_with(|| (name.clone(), Acc::default()))
                .1
                .add(&state, &grade, deadline, reported, closed, now);
        }
    }
    Ok(HazardStats {
        all: all.finish(),
        per_site: per_site
            .into_iter()
            .map(|(site_id, (site_name, acc))| SiteCounts {
                site_id,
                site_name,
                counts: acc.finish(),
            })
            .collect(),
    })
}

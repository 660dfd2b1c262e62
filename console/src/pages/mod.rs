//! One module per page family; each handler: extract the visitor, read through storage (the
//! same filters and visibility as the API), draw with `layout::page`.

pub mod admin;
pub mod conflicts;
pub mod dashboard;
pub mod events;
pub mod hazard;
pub mod hazards;
pub mod inspections;
pub mod names;
pub mod photos;
pub mod session;
pub mod words;
pub mod work;

use jiff::tz::TimeZone;
use maud::{html, Markup};

use crate::i18n::{t, Lang};
use hazardloop_storage::hazards::Hazard;

/// The hazard table shared by the list and "my work".
pub fn hazard_table(lang: Lang, zone: &TimeZone, rows: &[Hazard], now: i64, id: &str) -> Markup {
    html! {
        div class="scroll" {
            table class="hazards" id=(id) {
                thead { tr {
                    th scope="col" { (t(lang, "field-title")) }
                    th scope="col" { (t(lang, "field-state")) }
                    th scope="col" { (t(lang, "field-grade")) }
                    th scope="col" { (t(lang, "field-risk")) }
                    th scope="col" { (t(lang, "field-deadline")) }
                } }
                tbody {
                    @for h in rows {
                        tr {
                            td { a href={"/hazards/" (h.id)} { (h.title) } }
                            td { (t(lang, &format!("state-{}", h.state)))
                                @if h.is_overdue(now) { " " span class="badge overdue" { (t(lang, "overdue")) } } }
                            td { (t(lang, &format!("grade-{}", h.grade))) }
                            td { span class={"risk risk-" (h.risk)} { (t(lang, &format!("risk-{}", h.risk))) } }
                            td { @if let Some(d) = h.deadline { (crate::i18n::show_time(zone, d)) } }
                        }
                    }
                }
            }
        }
    }
}

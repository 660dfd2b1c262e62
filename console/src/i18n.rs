//! Languages: the message catalogs (Fluent, embedded), the choice between them (a cookie set
//! by the switch, else the browser's `Accept-Language`), and times shown to people, on the
//! wall clocks of the organisation's time zone (its `time_zone` setting, as reports use).

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use jiff::tz::TimeZone;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

const EN: &str = include_str!("../i18n/en.ftl");
const ZH_CN: &str = include_str!("../i18n/zh-CN.ftl");

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "hl_lang";

impl Lang {
    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::ZhCn,
            Lang::ZhCn => Lang::En,
        }
    }

    /// A tag as the cookie or a form names it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let t = tag.trim().to_ascii_lowercase();
        if t == "en" || t.starts_with("en-") {
            Some(Lang::En)
        } else if t == "zh" || t.starts_with("zh-") {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    /// The first language of `Accept-Language` (by weight) that the console speaks; English
    /// otherwise.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let mut wanted: Vec<(f32, usize, &str)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut bits = part.split(';');
                let tag = bits.next()?.trim();
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, tag))
            })
            .collect();
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        wanted
            .into_iter()
            .find_map(|(_, _, tag)| Lang::from_tag(tag))
            .unwrap_or(Lang::En)
    }
}

struct Catalogs {
    en: FluentBundle<FluentResource>,
    zh: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang, source: &'static str) -> FluentBundle<FluentResource> {
    let id = match lang {
        Lang::En => unic_langid::langid!("en"),
        Lang::ZhCn => unic_langid::langid!("zh-CN"),
    };
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: they would end up inside form values and
    // test assertions; the console's arguments are plain words and numbers.
    b.set_use_isolating(false);
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, errors)| {
        tracing::error!(?errors, "a console message catalog has errors");
        r
    });
    if let Err(errors) = b.add_resource(resource) {
        tracing::error!(?errors, "a console message catalog repeats a message");
    }
    b
}

fn catalogs() -> &'static Catalogs {
    static C: OnceLock<Catalogs> = OnceLock::new();
    C.get_or_init(|| Catalogs {
        en: bundle(Lang::En, EN),
        zh: bundle(Lang::ZhCn, ZH_CN),
    })
}

/// The message `key` in `lang`, with `args` (`{ $name }`). A missing message shows its key
/// (and the catalog test fails), never an empty string.
pub fn tr(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let c = catalogs();
    let b = match lang {
        Lang::En => &c.en,
        Lang::ZhCn => &c.zh,
    };
    let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
        return key.to_string();
    };
    let mut fargs = FluentArgs::new();
    for (k, v) in args {
        fargs.set(*k, v.to_string());
    }
    let mut errors = Vec::new();
    b.format_pattern(pattern, (!args.is_empty()).then_some(&fargs), &mut errors)
        .into_owned()
}

/// The message `key` in `lang`, without arguments.
pub fn t(lang: Lang, key: &str) -> String {
    tr(lang, key, &[])
}

/// An event type (`hazard.verified`) in words; one the catalog does not know yet is shown
/// as words made of its name rather than as a code.
pub fn event_name(lang: Lang, event: &str) -> String {
    let key = format!("event-{}", event.replace('.', "-"));
    let words = t(lang, &key);
    if words == key {
        event.replace(['.', '_'], " ")
    } else {
        words
    }
}

/// The message ids a catalog defines (for the test that keeps both catalogs equal).
pub fn message_ids(source: &str) -> Vec<String> {
    let mut ids: Vec<String> = source
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_string()))
        .collect();
    ids.sort();
    ids
}

/// The zone times are shown in when the organisation is not known yet (the sign-in page) or
/// names a zone this build does not know: the organisations' default.
pub fn default_zone() -> TimeZone {
    hazardloop_sync::period::time_zone(hazardloop_storage::orgs::DEFAULT_TIME_ZONE)
        .unwrap_or(TimeZone::UTC)
}

/// The organisation's time zone by its IANA name (the `time_zone` setting); the default zone
/// for a name the zone database does not know.
pub fn zone_named(name: &str) -> TimeZone {
    hazardloop_sync::period::time_zone(name).unwrap_or_else(|_| default_zone())
}

/// A unix-millisecond time as `2026-06-30 18:00` on the wall clocks of `zone`.
pub fn show_time(zone: &TimeZone, ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => {
            let t = zone.to_datetime(ts);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => String::new(),
    }
}

/// `2026-06-30T18:00` (a `datetime-local` input's value) read on the wall clocks of `zone`, as
/// an RFC 3339 time the engine accepts. Text that is not such a time passes through
/// unchanged, so the engine names the field in its refusal.
pub fn local_input_to_rfc3339(zone: &TimeZone, value: &str) -> String {
    let v = value.trim();
    if v.len() != 16 || v.as_bytes().get(10) != Some(&b'T') {
        return v.to_string();
    }
    match v
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| zone.to_ambiguous_timestamp(dt).compatible().ok())
    {
        Some(ts) => ts.to_string(),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_define_the_same_messages() {
        let en = message_ids(EN);
        let zh = message_ids(ZH_CN);
        assert!(en.len() > 50);
        assert_eq!(en, zh);
        for id in &en {
            assert_ne!(t(Lang::En, id), *id, "{id} does not format in en");
            assert_ne!(t(Lang::ZhCn, id), *id, "{id} does not format in zh-CN");
        }
    }

    #[test]
    fn arguments_are_placed_without_isolation_marks() {
        assert_eq!(
            tr(Lang::En, "cmd-done", &[("cmd", "Verify")]),
            "Done: Verify."
        );
        assert!(tr(Lang::ZhCn, "sign-in-locked", &[("secs", "5")]).contains("5 秒"));
    }

    #[test]
    fn accept_language_picks_the_best_spoken_language() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("fr, en;q=0.5, zh;q=0.7")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(Some("zh;q=0, en-GB")), Lang::En);
    }

    #[test]
    fn times_in_and_out() {
        let shanghai = default_zone();
        assert_eq!(show_time(&shanghai, 0), "1970-01-01 08:00");
        assert_eq!(
            local_input_to_rfc3339(&shanghai, "2026-06-30T18:00"),
            "2026-06-30T10:00:00Z"
        );
        assert_eq!(local_input_to_rfc3339(&shanghai, "soon"), "soon");
        // Summer and winter time in Berlin: the offset follows the date.
        let berlin = zone_named("Europe/Berlin");
        let june = 1_782_813_600_000; // 2026-06-30T10:00:00Z
        assert_eq!(show_time(&berlin, june), "2026-06-30 12:00");
        assert_eq!(show_time(&berlin, 1_767_261_600_000), "2026-01-01 11:00");
        assert_eq!(
            local_input_to_rfc3339(&berlin, "2026-06-30T12:00"),
            "2026-06-30T10:00:00Z"
        );
        // A name the zone database does not know falls back to the default.
        assert_eq!(
            show_time(&zone_named("Mars/Olympus"), 0),
            "1970-01-01 08:00"
        );
    }
}

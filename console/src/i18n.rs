//! Languages: the message catalogs (Fluent, embedded), the choice between them (a cookie set
//! by the switch, else the browser's `Accept-Language`), and times shown to people.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

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

/// The offset times are shown in: China Standard Time (UTC+08:00). Organisations have no
/// time zone setting yet; this is where it would be read.
pub const DISPLAY_OFFSET_MINUTES: i64 = 8 * 60;

/// A unix-millisecond time as `2026-06-30 18:00` in the display offset.
pub fn show_time(ms: i64) -> String {
    let local = hazardloop_sync::timestamp::format_rfc3339_ms(ms + DISPLAY_OFFSET_MINUTES * 60_000);
    // `2026-06-30T10:00:00.000Z` shifted: take the date and minutes.
    let date = local.get(0..10).unwrap_or_default();
    let hm = local.get(11..16).unwrap_or_default();
    format!("{date} {hm}")
}

/// `2026-06-30T18:00` (a `datetime-local` input's value) read in the display offset, as an
/// RFC 3339 time the engine accepts. Text that is not such a time passes through unchanged,
/// so the engine names the field in its refusal.
pub fn local_input_to_rfc3339(value: &str) -> String {
    let v = value.trim();
    if v.len() == 16 && v.as_bytes().get(10) == Some(&b'T') {
        let h = DISPLAY_OFFSET_MINUTES / 60;
        let m = DISPLAY_OFFSET_MINUTES % 60;
        format!("{v}:00+{h:02}:{m:02}")
    } else {
        v.to_string()
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
        assert_eq!(show_time(0), "1970-01-01 08:00");
        assert_eq!(
            local_input_to_rfc3339("2026-06-30T18:00"),
            "2026-06-30T18:00:00+08:00"
        );
        assert_eq!(local_input_to_rfc3339("soon"), "soon");
    }
}

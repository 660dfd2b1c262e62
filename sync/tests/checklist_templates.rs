//! The three fixture templates import cleanly, and answers to their items are judged as the
//! import format says.

use std::collections::BTreeMap;

use hazardloop_sync::checklist::{
    missing_required, raises_hazard, validate_answer, Item, ItemKind, Template,
};
use hazardloop_sync::{Category, GradeScale, Risk};
use serde_json::{json, Value};

const HOT_WORK: &str = include_str!("../../demo/templates/hot-work-permit.json");
const CONFINED: &str = include_str!("../../demo/templates/confined-space-entry.json");
const FIRE: &str = include_str!("../../demo/templates/fire-equipment-monthly.json");

const PHOTO: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn load(json: &str) -> Template {
    Template::parse(json).unwrap_or_else(|e| panic!("{e:?}"))
}

fn item<'t>(t: &'t Template, key: &str) -> &'t Item {
    t.item(key).unwrap_or_else(|| panic!("no item {key}"))
}

#[test]
fn fixtures_parse_and_validate() {
    for (json, key, items) in [
        (HOT_WORK, "hot-work-permit", 9),
        (CONFINED, "confined-space-entry", 8),
        (FIRE, "fire-equipment-monthly", 6),
    ] {
        let t = load(json);
        assert_eq!(t.key, key);
        assert_eq!(t.items().count(), items, "{key}");
        assert!(t.unknown_grades(&GradeScale::default()).is_empty(), "{key}");
    }
    let t = load(CONFINED);
    let oxygen = item(&t, "oxygen");
    assert_eq!(
        (oxygen.kind, oxygen.min, oxygen.max),
        (ItemKind::Number, Some(19.5), Some(23.5))
    );
    let h = oxygen.hazard.as_ref().unwrap();
    assert_eq!(
        (h.category, h.grade.as_str(), h.risk),
        (Category::UnsafeCondition, "major", Risk::Red)
    );
    assert!(!item(&load(FIRE), "notes").required);
}

#[test]
fn hash_ignores_formatting_but_not_content() {
    let t = load(HOT_WORK);
    assert_eq!(t.canonical_hash().len(), 64);
    // Same content, reformatted and with a default spelt out.
    let mut v: Value = serde_json::from_str(HOT_WORK).unwrap();
    v["sections"][1]["items"][5]["required"] = json!(false);
    let compact = serde_json::to_string(&v).unwrap();
    assert_eq!(load(&compact).canonical_hash(), t.canonical_hash());
    let mut changed = t.clone();
    changed.sections[0].items[0].prompt.push('?');
    assert_ne!(changed.canonical_hash(), t.canonical_hash());
    assert_ne!(load(FIRE).canonical_hash(), t.canonical_hash());
}

#[test]
fn validation_names_each_problem() {
    let mut t = load(HOT_WORK);
    t.sections[0].items[1].key = "permit-valid".into();
    t.sections[1].items[0].min = Some(40.0);
    t.sections[1].items[2].options.clear();
    t.sections[1].items[3].raises_hazard_on = vec!["3".into()];
    t.sections[1].items[4].hazard = t.sections[0].items[0].hazard.clone();
    t.sections[0].items[2].hazard = None;
    let problems = t.validate().unwrap_err();
    let expect = [
        "sections[0].items[1] (permit-valid): key appears more than once",
        "sections[0].items[2] (fire-watch): an item that raises a hazard needs hazard defaults",
        "sections[1].items[0] (gas-test-minutes): min 40 is greater than max 30",
        "sections[1].items[2] (combustibles-cleared): a choice item needs options",
        "sections[1].items[2] (combustibles-cleared): raises_hazard_on \"present\" is not a possible answer",
        "sections[1].items[3] (extinguishers): raises_hazard_on \"3\" is not a possible answer",
        "sections[1].items[4] (site-photo): hazard defaults given but no answer raises a hazard",
    ];
    assert_eq!(problems, expect);
}

#[test]
fn parse_refuses_unknown_keys_and_empty_templates() {
    let typo = HOT_WORK.replacen("\"raises_hazard_on\"", "\"raise_hazard_on\"", 1);
    assert!(Template::parse(&typo).unwrap_err()[0].contains("raise_hazard_on"));
    let empty = r#"{"key": "k", "title": "T", "sections": []}"#;
    assert_eq!(
        Template::parse(empty).unwrap_err(),
        ["a template needs at least one item"]
    );
    let spaced = r#"{"key": "a b", "title": " ", "sections": [{"title": "S", "items": [
        {"key": "q", "kind": "text", "prompt": "Q", "unit": "m"}]}]}"#;
    assert_eq!(
        Template::parse(spaced).unwrap_err(),
        [
            "key must be 1-100 characters without spaces",
            "title is empty",
            "sections[0].items[0] (q): unit, min and max are for number items only",
        ]
    );
}

#[test]
fn answers_by_kind() {
    let hot = load(HOT_WORK);
    let fire = load(FIRE);
    let confined = load(CONFINED);
    let ok = |t: &Template, key: &str, v: Value| validate_answer(item(t, key), &v).is_ok();

    assert!(ok(&hot, "permit-valid", json!("yes")) && ok(&hot, "permit-valid", json!("no")));
    assert!(!ok(&hot, "permit-valid", json!("na")) && !ok(&hot, "permit-valid", json!(true)));
    assert!(ok(&fire, "gauge-green", json!("na")));
    assert!(ok(&hot, "lel-percent", json!(55)) && ok(&hot, "lel-percent", json!(-1.5)));
    assert!(!ok(&hot, "lel-percent", json!("5")));
    assert!(
        ok(&hot, "extinguishers", json!("2 or more")) && !ok(&hot, "extinguishers", json!("3"))
    );
    assert!(ok(
        &confined,
        "rescue-gear",
        json!(["SCBA", "first aid kit"])
    ));
    assert!(ok(&confined, "rescue-gear", json!([])));
    assert!(!ok(&confined, "rescue-gear", json!(["SCBA", "SCBA"])));
    assert!(
        !ok(&confined, "rescue-gear", json!(["rope"]))
            && !ok(&confined, "rescue-gear", json!("SCBA"))
    );
    assert!(ok(&hot, "remarks", json!("all fine")) && !ok(&hot, "remarks", json!(3)));
    assert!(
        ok(&hot, "remarks", json!("长".repeat(10_000)))
            && !ok(&hot, "remarks", json!("x".repeat(10_001)))
    );
    assert!(ok(&hot, "site-photo", json!(PHOTO)) && ok(&hot, "site-photo", json!([PHOTO, PHOTO])));
    assert!(
        !ok(&hot, "site-photo", json!("photo.jpg"))
            && !ok(&hot, "site-photo", json!([PHOTO.to_uppercase()]))
    );
    assert!(ok(&hot, "site-photo", Value::Null), "null clears an answer");
}

#[test]
fn which_answers_raise_a_hazard() {
    let hot = load(HOT_WORK);
    let confined = load(CONFINED);
    let fire = load(FIRE);
    let raises = |t: &Template, key: &str, v: Value| raises_hazard(item(t, key), &v);
    assert!(
        raises(&hot, "permit-valid", json!("no")) && !raises(&hot, "permit-valid", json!("yes"))
    );
    assert!(raises(&hot, "combustibles-cleared", json!("present")));
    assert!(!raises(&hot, "combustibles-cleared", json!("cleared")));
    assert!(raises(&confined, "oxygen", json!(19.4)) && raises(&confined, "oxygen", json!(24)));
    assert!(!raises(&confined, "oxygen", json!(19.5)) && !raises(&confined, "oxygen", json!(23.5)));
    assert!(raises(&fire, "count", json!(1)) && !raises(&fire, "count", json!(2)));
    assert!(!raises(&fire, "gauge-green", json!("na")));
    assert!(
        !raises(&hot, "permit-valid", json!("nope")),
        "an invalid answer raises nothing"
    );
    assert!(!raises(&hot, "remarks", json!("no")));
}

#[test]
fn required_items_left_unanswered() {
    let t = load(CONFINED);
    let mut answers: BTreeMap<String, Value> = BTreeMap::new();
    assert_eq!(missing_required(&t, &answers).len(), 8);
    for (k, v) in [
        ("isolated", json!("yes")),
        ("ventilated", json!("yes")),
        ("oxygen", json!(20.9)),
        ("h2s-ppm", json!(0)),
        ("co-ppm", Value::Null),
        ("attendant", json!("yes")),
        ("rescue-gear", json!([])),
        ("entry-photo", json!([])),
    ] {
        answers.insert(k.into(), v);
    }
    assert_eq!(missing_required(&t, &answers), ["co-ppm", "entry-photo"]);
    answers.insert("co-ppm".into(), json!(3));
    answers.insert("entry-photo".into(), json!(PHOTO));
    assert!(missing_required(&t, &answers).is_empty());
    let fire = load(FIRE);
    let mut blank = BTreeMap::new();
    blank.insert("exits-clear".to_owned(), json!(" "));
    assert!(missing_required(&fire, &blank).contains(&"exits-clear".to_owned()));
    assert!(!missing_required(&fire, &blank).contains(&"notes".to_owned()));
}

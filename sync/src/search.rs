//! Text search over hazards: one folding rule for the stored text and the needle, so matching
//! is the same on SQLite and PostgreSQL whatever their collations, and a needle is matched
//! literally (its `%`, `_` and `\` are not wildcards).
//!
//! Folding is Unicode lower-casing (`str::to_lowercase`: every script with case, e.g. `Ä`/`ä`,
//! `Σ`/`σ`, `Ж`/`ж`), with the final sigma `ς` taken as `σ`. It is not full case folding or
//! normalisation: `ß` does not match `ss`, and a precomposed `é` does not match `e` followed by
//! a combining accent. Scripts without case (Chinese) are compared as they are.

/// The searchable form of a text.
pub fn fold(text: &str) -> String {
    text.to_lowercase().replace('ς', "σ")
}

/// The escape character of [`contains_pattern`]; the query passes it as `ESCAPE`.
pub const LIKE_ESCAPE: char = '\\';

/// A `LIKE` pattern matching folded texts that contain the folded `needle` literally.
pub fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in fold(needle).chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_escape_are_escaped() {
        assert_eq!(contains_pattern("under_score"), "%under\\_score%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a\\b"), "%a\\\\b%");
    }

    #[test]
    fn folding_lowers_every_cased_script() {
        assert_eq!(fold("Loose GRATING"), "loose grating");
        assert_eq!(fold("ÄRGER"), "ärger");
        assert_eq!(fold("ΟΔΟΣ"), fold("οδος"));
        assert_eq!(fold("消防通道"), "消防通道");
    }
}

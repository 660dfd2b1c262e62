//! Chart geometry for the dashboard, drawn as inline SVG on the server. Colours come from CSS
//! classes in `console.css` (the CSP allows no inline style); only geometry is computed here.

use maud::{html, Markup};

/// A round upper bound for an axis holding values up to `max` (1, 2, 5 × 10ⁿ; at least 1).
pub fn nice_max(max: f64) -> f64 {
    if max.is_nan() || max <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if max <= step * mag {
            return step * mag;
        }
    }
    10.0 * mag
}

/// Where `value` falls on an axis of `length` pixels from 0 to `top`.
pub fn scale(value: f64, top: f64, length: f64) -> f64 {
    if top <= 0.0 {
        return 0.0;
    }
    (value.max(0.0) / top).min(1.0) * length
}

/// One stacked segment: its class suffix and the x range it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub key: String,
    pub x: f64,
    pub width: f64,
}

/// The segments of one stacked bar of `width` pixels at full `top`.
pub fn stack(parts: &[(String, u64)], top: f64, width: f64) -> Vec<Segment> {
    let mut x = 0.0;
    let mut out = Vec::new();
    for (key, n) in parts {
        let w = scale(*n as f64, top, width);
        if w > 0.0 {
            out.push(Segment {
                key: key.clone(),
                x,
                width: w,
            });
        }
        x += w;
    }
    out
}

/// `x,y` points of a line over `values` spread across `width`, bottom at `height`.
pub fn polyline(values: &[f64], top: f64, width: f64, height: f64) -> String {
    let n = values.len();
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = if n > 1 {
                i as f64 * width / (n - 1) as f64
            } else {
                width / 2.0
            };
            let y = height - scale(*v, top, height);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const W: f64 = 640.0;
const LABEL: f64 = 150.0;
const ROW: f64 = 28.0;

/// Horizontal stacked bars, one per row: (label, parts). `class` names the colour family.
pub fn stacked_bars(id: &str, title: &str, rows: &[(String, Vec<(String, u64)>)]) -> Markup {
    let max = rows
        .iter()
        .map(|(_, p)| p.iter().map(|x| x.1).sum::<u64>())
        .max()
        .unwrap_or(0);
    let top = nice_max(max as f64);
    let bar = W - LABEL - 40.0;
    let h = ROW * rows.len() as f64 + 24.0;
    html! {
        svg id=(id) class="chart" role="img" aria-label=(title) viewBox={"0 0 " (W) " " (h)} {
            title { (title) }
            @for (i, (label, parts)) in rows.iter().enumerate() {
                @let y = i as f64 * ROW + 4.0;
                text x=(LABEL - 6.0) y=(y + 15.0) text-anchor="end" class="axis" { (label) }
                @for s in stack(parts, top, bar) {
                    rect class={"seg seg-" (s.key)} x=(format!("{:.1}", LABEL + s.x)) y=(y) width=(format!("{:.1}", s.width)) height="20" {
                        title { (s.key) ": " (parts.iter().find(|p| p.0 == s.key).map(|p| p.1).unwrap_or(0)) }
                    }
                }
                text x=(format!("{:.1}", LABEL + scale(parts.iter().map(|p| p.1).sum::<u64>() as f64, top, bar) + 4.0)) y=(y + 15.0) class="axis" {
                    (parts.iter().map(|p| p.1).sum::<u64>())
                }
            }
        }
    }
}

/// A line over monthly values, labelled below; `percent` shows values as percentages.
pub fn line(id: &str, title: &str, labels: &[String], values: &[f64], percent: bool) -> Markup {
    let top = if percent {
        1.0
    } else {
        nice_max(values.iter().copied().fold(0.0, f64::max))
    };
    let (pw, ph, left) = (W - 60.0, 160.0, 40.0);
    let pts = polyline(values, top, pw, ph);
    let n = values.len();
    let x_of = |i: usize| {
        left + if n > 1 {
            i as f64 * pw / (n - 1) as f64
        } else {
            pw / 2.0
        }
    };
    let show = |v: f64| {
        if percent {
            format!("{:.0}%", v * 100.0)
        } else if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    html! {
        svg id=(id) class="chart" role="img" aria-label=(title) viewBox={"0 0 " (W) " " (ph + 40.0)} {
            title { (title) }
            line class="axis-line" x1=(left) y1=(ph + 10.0) x2=(left + pw) y2=(ph + 10.0) {}
            text x=(left - 4.0) y="14" text-anchor="end" class="axis" { (show(top)) }
            text x=(left - 4.0) y=(ph + 10.0) text-anchor="end" class="axis" { "0" }
            g transform={"translate(" (left) ",10)"} {
                polyline class="line" points=(pts) {}
            }
            @for (i, v) in values.iter().enumerate() {
                @let x = x_of(i);
                @let y = 10.0 + ph - scale(*v, top, ph);
                circle class="dot" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {
                    title { (labels.get(i).map(String::as_str).unwrap_or("")) ": " (show(*v)) }
                }
                text x=(format!("{x:.1}")) y=(ph + 34.0) text-anchor="middle" class="axis" {
                    (labels.get(i).map(String::as_str).unwrap_or(""))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(100.0), 100.0);
        assert_eq!(nice_max(501.0), 1000.0);
        assert_eq!(scale(5.0, 10.0, 200.0), 100.0);
        assert_eq!(scale(20.0, 10.0, 200.0), 200.0);
        assert_eq!(scale(1.0, 0.0, 200.0), 0.0);
    }

    #[test]
    fn stacks_and_lines() {
        let s = stack(
            &[("a".into(), 1), ("b".into(), 0), ("c".into(), 3)],
            4.0,
            100.0,
        );
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].x, s[0].width), (0.0, 25.0));
        assert_eq!((s[1].key.as_str(), s[1].x, s[1].width), ("c", 25.0, 75.0));
        assert_eq!(
            polyline(&[0.0, 1.0, 0.5], 1.0, 100.0, 50.0),
            "0.0,50.0 50.0,0.0 100.0,25.0"
        );
        assert_eq!(polyline(&[1.0], 2.0, 100.0, 50.0), "50.0,25.0");
    }

    #[test]
    fn labels_are_escaped() {
        let m = stacked_bars("x", "t", &[("<b>".into(), vec![("open".into(), 1)])]);
        assert!(m.into_string().contains("&lt;b&gt;"));
    }
}

//! Self-contained SVG line charts of benchmark results, drawn by hand.
//!
//! docs/benchmarks.md shows how figures move with the number of subscribers, per serializer.
//! The results are JSON lines; this module groups them into series (one per serializer by
//! default), and writes an SVG with axes, ticks, labels and a legend. No plotting crate: the
//! chart is a few dozen elements and must be reproducible from the repository alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, sorted by x.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis (decades).
    pub log_x: bool,
    /// The lines.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

fn as_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Builds series from JSON lines: points `(x, y)` from each object that has numeric `x` and
/// `y` fields and matches every `key=value` in `filters`, one series per value of `group_by`.
/// Points with the same x in a series are averaged.
pub fn series_from_jsonl(
    text: &str,
    x: &str,
    y: &str,
    group_by: &str,
    filters: &[(String, String)],
) -> Result<Vec<Series>, String> {
    let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let obj: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", n + 1))?;
        let matches = filters
            .iter()
            .all(|(k, v)| obj.get(k).map(as_label).as_deref() == Some(v.as_str()));
        if !matches {
            continue;
        }
        let (Some(px), Some(py)) = (
            obj.get(x).and_then(as_number),
            obj.get(y).and_then(as_number),
        ) else {
            continue;
        };
        let group = obj
            .get(group_by)
            .map(as_label)
            .unwrap_or_else(|| "all".into());
        groups.entry(group).or_default().push((px, py));
    }
    let series: Vec<Series> = groups
        .into_iter()
        .map(|(name, mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut merged: Vec<(f64, f64, u32)> = Vec::new();
            for (px, py) in points {
                match merged.last_mut() {
                    Some(last) if last.0 == px => {
                        last.1 += py;
                        last.2 += 1;
                    }
                    _ => merged.push((px, py, 1)),
                }
            }
            Series {
                name,
                points: merged
                    .into_iter()
                    .map(|(px, py, k)| (px, py / f64::from(k)))
                    .collect(),
            }
        })
        .collect();
    if series.is_empty() {
        return Err(format!("no result line has numeric {x:?} and {y:?}"));
    }
    Ok(series)
}

/// A "nice" tick step (1, 2 or 5 × 10^k) covering `range` in about `ticks` steps.
pub fn nice_step(range: f64, ticks: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / ticks;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Compact tick label: 3000000 → "3M", 1500 → "1.5k", 0.25 → "0.25".
pub fn format_tick(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(format!("{:.2}", v / 1e9)))
    } else if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.2}", v / 1e3)))
    } else {
        trim(format!("{v:.3}"))
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the chart as a standalone SVG document.
pub fn render_svg(chart: &Chart) -> String {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for &(x, y) in points {
        if chart.log_x && x <= 0.0 {
            continue;
        }
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if !x_min.is_finite() {
        (x_min, x_max) = (if chart.log_x { 1.0 } else { 0.0 }, 1.0);
    }
    let y_step = nice_step(if y_max > 0.0 { y_max } else { 1.0 }, 5.0);
    let y_top = ((y_max / y_step).ceil() * y_step).max(y_step);

    let (x_lo, x_hi, x_ticks): (f64, f64, Vec<f64>) = if chart.log_x {
        let lo = x_min.log10().floor();
        let hi = x_max.log10().ceil().max(lo + 1.0);
        let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
        (lo, hi, ticks)
    } else {
        let step = nice_step((x_max - x_min).max(1e-9), 6.0);
        let lo = (x_min / step).floor() * step;
        let hi = ((x_max / step).ceil() * step).max(lo + step);
        let n = ((hi - lo) / step).round() as i64;
        let ticks = (0..=n).map(|i| lo + i as f64 * step).collect();
        (lo, hi, ticks)
    };

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| {
        let v = if chart.log_x {
            x.max(1e-300).log10()
        } else {
            x
        };
        LEFT + (v - x_lo) / (x_hi - x_lo) * plot_w
    };
    let sy = |y: f64| TOP + plot_h - (y / y_top) * plot_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(&chart.title)
    );
    // Grid and y ticks.
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let py = sy(y);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e0e0e0"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            py + 4.0,
            format_tick(y)
        );
        y += y_step;
    }
    // X ticks.
    for &x in &x_ticks {
        let px = sx(x);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#f0f0f0"/>"##,
            TOP + plot_h
        );
        let _ = writeln!(
            svg,
            r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 18.0,
            format_tick(x)
        );
    }
    // Axes.
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#,
        TOP + plot_h
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 24.0,
        escape(&chart.x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">{}</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(&chart.y_label)
    );
    // Series and legend.
    for (i, series) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let coords: Vec<String> = series
            .points
            .iter()
            .filter(|(x, _)| !chart.log_x || *x > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            coords.join(" ")
        );
        for c in &coords {
            if let Some((cx, cy)) = c.split_once(',') {
                let _ = writeln!(svg, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
            }
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + plot_w + 20.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/>"#,
            lx + 24.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 30.0,
            ly + 4.0,
            escape(&series.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"
{"scenario":"fanout","serializer":"json","subscribers":1,"deliveries_per_sec":100000}
{"scenario":"fanout","serializer":"json","subscribers":1000,"deliveries_per_sec":3000000}
{"scenario":"fanout","serializer":"json","subscribers":100,"deliveries_per_sec":2000000}
{"scenario":"fanout","serializer":"json","subscribers":100,"deliveries_per_sec":2200000}
{"scenario":"fanout","serializer":"msgpack","subscribers":1000,"deliveries_per_sec":3500000}
{"scenario":"latency","serializer":"json","subscribers":100,"p99_us":900}
"#;

    #[test]
    fn series_grouping_filtering_and_averaging() {
        let filters = vec![("scenario".to_owned(), "fanout".to_owned())];
        let s = series_from_jsonl(
            LINES,
            "subscribers",
            "deliveries_per_sec",
            "serializer",
            &filters,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "json");
        assert_eq!(
            s[0].points,
            vec![
                (1.0, 100_000.0),
                (100.0, 2_100_000.0),
                (1000.0, 3_000_000.0)
            ]
        );
        assert_eq!(s[1].points, vec![(1000.0, 3_500_000.0)]);
        assert!(series_from_jsonl(LINES, "subscribers", "nope", "serializer", &[]).is_err());
        assert!(series_from_jsonl("garbage\n", "a", "b", "c", &[]).is_err());
    }

    #[test]
    fn svg_shape() {
        let series = series_from_jsonl(
            LINES,
            "subscribers",
            "deliveries_per_sec",
            "serializer",
            &[],
        )
        .unwrap();
        for log_x in [false, true] {
            let svg = render_svg(&Chart {
                title: "Fan-out <1 publisher>".into(),
                x_label: "subscribers".into(),
                y_label: "deliveries/s".into(),
                log_x,
                series: series.clone(),
            });
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert!(svg.trim_end().ends_with("</svg>"));
            assert_eq!(svg.matches("<polyline").count(), 2);
            assert_eq!(svg.matches("<circle").count(), 4);
            assert!(svg.contains("Fan-out &lt;1 publisher&gt;"));
            assert!(svg.contains(">subscribers</text>"));
            assert!(svg.contains(">deliveries/s</text>"));
            assert!(svg.contains(">json</text>") && svg.contains(">msgpack</text>"));
            assert!(svg.contains(">3M</text>") || svg.contains(">3.5M</text>"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"));
        }
    }

    #[test]
    fn ticks() {
        assert_eq!(nice_step(3_500_000.0, 5.0), 1_000_000.0);
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(format_tick(3_000_000.0), "3M");
        assert_eq!(format_tick(1_500_000.0), "1.5M");
        assert_eq!(format_tick(20_000.0), "20k");
        assert_eq!(format_tick(1000.0), "1000");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(0.0), "0");
    }
}

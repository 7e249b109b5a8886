//! Draws a [`Chart`] as SVG with `plotters` (its SVG backend only): lines for
//! the hourly charts, stacked bars for the daily one, a legend, and the axes
//! saying what is missing ("no replies in this window") when there is nothing to draw.
//!
//! The console's CSP (`style-src 'self'`) blocks `style=` attributes inside an
//! inline SVG; plotters writes presentation attributes (`fill=`, `stroke=`,
//! `font-size=`) only, and escapes text (kinds and labels come from the database).

use super::charts::{Chart, ChartName};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const SIZE: (u32, u32) = (720, 260);

const COLORS: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

type Failed = Box<dyn std::error::Error>;

/// `chart` as an `<svg>` element (with a `<title>`), to inline or to serve.
pub fn svg(chart: &Chart) -> String {
    let mut out = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, chart).and_then(|()| root.present().map_err(Failed::from))
    };
    if let Err(error) = drawn {
        tracing::warn!(%error, chart = chart.name, "Console chart could not be drawn");
        return format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\"><text x=\"10\" y=\"20\">the chart could not be drawn</text></svg>",
            SIZE.0, SIZE.1
        );
    }
    titled(out, &chart.caption)
}

/// Adds a `<title>` (what screen readers and tooltips say) after the `<svg …>` tag.
fn titled(svg: String, caption: &str) -> String {
    let Some(end) = svg.find('>') else {
        return svg;
    };
    let escaped = caption
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "{} role=\"img\"><title>{escaped}</title>{}",
        &svg[..end],
        &svg[end + 1..]
    )
}

fn draw(root: &DrawingArea<SVGBackend<'_>, Shift>, chart: &Chart) -> Result<(), Failed> {
    root.fill(&WHITE)?;
    let n = chart.buckets.len().max(1) as f64;
    let top = y_max(chart) * 1.1;
    let mut ctx = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..n, 0f64..top)?;
    let label = |x: &f64| bucket_label(chart, *x);
    ctx.configure_mesh()
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    if chart.is_empty() {
        root.draw(&Text::new(
            ChartName::parse(chart.name).map_or("nothing in this window", ChartName::nothing),
            (SIZE.0 as i32 / 2, SIZE.1 as i32 / 2),
            ("sans-serif", 16)
                .into_font()
                .color(&BLACK.mix(0.6))
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
        return Ok(());
    }
    match chart.stacked {
        true => bars(&mut ctx, chart)?,
        false => lines(&mut ctx, chart)?,
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}

type Ctx<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Each series as lines through its buckets' middles, broken where it has no value.
fn lines(ctx: &mut Ctx<'_, '_>, chart: &Chart) -> Result<(), Failed> {
    for (i, line) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = color.stroke_width(2);
        ctx.draw_series(LineSeries::new(Vec::<(f64, f64)>::new(), style))?
            .label(line.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        for run in runs(&line.values) {
            if run.len() == 1 {
                ctx.draw_series(std::iter::once(Circle::new(run[0], 2, color.filled())))?;
            } else {
                ctx.draw_series(LineSeries::new(run, style))?;
            }
        }
    }
    Ok(())
}

/// The stretches of `values` without a gap, as (bucket middle, value) points.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((i as f64 + 0.5, *v)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// One bar per bucket, its series stacked in order.
fn bars(ctx: &mut Ctx<'_, '_>, chart: &Chart) -> Result<(), Failed> {
    let mut base = vec![0.0; chart.buckets.len()];
    for (i, line) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let rects: Vec<Rectangle<(f64, f64)>> = line
            .values
            .iter()
            .enumerate()
            .filter_map(|(b, v)| {
                let v = v.filter(|v| *v > 0.0)?;
                let bottom = base[b];
                base[b] += v;
                Some(Rectangle::new(
                    [(b as f64 + 0.15, bottom), (b as f64 + 0.85, bottom + v)],
                    color.filled(),
                ))
            })
            .collect();
        ctx.draw_series(rects)?
            .label(line.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    Ok(())
}

/// The highest point (of a stack, when stacked), at least 1.
fn y_max(chart: &Chart) -> f64 {
    let buckets = chart.buckets.len();
    let highest = match chart.stacked {
        true => (0..buckets)
            .map(|b| {
                chart
                    .series
                    .iter()
                    .filter_map(|l| l.values.get(b).copied().flatten())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        false => chart
            .series
            .iter()
            .flat_map(|l| l.values.iter().flatten())
            .fold(0.0_f64, |a, b| a.max(*b)),
    };
    highest.max(1.0)
}

/// The axis label at `x`: the hour (`HH:00`) over a day, else the date (`MM-DD`).
fn bucket_label(chart: &Chart, x: f64) -> String {
    let Some(start) = chart.buckets.get(x.max(0.0) as usize) else {
        return String::new();
    };
    match (chart.unit, chart.buckets.len() <= 24) {
        ("hour", true) => start.get(11..16).unwrap_or_default().to_string(),
        _ => start.get(5..10).unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::charts::Line;

    fn chart(values: Vec<Option<f64>>, stacked: bool) -> Chart {
        let total = values.iter().flatten().sum::<f64>() as i64;
        Chart {
            name: "events",
            title: "t",
            window: "24h",
            unit: "hour",
            buckets: (0..values.len())
                .map(|h| format!("2026-12-01T{h:02}:00:00.000Z"))
                .collect(),
            series: vec![Line {
                name: "<script>alert(1)</script>".into(),
                values,
            }],
            total,
            caption: "a <caption> & more".into(),
            stacked,
        }
    }

    #[test]
    fn a_chart_is_one_svg_without_style_attributes_and_with_its_text_escaped() {
        for stacked in [false, true] {
            let svg = svg(&chart(vec![Some(1.0), None, Some(3.0), Some(2.0)], stacked));
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{svg}"
            );
            assert!(
                !svg.contains("style="),
                "CSP blocks style attributes: {svg}"
            );
            assert!(!svg.contains("<script"), "{svg}");
            assert!(
                svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{svg}"
            );
            assert!(
                svg.contains("<title>a &lt;caption&gt; &amp; more</title>"),
                "{svg}"
            );
        }
    }

    #[test]
    fn an_empty_chart_shows_its_axes_and_says_so() {
        let svg = svg(&chart(vec![Some(0.0); 24], false));
        assert!(svg.contains("no events in this window"), "{svg}");
        assert!(svg.contains("00:00"), "the axis is drawn: {svg}");
    }

    #[test]
    fn gaps_break_a_line() {
        let runs = runs(&[Some(1.0), None, Some(2.0), Some(3.0), None]);
        assert_eq!(runs, vec![vec![(0.5, 1.0)], vec![(2.5, 2.0), (3.5, 3.0)]]);
    }
}

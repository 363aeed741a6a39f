//! Charts as inline SVG, drawn on the server by plotters: pages show them without script.

use plotters::prelude::*;

/// The colours of successive series.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// One line of a chart: its name and (unix seconds, value) points, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(u64, f64)>,
}

/// A line chart of `series` over time as an SVG document, `width`×`height` pixels. The
/// y axis is labelled with `format_y`. With no points at all it says so instead.
pub(crate) fn line_chart(
    title: &str,
    series: &[Series],
    format_y: &dyn Fn(f64) -> String,
    (width, height): (u32, u32),
) -> String {
    let mut svg = String::new();
    let drawn = draw(&mut svg, title, series, format_y, (width, height));
    if let Err(error) = drawn {
        tracing::warn!(%error, title, "chart not drawn");
        return String::new();
    }
    svg
}

fn draw(
    svg: &mut String,
    title: &str,
    series: &[Series],
    format_y: &dyn Fn(f64) -> String,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut top) = (u64::MAX, 0u64, 0f64);
    for &(t, v) in points {
        t0 = t0.min(t);
        t1 = t1.max(t);
        top = top.max(v);
    }
    if t0 == u64::MAX {
        root.draw(&Text::new(
            format!("{title}: no data yet"),
            (10, 20),
            ("sans-serif", 14).into_font(),
        ))?;
        root.present()?;
        return Ok(());
    }
    let t1 = t1.max(t0 + 1);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(80)
        .build_cartesian_2d(t0..t1, 0f64..top)?;
    let span = t1 - t0;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|t| clock(*t, span))
        .y_label_formatter(&|v| format_y(*v))
        .draw()?;
    for (index, line) in series.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// A time of day (UTC) for an axis spanning `span` seconds: minutes matter under a day.
fn clock(unix: u64, span: u64) -> String {
    let day = unix % 86_400;
    let (h, m, s) = (day / 3600, day % 3600 / 60, day % 60);
    if span < 600 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_with_points_draws_a_line_through_them() {
        let series = [Series {
            name: "bitcoin".into(),
            points: vec![(1_000, 1.0), (1_060, 5.0), (1_120, 3.0)],
        }];
        let svg = line_chart("Hashrate", &series, &|v| format!("{v:.0}"), (400, 200));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "no line: {svg}");
        assert!(svg.contains("Hashrate"));
    }

    #[test]
    fn an_empty_chart_says_there_is_no_data() {
        let svg = line_chart("Workers", &[], &|v| format!("{v}"), (400, 200));
        assert!(svg.contains("no data yet"), "{svg}");
        assert!(!svg.contains("<polyline"));
    }

    #[test]
    fn axis_times_are_utc_clock_times() {
        assert_eq!(clock(3_600 + 61, 60), "01:01:01");
        assert_eq!(clock(86_400 + 7_260, 7_200), "02:01");
    }
}

//! The overview page (`/?window=24h|7d|30d`, default 24h): actions by status,
//! the rules, the streams with the age of their last message, and the four
//! charts inline as SVG; each chart alone at `/charts/NAME.svg?window=…` and the
//! data it is drawn from at `/charts/NAME.json?window=…`. A window not in
//! [`Window::ALL`] answers a 400 page naming the allowed values.

use super::Console;
use super::charts::{self, Chart, ChartName, Window};
use super::pages::{database_failure, failure, page};
use super::{plot, queries};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use time::OffsetDateTime;

/// The `window` a query string asks for: the default without one, the text
/// given when it names no window.
fn window_of(query: Option<&str>) -> Result<Window, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
    match pairs.iter().rev().find(|(k, _)| k == "window") {
        None => Ok(Window::default()),
        Some((_, text)) => Window::parse(text).ok_or_else(|| text.clone()),
    }
}

fn bad_window(console: &Console, headers: &HeaderMap, given: &str) -> Response {
    failure(
        console,
        headers,
        StatusCode::BAD_REQUEST,
        "No such window",
        &format!(
            "The charts cover one of these windows: {} (as in /?window=7d); {given:?} is not one of them.",
            Window::allowed()
        ),
    )
}

pub async fn overview(
    State(console): State<Console>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let window = match window_of(query.as_deref()) {
        Ok(window) => window,
        Err(given) => return bad_window(&console, &headers, &given),
    };
    let now = console.clock.now();
    let read = async {
        tokio::try_join!(
            queries::actions_by_status(&console.store),
            queries::streams(&console.store),
            charts::read(&console.store, &console.hours, window, now),
        )
    };
    match read.await {
        Ok((actions, streams, charts)) => page(
            &console,
            &headers,
            "overview.html",
            "overview",
            context! {
                actions => actions,
                streams => with_ages(streams, now),
                rules => Value::from_serialize(console.rules.status()),
                charts => charts.iter().map(figure).collect::<Vec<_>>(),
                windows => windows(window),
                window => window.as_str(),
            },
        ),
        Err(e) => database_failure(&console, &headers, e),
    }
}

/// What the template needs of one chart: its id, caption, SVG and data link.
fn figure(chart: &Chart) -> Value {
    context! {
        id => format!("chart-{}", chart.name),
        caption => &chart.caption,
        svg => plot::svg(chart),
        json => format!("/charts/{}.json?window={}", chart.name, chart.window),
    }
}

/// The window links above the charts, the current one marked.
fn windows(current: Window) -> Vec<Value> {
    Window::ALL
        .iter()
        .map(|w| {
            context! {
                name => w.as_str(),
                href => format!("/?window={}", w.as_str()),
                current => *w == current,
            }
        })
        .collect()
}

/// Each stream row with `last_message_age` ("12 s ago"), read against `now`.
fn with_ages(mut streams: queries::Rows, now: OffsetDateTime) -> queries::Rows {
    for row in &mut streams {
        let age = row["last_message_at"]
            .as_str()
            .and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|at| age(now - at));
        if let (Some(object), Some(age)) = (row.as_object_mut(), age) {
            object.insert("last_message_age".into(), age.into());
        }
    }
    streams
}

/// A duration as a person reads an age: the largest unit that fits.
pub fn age(elapsed: time::Duration) -> String {
    let secs = elapsed.whole_seconds();
    match secs {
        s if s < 0 => "just now".to_string(),
        s if s < 120 => format!("{s} s ago"),
        s if s < 2 * 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// `/charts/NAME.svg` or `/charts/NAME.json`, over `?window=`.
pub async fn chart(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let window = match window_of(query.as_deref()) {
        Ok(window) => window,
        Err(given) => return bad_window(&console, &headers, &given),
    };
    let found = file
        .rsplit_once('.')
        .and_then(|(name, ext)| Some((ChartName::parse(name)?, ext)))
        .filter(|(_, ext)| matches!(*ext, "svg" | "json"));
    let Some((name, ext)) = found else {
        let names: Vec<&str> = ChartName::ALL.iter().map(|c| c.as_str()).collect();
        return failure(
            &console,
            &headers,
            StatusCode::NOT_FOUND,
            "No such chart",
            &format!(
                "The charts are {}, each as NAME.svg or NAME.json.",
                names.join(", ")
            ),
        );
    };
    let chart = match charts::read_one(
        &console.store,
        &console.hours,
        name,
        window,
        console.clock.now(),
    )
    .await
    {
        Ok(chart) => chart,
        Err(e) => return database_failure(&console, &headers, e),
    };
    match ext {
        "svg" => ([(header::CONTENT_TYPE, "image/svg+xml")], plot::svg(&chart)).into_response(),
        _ => Json(chart).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_read_from_the_query_string() {
        assert_eq!(window_of(None), Ok(Window::Day));
        assert_eq!(window_of(Some("window=7d")), Ok(Window::Week));
        assert_eq!(window_of(Some("x=1&window=30d")), Ok(Window::Month));
        assert_eq!(window_of(Some("window=1y")), Err("1y".to_string()));
        assert_eq!(window_of(Some("window=")), Err(String::new()));
    }

    #[test]
    fn ages_read_in_the_largest_unit_that_fits() {
        assert_eq!(age(time::Duration::seconds(12)), "12 s ago");
        assert_eq!(age(time::Duration::minutes(30)), "30 min ago");
        assert_eq!(age(time::Duration::hours(5)), "5 h ago");
        assert_eq!(age(time::Duration::days(3)), "3 d ago");
    }
}

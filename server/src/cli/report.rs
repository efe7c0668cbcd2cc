//! `cloudcgm report`: the metrics engine on a CSV file. JSON output is the core's [`Report`] (schema
//! `cloudcgm.report/v1`, documented in docs/cli.md); text output uses the page's own formatting, so the
//! numbers read the same everywhere. Bad input exits non-zero naming the file, line and reason.

use super::{Format, ReportArgs, UnitArg};
use crate::report_view::{agp_rows, event_rows, metric_rows, range_rows};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use cloudcgm::localtime::{local_date, parse_tz};
use cloudcgm::plain_csv::{parse, ParseOptions, Subject};
use cloudcgm::report::{build_report, Report};
use cloudcgm::{GlucoseUnit, Trace, Window};
use serde::Serialize;
use std::fmt::Write as _;

/// A failure the user can act on; `main` prints it and exits with status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

/// Several subjects in one file (a file with an `id` column).
#[derive(Debug, Serialize)]
pub struct MultiReport {
    pub schema: &'static str,
    pub subjects: Vec<SubjectReport>,
}

#[derive(Debug, Serialize)]
pub struct SubjectReport {
    pub id: String,
    pub report: Report,
}

/// Runs the command and returns what to print on stdout.
pub fn run(args: &ReportArgs) -> Result<String, CliError> {
    let file = args.input.display().to_string();
    let tz = parse_tz(&args.tz).map_err(|e| CliError(format!("--tz: {e}")))?;
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| CliError(format!("{file}: cannot read: {e}")))?;
    let mut opts = ParseOptions::new(tz);
    opts.interval_s = args.interval;
    let mut subjects = parse(&text, &opts).map_err(|e| CliError(format!("{file}: {e}")))?;
    if let Some(id) = &args.id {
        subjects.retain(|s| &s.id == id);
        if subjects.is_empty() {
            return Err(CliError(format!("{file}: no subject with id {id:?}")));
        }
    }
    let reports: Vec<(String, Report)> = subjects
        .into_iter()
        .map(|s| subject_report(s, args, tz).map_err(|e| CliError(format!("{file}: {e}"))))
        .collect::<Result<_, _>>()?;
    match args.format {
        Format::Json => {
            let json = if let [(id, report)] = reports.as_slice() {
                if id.is_empty() {
                    to_json(report, args.pretty)
                } else {
                    to_json(
                        &MultiReport {
                            schema: "cloudcgm.reports/v1",
                            subjects: vec![SubjectReport {
                                id: id.clone(),
                                report: report.clone(),
                            }],
                        },
                        args.pretty,
                    )
                }
            } else {
                to_json(
                    &MultiReport {
                        schema: "cloudcgm.reports/v1",
                        subjects: reports
                            .into_iter()
                            .map(|(id, report)| SubjectReport { id, report })
                            .collect(),
                    },
                    args.pretty,
                )
            };
            json.map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| CliError(format!("cannot write JSON: {e}")))
        }
        Format::Text => Ok(reports
            .iter()
            .map(|(id, r)| text_report(id, r))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

fn to_json<T: Serialize>(value: &T, pretty: bool) -> serde_json::Result<String> {
    if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
}

fn parse_bound(s: &str, tz: Tz, is_end: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = if is_end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(cloudcgm::localtime::local_midnight(day, tz));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 instant"))
}

fn subject_report(s: Subject, args: &ReportArgs, tz: Tz) -> Result<(String, Report), String> {
    let who = if s.id.is_empty() {
        String::new()
    } else {
        format!("subject {:?}: ", s.id)
    };
    let unit = match args.unit {
        Some(UnitArg::Mg) => GlucoseUnit::MgDl,
        Some(UnitArg::Mmol) => GlucoseUnit::MmolL,
        None => s
            .readings
            .first()
            .map(|r| r.unit)
            .unwrap_or(GlucoseUnit::MgDl),
    };
    let trace = Trace::new(s.readings);
    let (Some(first), Some(last)) = (trace.first(), trace.last()) else {
        return Err(format!("{who}the file has no readings"));
    };
    let (first_day, last_day) = (local_date(first.at, tz), local_date(last.at, tz));
    let window = match args.days {
        Some(0) => return Err("--days must be at least 1".into()),
        Some(days) => Window::last_days(last_day, days, tz),
        None => {
            let start = match &args.from {
                Some(f) => parse_bound(f, tz, false).map_err(|e| format!("--from: {e}"))?,
                None => cloudcgm::localtime::local_midnight(first_day, tz),
            };
            let end = match &args.to {
                Some(t) => parse_bound(t, tz, true).map_err(|e| format!("--to: {e}"))?,
                None => {
                    cloudcgm::localtime::local_midnight(last_day.succ_opt().unwrap_or(last_day), tz)
                }
            };
            Window::new(start, end).map_err(|e| e.to_string())?
        }
    };
    Ok((s.id, build_report(&trace, window, tz, unit)))
}

/// A readable table of the same numbers.
pub fn text_report(id: &str, r: &Report) -> String {
    let mut out = String::new();
    let title = if id.is_empty() {
        String::new()
    } else {
        format!(" — {id}")
    };
    let _ = writeln!(out, "CloudCGM report{title}");
    let _ = writeln!(
        out,
        "Window: {} to {} ({} days, {}), values in {}",
        r.first_day,
        r.last_day,
        r.daily.len(),
        r.time_zone,
        r.unit
    );
    for w in &r.metrics.sufficiency.reasons {
        let _ = writeln!(out, "WARNING: {w}");
    }
    let mark = |m: Option<bool>| match m {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "",
    };
    let _ = writeln!(out, "\n{:<44} {:>22}  Goal", "Metric", "Value");
    for row in metric_rows(&r.metrics) {
        let _ = writeln!(
            out,
            "{:<44} {:>22}  {:<22} {}",
            row.label,
            row.value,
            row.goal.unwrap_or_default(),
            mark(row.met)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<14} {:<20} {:>9} {:>12}  Goal",
        "Range", "Glucose", "% time", "Per day"
    );
    for row in range_rows(&r.metrics) {
        let _ = writeln!(
            out,
            "{:<14} {:<20} {:>9} {:>12}  {:<22} {}",
            row.label,
            row.range,
            row.percent,
            row.per_day,
            row.goal.unwrap_or_default(),
            mark(row.met)
        );
    }
    let _ = writeln!(
        out,
        "\nEvents{:<50} {:>6} {:>8} {:>14}",
        "", "Count", "Per day", "Mean duration"
    );
    for e in event_rows(r) {
        let _ = writeln!(
            out,
            "{:<56} {:>6} {:>8} {:>14}",
            e.label, e.count, e.per_day, e.mean_duration
        );
    }
    let _ = writeln!(out, "\nAGP percentiles ({}) by local time of day", r.unit);
    let _ = writeln!(
        out,
        "{:<6} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "Time", "5%", "25%", "50%", "75%", "95%"
    );
    for row in agp_rows(r) {
        let _ = writeln!(
            out,
            "{:<6} {:>7} {:>7} {:>7} {:>7} {:>7}",
            row.time, row.p5, row.p25, row.p50, row.p75, row.p95
        );
    }
    out
}

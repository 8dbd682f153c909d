//! What client commands print: aligned tables and `field  value` records for people (with colour
//! on a terminal, unless `NO_COLOR` is set), or the API's JSON documents with `--json`.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use herald_core::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::Failure;

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    color: bool,
}

const HEADER: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

impl Output {
    pub fn new(json: bool) -> Self {
        let color =
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self { json, color }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color && style != Style::new() { format!("{style}{text}{style:#}") } else { text.to_owned() }
    }

    /// A value in the colour its meaning has: statuses, yes/no.
    pub fn tone(&self, text: &str) -> String {
        let color = match text {
            "delivered" | "yes" | "done" | "closed" => Some(AnsiColor::Green),
            "failed" | "no" | "open" => Some(AnsiColor::Red),
            "retrying" | "running" | "half_open" => Some(AnsiColor::Yellow),
            "pending" => Some(AnsiColor::Cyan),
            _ => None,
        };
        match color {
            Some(color) => self.paint(Style::new().fg_color(Some(color.into())), text),
            None => text.to_owned(),
        }
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(DIM, text)
    }

    /// Prints `value` as pretty JSON.
    pub fn json(&self, value: &impl Serialize) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value).map_err(|e| Failure::other(e.to_string()))?;
        self.line(&text)
    }

    /// Prints a line to stdout (a closed pipe ends the command quietly).
    pub fn line(&self, text: &str) -> Result<(), Failure> {
        let mut stdout = std::io::stdout().lock();
        match writeln!(stdout, "{text}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::quiet()),
            Err(e) => Err(Failure::other(format!("cannot write to stdout: {e}"))),
            Ok(()) => Ok(()),
        }
    }

    /// Prints rows under headers, each column as wide as its widest cell. `cells` may hold colour
    /// codes: widths are measured on the text without them.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(visible_width(cell));
            }
        }
        let render = |cells: Vec<String>| {
            let last = cells.len().saturating_sub(1);
            let mut line = String::new();
            for (i, cell) in cells.into_iter().enumerate() {
                let pad = if i == last { 0 } else { widths[i] - visible_width(&cell) + 2 };
                line.push_str(&cell);
                line.push_str(&" ".repeat(pad));
            }
            line.trim_end().to_owned()
        };
        self.line(&render(headers.iter().map(|h| self.paint(HEADER, h)).collect()))?;
        for row in rows {
            self.line(&render(row.clone()))?;
        }
        Ok(())
    }

    /// Prints a response document: as JSON, or one aligned `field  value` line per top-level
    /// field (lists of text joined, nested objects as one-line JSON, `-` for null).
    pub fn document(&self, value: &impl Serialize) -> Result<(), Failure> {
        if self.json {
            return self.json(value);
        }
        let value = serde_json::to_value(value).map_err(|e| Failure::other(e.to_string()))?;
        let Value::Object(fields) = value else { return self.line(&compact(&value)) };
        let lines: Vec<(&str, String)> =
            fields.iter().map(|(name, v)| (name.as_str(), self.field(v))).collect();
        self.record(&lines)
    }

    fn field(&self, value: &Value) -> String {
        match value {
            Value::Bool(b) => self.tone(yes_no(*b)),
            Value::String(s) => self.tone(s),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                if items.is_empty() {
                    "-".to_owned()
                } else {
                    items.iter().map(compact).collect::<Vec<_>>().join(", ")
                }
            }
            other => compact(other),
        }
    }

    /// Prints `field  value` lines, fields aligned.
    pub fn record(&self, fields: &[(&str, String)]) -> Result<(), Failure> {
        let width = fields.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
        for (name, value) in fields {
            let pad = " ".repeat(width - name.chars().count() + 2);
            self.line(&format!("{}{pad}{value}", self.paint(HEADER, name)))?;
        }
        Ok(())
    }
}

/// Width of text as a terminal shows it: colour codes take no room.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// A time as people read it in a table: UTC, to the second.
pub fn time(t: &Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn opt_time(t: Option<&Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A JSON value in one line: strings bare, `-` for null.
pub fn compact(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_take_no_width() {
        let out = Output { json: false, color: true };
        let painted = out.tone("failed");
        assert_ne!(painted, "failed");
        assert_eq!(visible_width(&painted), 6);
        assert_eq!(visible_width("plain"), 5);
    }
}

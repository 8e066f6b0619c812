//! Budgets: what one frame may cost, parsed from text, and where a serving
//! loop gets the current one (fixed, a file watched for changes, or lines
//! from a reader such as stdin).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::SystemTime;

use serde::Serialize;

use super::table::ProfiledPoint;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Budget {
    /// Per-inference latency, in milliseconds.
    LatencyMs(f64),
    /// Per-inference energy, in millijoules.
    EnergyMj(f64),
}

impl Budget {
    /// The limit, in the budget's unit.
    pub fn limit(self) -> f64 {
        match self {
            Self::LatencyMs(v) | Self::EnergyMj(v) => v,
        }
    }

    /// The profiled cost a budget is held against: the 95th-percentile
    /// latency (a median budget would be missed half the time at a point
    /// right on it), or the energy per inference.
    pub(crate) fn cost(self, p: &ProfiledPoint) -> Option<f64> {
        match self {
            Self::LatencyMs(_) => Some(p.p95_ms.max(p.latency_ms)),
            Self::EnergyMj(_) => p.energy_mj,
        }
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LatencyMs(v) => write!(f, "{v} ms"),
            Self::EnergyMj(v) => write!(f, "{v} mJ"),
        }
    }
}

/// `12.5`, `12.5 ms` or `3 mJ` (the unit in any case; milliseconds when it
/// is left out). The number must be finite and positive.
impl std::str::FromStr for Budget {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        // The unit is the trailing run of letters, so `1e3 ms` is 1000 ms.
        let number = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = match &text[number.len()..] {
            "" => "ms",
            unit => unit,
        };
        let number = number.trim();
        let value: f64 = number
            .parse()
            .map_err(|_| Error::Budget(format!("`{text}` is not a number with ms or mJ")))?;
        if !(value.is_finite() && value > 0.0) {
            return Err(Error::Budget(format!("`{text}` must be positive")));
        }
        if unit.eq_ignore_ascii_case("ms") {
            Ok(Self::LatencyMs(value))
        } else if unit.eq_ignore_ascii_case("mj") {
            Ok(Self::EnergyMj(value))
        } else {
            Err(Error::Budget(format!(
                "unit `{unit}` in `{text}` (expected ms or mJ)"
            )))
        }
    }
}

/// Where the budget of each frame comes from.
pub struct BudgetSource(Source);

enum Source {
    Fixed(Budget),
    File {
        path: PathBuf,
        modified: Option<SystemTime>,
        current: Budget,
    },
    Lines {
        rx: mpsc::Receiver<String>,
        current: Budget,
    },
}

impl BudgetSource {
    pub fn fixed(budget: Budget) -> Self {
        Self(Source::Fixed(budget))
    }

    /// A file holding one budget, read again whenever its modification time
    /// changes. A later unreadable or malformed version keeps the last
    /// budget (an editor may be half-way through writing it); the first must
    /// parse.
    pub fn file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self(Source::File {
            modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            current: text.parse()?,
            path: path.to_path_buf(),
        }))
    }

    /// One budget per line of `reader`, read on a thread of its own so a
    /// frame never waits for input; blocks until the first line, which must
    /// parse. Malformed later lines are skipped.
    pub fn lines(reader: impl BufRead + Send + 'static) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("groupscale-budget".into())
            .spawn(move || {
                for line in reader.lines().map_while(std::result::Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Budget(format!("cannot start the budget reader: {e}")))?;
        let first = rx
            .recv()
            .map_err(|_| Error::Budget("the input closed before the first budget".into()))?;
        Ok(Self(Source::Lines {
            current: first.parse()?,
            rx,
        }))
    }

    /// The budget for the next frame.
    pub fn poll(&mut self) -> Budget {
        match &mut self.0 {
            Source::Fixed(b) => *b,
            Source::File {
                path,
                modified,
                current,
            } => {
                let now = std::fs::metadata(&*path).and_then(|m| m.modified()).ok();
                if now != *modified {
                    *modified = now;
                    if let Some(b) = std::fs::read_to_string(&*path)
                        .ok()
                        .and_then(|t| t.parse().ok())
                    {
                        *current = b;
                    }
                }
                *current
            }
            Source::Lines { rx, current } => {
                while let Ok(line) = rx.try_recv() {
                    if let Ok(b) = line.parse() {
                        *current = b;
                    }
                }
                *current
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_with_and_without_units() {
        assert_eq!("12.5".parse::<Budget>().unwrap(), Budget::LatencyMs(12.5));
        assert_eq!(" 3 MS ".parse::<Budget>().unwrap(), Budget::LatencyMs(3.0));
        assert_eq!("3 mJ".parse::<Budget>().unwrap(), Budget::EnergyMj(3.0));
        assert_eq!("0.5mj".parse::<Budget>().unwrap(), Budget::EnergyMj(0.5));
        assert_eq!(
            "1e3 ms".parse::<Budget>().unwrap(),
            Budget::LatencyMs(1000.0)
        );
    }

    #[test]
    fn bad_budgets_are_errors_that_quote_the_text() {
        for (text, needle) in [
            ("", "is not a number"),
            ("ms", "is not a number"),
            ("fast", "is not a number"),
            ("-1", "must be positive"),
            ("0 ms", "must be positive"),
            ("inf", "is not a number"),
            ("inf ms", "must be positive"),
            ("NaN ms", "must be positive"),
            ("1e400", "must be positive"),
            ("3 W", "unit `W`"),
            ("3 ms extra", "is not a number"),
        ] {
            let e = text.parse::<Budget>().unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn line_budgets_skip_malformed_lines_and_keep_the_last_good_one() {
        let input = std::io::Cursor::new("5\n");
        let mut source = BudgetSource::lines(input).unwrap();
        assert_eq!(source.poll(), Budget::LatencyMs(5.0));
        let input = std::io::Cursor::new("5\nnonsense\n2 mJ\n-3\n");
        let mut source = BudgetSource::lines(input).unwrap();
        // The reader thread may not have sent the rest yet: poll until the
        // last good line arrives.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while source.poll() != Budget::EnergyMj(2.0) {
            assert!(std::time::Instant::now() < deadline, "never saw 2 mJ");
            std::thread::yield_now();
        }
        assert_eq!(source.poll(), Budget::EnergyMj(2.0));
    }

    #[test]
    fn a_closed_input_before_the_first_budget_is_an_error() {
        let e = BudgetSource::lines(std::io::Cursor::new(""))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("before the first budget"), "{e}");
    }
}

//! Reporter: shows a run's typed events to a person. On a terminal, an
//! indicatif spinner per active step with its phase and elapsed time; on
//! anything else (CI logs), one plain line per event.

use crate::model::Status;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// What happens during a run, in the order it happens.
#[derive(Debug, Clone)]
pub enum RunEvent<'a> {
    StepStarted {
        case: &'a str,
        step: &'a str,
    },
    Phase {
        case: &'a str,
        step: &'a str,
        phase: &'a str,
    },
    Output {
        case: &'a str,
        step: &'a str,
        line: &'a str,
    },
    StepFinished {
        case: &'a str,
        step: &'a str,
        status: Status,
        seconds: f64,
        message: &'a str,
    },
    CaseFinished {
        case: &'a str,
        status: Status,
    },
}

pub trait Reporter: Sync {
    fn report(&self, event: RunEvent<'_>);
}

/// Picks the terminal or the plain reporter from stderr.
pub fn for_stderr() -> Box<dyn Reporter> {
    if std::io::stderr().is_terminal() {
        Box::new(TerminalReporter::new())
    } else {
        Box::new(PlainReporter)
    }
}

/// One line per event, for logs.
pub struct PlainReporter;

impl Reporter for PlainReporter {
    fn report(&self, event: RunEvent<'_>) {
        match event {
            RunEvent::StepStarted { case, step } => eprintln!("[{case}] {step}: started"),
            RunEvent::Phase { case, step, phase } => eprintln!("[{case}] {step}: {phase}"),
            RunEvent::Output { .. } => {}
            RunEvent::StepFinished {
                case,
                step,
                status,
                seconds,
                message,
            } => {
                eprintln!("[{case}] {step}: {status} in {seconds:.1} s: {message}")
            }
            RunEvent::CaseFinished { case, status } => {
                eprintln!("[{case}] => {}", status.name().to_uppercase())
            }
        }
    }
}

/// Spinners with elapsed time, one per running step.
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl TerminalReporter {
    pub fn new() -> Self {
        TerminalReporter {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for TerminalReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for TerminalReporter {
    fn report(&self, event: RunEvent<'_>) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            RunEvent::StepStarted { case, step } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(format!("{case} {step}"));
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.insert(format!("{case}/{step}"), bar);
            }
            RunEvent::Phase { case, step, phase } => {
                if let Some(b) = bars.get(&format!("{case}/{step}")) {
                    b.set_message(phase.to_owned());
                }
            }
            RunEvent::Output { case, step, line } => {
                if let Some(b) = bars.get(&format!("{case}/{step}")) {
                    b.set_message(line.trim().chars().take(70).collect::<String>());
                }
            }
            RunEvent::StepFinished {
                case,
                step,
                status,
                seconds,
                message,
            } => {
                if let Some(b) = bars.remove(&format!("{case}/{step}")) {
                    b.finish_and_clear();
                }
                let _ = self.multi.println(format!(
                    "[{case}] {step}: {status} in {seconds:.1} s: {message}"
                ));
            }
            RunEvent::CaseFinished { case, status } => {
                let _ = self
                    .multi
                    .println(format!("[{case}] => {}", status.name().to_uppercase()));
            }
        }
    }
}

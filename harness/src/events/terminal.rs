//! The terminal reporter: an indicatif spinner per running step with its
//! elapsed time and, as it goes, its phase and the last line its process
//! printed (make's current target, the guest's last console line); a
//! build's spinner also says how far it is (kbuild steps against the last
//! build of its config). With the job pool every building kernel has its
//! spinner at once. The plain reporter's lines scroll above the spinners.

use super::{plain, Event, Reporter};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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

    fn spinner(&self, prefix: String) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(prefix);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Default for TerminalReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for TerminalReporter {
    fn report(&self, event: &Event<'_>) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            Event::StepStarted { case, step } => {
                let bar = self.spinner(format!("{case} {step}"));
                bars.insert(format!("{case}/{step}"), bar);
            }
            Event::Phase { case, step, phase } => {
                if let Some(b) = bars.get(&format!("{case}/{step}")) {
                    b.set_message(phase.to_string());
                }
            }
            Event::Progress {
                case,
                step,
                how_far: h,
            } => {
                if let Some(b) = bars.get(&format!("{case}/{step}")) {
                    let share = match h.total {
                        Some(t) if t > 0 => {
                            format!("{}/{t} steps ({} %)", h.done, (h.done * 100 / t).min(99))
                        }
                        _ => format!("{} steps", h.done),
                    };
                    let eta = h
                        .eta
                        .map(|e| format!(", ~{} left", plain::duration(e)))
                        .unwrap_or_default();
                    b.set_prefix(format!("{case} {step} {}: {share}{eta}", h.phase));
                }
            }
            Event::Output { case, step, line } => {
                if let Some(b) = bars.get(&format!("{case}/{step}")) {
                    b.set_message(line.trim().chars().take(70).collect::<String>());
                }
            }
            Event::StepFinished { case, step, .. } => {
                if let Some(b) = bars.remove(&format!("{case}/{step}")) {
                    b.finish_and_clear();
                }
                if let Some(l) = plain::line(event) {
                    let _ = self.multi.println(l);
                }
            }
            _ => {
                if let Some(l) = plain::line(event) {
                    let _ = self.multi.println(l);
                }
            }
        }
    }
}

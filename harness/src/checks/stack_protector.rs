//! `stack_protector.REPORT_STACK_CANARY`: the stack protector under LTO.
//! lkdtm's REPORT_STACK_CANARY, written from several processes, must see
//! their canaries differ; judged from the test's own lines by
//! [`super::lkdtm`]. Skipped when .config has no `STACKPROTECTOR`.

use super::Judging;
use crate::guest::protocol::REPORT_STACK_CANARY;
use crate::model::{CheckResult, Status};

/// The stack protector's check: lkdtm REPORT_STACK_CANARY.
pub const STACK_CANARY: &str = "stack_protector.REPORT_STACK_CANARY";

/// The family's one check.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    let off = j
        .facts
        .is_some_and(|f| f.config_is_y("CONFIG_STACKPROTECTOR") != Some(true));
    vec![if off {
        CheckResult::new(
            STACK_CANARY,
            Status::Skipped,
            "CONFIG_STACKPROTECTOR is not set: no canaries to compare",
        )
    } else {
        super::lkdtm::judge(
            STACK_CANARY,
            REPORT_STACK_CANARY,
            j.case.arch.profile(),
            j.console,
            j.boot,
            j.expect.lkdtm,
        )
        .result
    }]
}

//! Checks of the ENV group.

use crate::runner::CheckDef;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[];

//! Checks of the OPS group.

use crate::runner::CheckDef;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[];

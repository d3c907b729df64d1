//! Checks of the LIM group.

use crate::runner::CheckDef;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[];

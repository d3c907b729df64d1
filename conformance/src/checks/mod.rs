//! The check registry: one file per requirement group, each exporting a
//! `CHECKS` table of [`CheckDef`]s whose `id:` names the spec requirement.
//! Add a check by writing an `async fn` in its group's file and one
//! `check!` line in that file's table.

use crate::runner::CheckDef;

pub mod auth;
pub mod auth_tokens;
pub mod common;
pub mod env;
pub mod fan;
pub mod fault;
pub mod hostile;
pub mod life;
pub mod lim;
pub mod ops;
pub mod publish;
pub mod room;
pub mod wire;

/// Builds a [`CheckDef`]; keeps the literal `id: "GROUP-N"` form that
/// `cargo xtask spec-check` greps.
#[macro_export]
macro_rules! check {
    (id: $id:literal, $level:ident, $title:literal, $f:path) => {
        $crate::runner::CheckDef {
            id: $id,
            title: $title,
            level: $crate::spec::Level::$level,
            feature: None,
            run: |c| Box::pin($f(c)),
        }
    };
    (id: $id:literal, $level:ident, feature: $feat:literal, $title:literal, $f:path) => {
        $crate::runner::CheckDef {
            id: $id,
            title: $title,
            level: $crate::spec::Level::$level,
            feature: Some($feat),
            run: |c| Box::pin($f(c)),
        }
    };
}

/// Every registered check, in spec order.
pub fn all() -> Vec<CheckDef> {
    let mut v: Vec<CheckDef> = Vec::new();
    for group in [
        wire::CHECKS,
        auth::CHECKS,
        hostile::AUTH_CHECKS,
        room::CHECKS,
        env::CHECKS,
        publish::CHECKS,
        fan::CHECKS,
        life::CHECKS,
        lim::CHECKS,
        hostile::LIM_CHECKS,
        ops::CHECKS,
        fault::CHECKS,
    ] {
        v.extend_from_slice(group);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    #[test]
    fn every_check_names_a_spec_requirement_with_its_level() {
        let problems =
            spec::verify_registry(all().iter().map(|c| (c.id, c.level)), spec::requirements());
        assert!(
            problems.is_empty(),
            "{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn every_check_feature_matches_the_spec_feature_line() {
        for c in all() {
            let r = spec::find(c.id).expect("checked above");
            assert_eq!(
                c.feature,
                r.feature.as_deref(),
                "{}: feature differs from the spec",
                c.id
            );
        }
    }
}

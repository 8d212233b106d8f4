//! Completion criteria (the spec's `ICompletionCriteria`) and their evaluation against the
//! progress the LMS reports. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// What a learner must have done in a course to earn its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Criteria {
    pub requirements: Requirements,
    /// Minutes spent in the course, at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_time_spent: Option<u32>,
    /// Days until the certificate expires; absent or 0 = never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requirements {
    #[serde(rename = "type")]
    pub kind: RequirementKind,
    /// For `percentage`: modules completed / total, in percent, at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_percentage: Option<u32>,
    /// For `specific-modules`: every one of these completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_module_ids: Option<Vec<String>>,
    /// The assessment score (0–100) at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passing_score: Option<u32>,
    /// The assessment the score must come from (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessment_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RequirementKind {
    AllModules,
    Percentage,
    SpecificModules,
}

impl RequirementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequirementKind::AllModules => "all-modules",
            RequirementKind::Percentage => "percentage",
            RequirementKind::SpecificModules => "specific-modules",
        }
    }

    pub fn parse(s: &str) -> Option<RequirementKind> {
        match s {
            "all-modules" => Some(RequirementKind::AllModules),
            "percentage" => Some(RequirementKind::Percentage),
            "specific-modules" => Some(RequirementKind::SpecificModules),
            _ => None,
        }
    }
}

impl Default for Criteria {
    /// Every module completed, no assessment, no time, never expires.
    fn default() -> Criteria {
        Criteria {
            requirements: Requirements {
                kind: RequirementKind::AllModules,
                min_percentage: None,
                required_module_ids: None,
                passing_score: None,
                assessment_id: None,
            },
            min_time_spent: None,
            valid_for: None,
        }
    }
}

/// What the LMS says a learner did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub modules_completed: u32,
    pub modules_total: u32,
    pub completed_module_ids: Vec<String>,
    pub assessment_id: Option<String>,
    /// 0–100.
    pub assessment_score: Option<u32>,
    pub minutes_spent: u32,
}

/// A field of the criteria that cannot be saved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

impl Criteria {
    /// Refuses criteria that could never be evaluated the way the admin meant them.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |field: &'static str, reason: &str| {
            Err(Invalid {
                field,
                reason: reason.into(),
            })
        };
        let r = &self.requirements;
        match r.kind {
            RequirementKind::Percentage => match r.min_percentage {
                Some(1..=100) => {}
                _ => {
                    return bad(
                        "requirements.minPercentage",
                        "a percentage criterion needs minPercentage between 1 and 100",
                    );
                }
            },
            RequirementKind::SpecificModules => match &r.required_module_ids {
                Some(ids) if !ids.is_empty() && ids.iter().all(|i| !i.trim().is_empty()) => {}
                _ => {
                    return bad(
                        "requirements.requiredModuleIds",
                        "a specific-modules criterion needs at least one module id",
                    );
                }
            },
            RequirementKind::AllModules => {}
        }
        if r.kind != RequirementKind::Percentage && r.min_percentage.is_some() {
            return bad(
                "requirements.minPercentage",
                "minPercentage is only for the percentage type",
            );
        }
        if r.kind != RequirementKind::SpecificModules && r.required_module_ids.is_some() {
            return bad(
                "requirements.requiredModuleIds",
                "requiredModuleIds is only for the specific-modules type",
            );
        }
        if r.passing_score.is_some_and(|s| s > 100) {
            return bad("requirements.passingScore", "passingScore is 0 to 100");
        }
        if r.assessment_id.is_some() && r.passing_score.is_none() {
            return bad(
                "requirements.passingScore",
                "an assessmentId needs the passingScore it must reach",
            );
        }
        if self.valid_for.is_some_and(|d| d > 36_500) {
            return bad("validFor", "validFor is at most 36500 days");
        }
        Ok(())
    }

    /// `Ok` when `p` meets every requirement, otherwise each one it misses.
    pub fn evaluate(&self, p: &Progress) -> Result<(), Vec<String>> {
        let mut unmet = Vec::new();
        let r = &self.requirements;
        match r.kind {
            RequirementKind::AllModules => {
                if p.modules_total == 0 || p.modules_completed < p.modules_total {
                    unmet.push(format!(
                        "all modules: {} of {} completed",
                        p.modules_completed, p.modules_total
                    ));
                }
            }
            RequirementKind::Percentage => {
                let min = u64::from(r.min_percentage.unwrap_or(100));
                // completed/total >= min/100, in integers.
                let done = u64::from(p.modules_completed.min(p.modules_total)) * 100;
                if p.modules_total == 0 || done < min * u64::from(p.modules_total) {
                    unmet.push(format!(
                        "at least {min}% of the modules: {} of {} completed",
                        p.modules_completed, p.modules_total
                    ));
                }
            }
            RequirementKind::SpecificModules => {
                let missing: Vec<&str> = r
                    .required_module_ids
                    .iter()
                    .flatten()
                    .filter(|m| !p.completed_module_ids.contains(m))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    unmet.push(format!("modules not completed: {}", missing.join(", ")));
                }
            }
        }
        if let Some(min) = r.passing_score {
            let right_assessment = match &r.assessment_id {
                Some(want) => p.assessment_id.as_deref() == Some(want.as_str()),
                None => p.assessment_id.is_some() || p.assessment_score.is_some(),
            };
            match p.assessment_score {
                Some(s) if right_assessment && s >= min => {}
                Some(s) if right_assessment => unmet.push(format!(
                    "assessment score {s} below the passing score {min}"
                )),
                _ => unmet.push(match &r.assessment_id {
                    Some(a) => format!("assessment {a} not passed"),
                    None => "no assessment score".into(),
                }),
            }
        }
        if let Some(min) = self.min_time_spent
            && p.minutes_spent < min
        {
            unmet.push(format!(
                "time spent {} min, at least {min} min required",
                p.minutes_spent
            ));
        }
        if unmet.is_empty() { Ok(()) } else { Err(unmet) }
    }

    /// Days the certificate stays valid, if it expires.
    pub fn validity_days(&self) -> Option<u32> {
        self.valid_for.filter(|d| *d > 0)
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn progress(done: u32, total: u32) -> Progress {
        Progress {
            modules_completed: done,
            modules_total: total,
            completed_module_ids: (1..=done).map(|i| format!("m{i}")).collect(),
            ..Progress::default()
        }
    }

    fn of(kind: RequirementKind) -> Criteria {
        let mut c = Criteria::default();
        c.requirements.kind = kind;
        c
    }

    #[test]
    fn all_modules_is_the_default_and_needs_every_module() {
        let c = Criteria::default();
        assert!(c.validate().is_ok());
        assert!(c.evaluate(&progress(5, 5)).is_ok());
        assert!(c.evaluate(&progress(4, 5)).is_err());
        assert!(
            c.evaluate(&progress(0, 0)).is_err(),
            "an empty course proves nothing"
        );
    }

    #[test]
    fn percentage_is_exact_at_the_bar() {
        let mut c = of(RequirementKind::Percentage);
        c.requirements.min_percentage = Some(80);
        assert!(c.validate().is_ok());
        assert!(c.evaluate(&progress(4, 5)).is_ok(), "80% of 5 is 4");
        assert!(c.evaluate(&progress(3, 5)).is_err());
        c.requirements.min_percentage = Some(67);
        assert!(c.evaluate(&progress(2, 3)).is_err(), "66.67% is below 67%");
        c.requirements.min_percentage = Some(66);
        assert!(c.evaluate(&progress(2, 3)).is_ok());
        c.requirements.min_percentage = None;
        assert!(c.validate().is_err());
    }

    #[test]
    fn specific_modules_need_each_named_one() {
        let mut c = of(RequirementKind::SpecificModules);
        c.requirements.required_module_ids = Some(vec!["m1".into(), "m3".into()]);
        assert!(c.validate().is_ok());
        assert!(c.evaluate(&progress(3, 10)).is_ok());
        let e = c.evaluate(&progress(2, 10)).unwrap_err();
        assert_eq!(e, vec!["modules not completed: m3".to_string()]);
        c.requirements.required_module_ids = Some(vec![]);
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_assessment_and_time_are_checked_too() {
        let mut c = Criteria::default();
        c.requirements.passing_score = Some(70);
        c.requirements.assessment_id = Some("final".into());
        c.min_time_spent = Some(120);
        assert!(c.validate().is_ok());
        let mut p = progress(3, 3);
        p.assessment_id = Some("final".into());
        p.assessment_score = Some(70);
        p.minutes_spent = 120;
        assert!(c.evaluate(&p).is_ok());
        p.assessment_score = Some(69);
        p.minutes_spent = 119;
        assert_eq!(c.evaluate(&p).unwrap_err().len(), 2);
        p.assessment_score = Some(100);
        p.assessment_id = Some("quiz-1".into());
        p.minutes_spent = 500;
        assert!(
            c.evaluate(&p).is_err(),
            "another assessment's score does not count"
        );
    }

    #[test]
    fn criteria_that_make_no_sense_are_refused_naming_the_field() {
        let mut c = Criteria::default();
        c.requirements.min_percentage = Some(50);
        assert_eq!(
            c.validate().unwrap_err().field,
            "requirements.minPercentage"
        );
        let mut c = Criteria::default();
        c.requirements.passing_score = Some(101);
        assert_eq!(c.validate().unwrap_err().field, "requirements.passingScore");
        let mut c = Criteria::default();
        c.requirements.assessment_id = Some("x".into());
        assert_eq!(c.validate().unwrap_err().field, "requirements.passingScore");
        let mut c = Criteria::default();
        c.valid_for = Some(40_000);
        assert_eq!(c.validate().unwrap_err().field, "validFor");
        assert_eq!(Criteria::default().validity_days(), None);
    }
}

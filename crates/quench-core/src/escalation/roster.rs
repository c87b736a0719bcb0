//! Who can be paged and how: the contacts, on-call schedules and escalation policies of a
//! config, which is everything a walk through a policy reads.

use std::collections::BTreeMap;

use crate::escalation::policy::{Contact, EscalationPolicy};
use crate::oncall::schedule::Schedule;

#[derive(Debug, Clone, Copy)]
pub struct Roster<'a> {
    pub contacts: &'a BTreeMap<String, Contact>,
    pub schedules: &'a BTreeMap<String, Schedule>,
    pub policies: &'a BTreeMap<String, EscalationPolicy>,
}

//! An incident's walk through its escalation policy: who a stage pages, the pages of
//! a wave, and how the walk starts, advances and is acknowledged.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::config::vocabulary::Problems;
use crate::duration::Span;
use crate::escalation::policy::{Stage, Target};
use crate::escalation::roster::Roster;
use crate::oncall::schedule::Schedule;

use crate::escalation::paging::*;

/// The contacts a stage pages at `at`, in target order, each once.
pub fn stage_contacts(roster: &Roster<'_>, stage: &Stage, at: DateTime<Utc>) -> Vec<String> {
    let mut contacts = Vec::new();
    let mut push = |name: &str| {
        if !contacts.iter().any(|c| c == name) {
            contacts.push(name.to_string());
        }
    };
    reach(
        roster,
        &stage.targets,
        &mut BTreeSet::new(),
        &mut |target| match target {
            Reached::Contact(name) => push(name),
            Reached::Schedule(_, schedule) => {
                for person in schedule.on_call(at) {
                    push(&person);
                }
            }
        },
    );
    contacts
}

/// A contact or schedule target a stage pages, directly or through a policy target.
enum Reached<'a> {
    Contact(&'a str),
    Schedule(&'a str, &'a Schedule),
}

/// Visits the contact and schedule targets of `targets`, and those of the first stage
/// of each policy target, each policy once. Names the config lacks are skipped.
fn reach<'a>(
    roster: &Roster<'a>,
    targets: &'a [Target],
    seen_policies: &mut BTreeSet<&'a str>,
    visit: &mut dyn FnMut(Reached<'a>),
) {
    for target in targets {
        match target {
            Target::Contact(name) => visit(Reached::Contact(name)),
            Target::Schedule(name) => {
                if let Some((name, schedule)) = roster.schedules.get_key_value(name) {
                    visit(Reached::Schedule(name, schedule));
                }
            }
            Target::Policy(name) => {
                // Validation refuses cycles; this keeps a bad config from looping anyway.
                let Some((name, policy)) = roster.policies.get_key_value(name) else {
                    continue;
                };
                if seen_policies.insert(name) {
                    if let Some(first) = policy.stages.first() {
                        reach(roster, &first.targets, seen_policies, visit);
                    }
                }
            }
        }
    }
}

/// The most pages one wave of `stage` can write, whoever is on call: each contact it
/// names once per channel, and per schedule one person for each rotation (overrides
/// replace a rotation's person, never add one), counted as the people of that schedule
/// with the most channels who are not already counted.
pub(crate) fn most_pages(roster: &Roster<'_>, stage: &Stage) -> usize {
    let channels = |name: &str| {
        roster
            .contacts
            .get(name)
            .map_or(0, |c| c.engagements().len())
    };
    let mut contacts = BTreeSet::new();
    let mut schedules = BTreeMap::new();
    reach(
        roster,
        &stage.targets,
        &mut BTreeSet::new(),
        &mut |target| match target {
            Reached::Contact(name) => {
                contacts.insert(name);
            }
            Reached::Schedule(name, schedule) => {
                schedules.insert(name, schedule);
            }
        },
    );
    let mut most: usize = contacts.iter().map(|name| channels(name)).sum();
    for schedule in schedules.values() {
        let people: BTreeSet<&str> = schedule
            .rotations()
            .iter()
            .flat_map(|r| r.members.iter())
            .chain(schedule.overrides().iter().map(|o| &o.who))
            .map(String::as_str)
            .filter(|person| !contacts.contains(person))
            .collect();
        let mut counts: Vec<usize> = people.into_iter().map(channels).collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        most += counts
            .iter()
            .take(schedule.rotations().len())
            .sum::<usize>();
    }
    most
}

/// Refuses a stage whose wave could write more pages than fit in the transaction of the
/// decision that pages it ([`MAX_PAGES_PER_WAVE`]).
pub(crate) fn check_wave_sizes(roster: &Roster<'_>, problems: &mut Problems) {
    for (name, policy) in roster.policies {
        for (index, stage) in policy.stages.iter().enumerate() {
            let most = most_pages(roster, stage);
            if most > MAX_PAGES_PER_WAVE {
                problems.add(
                    format!("escalation_policies.{name}.stages[{index}].targets"),
                    format!(
                        "this stage can write up to {most} pages at once (each contact once per \
                         channel, one person per schedule rotation, a policy's first stage), \
                         more than the {MAX_PAGES_PER_WAVE} one escalation can write; \
                         spread its targets over several stages"
                    ),
                );
            }
        }
    }
}

/// Pages the policy's stage `paging.stage` of round `paging.round` as a new wave.
/// Returns the pages to write (each due after its contact's engagement delay).
pub fn page_wave(
    roster: &Roster<'_>,
    paging: &mut Paging,
    incident_id: &str,
    episode: u32,
    now: DateTime<Utc>,
) -> Vec<Page> {
    let Some(stage) = roster
        .policies
        .get(&paging.policy)
        .and_then(|p| p.stages.get(paging.stage as usize))
    else {
        paging.state = PagingState::Exhausted;
        paging.next_at = None;
        return Vec::new();
    };
    paging.wave += 1;
    paging.wave_started_at = now;
    paging.acknowledged_by.clear();
    paging.engaged = stage_contacts(roster, stage, now);
    paging.state = PagingState::Waiting;
    // Past the end of time (only from a clock there) the stage waits for good.
    paging.next_at = stage.timeout.after(now);
    let mut pages = Vec::new();
    for name in &paging.engaged {
        let Some(contact) = roster.contacts.get(name) else {
            continue;
        };
        for engagement in contact.engagements() {
            pages.push(Page {
                incident_id: incident_id.to_string(),
                episode,
                wave: paging.wave,
                round: paging.round,
                stage: paging.stage,
                contact: name.clone(),
                via: engagement.via,
                // A delay past the end of time cannot hold a page back: send it now.
                due_at: engagement.after.after(now).unwrap_or(now),
                state: PageState::Pending,
                attempts: 0,
                last_error: None,
                at: now,
            });
        }
    }
    pages
}

/// Starts the walk at stage 1 of `policy`.
pub fn start(
    roster: &Roster<'_>,
    policy: &str,
    incident_id: &str,
    episode: u32,
    now: DateTime<Utc>,
) -> (Paging, Vec<Page>) {
    let mut paging = at_stage_one(policy, now);
    let pages = page_wave(roster, &mut paging, incident_id, episode, now);
    (paging, pages)
}

/// A walk that starts acknowledged (the incident was acknowledged before it escalated):
/// nothing is paged, and stage 1 is paged at `repage_at`, if any.
pub fn acknowledged(policy: &str, repage_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Paging {
    Paging {
        state: PagingState::Acknowledged,
        next_at: repage_at,
        ..at_stage_one(policy, now)
    }
}

/// A walk at stage 1 of round 1 that has paged nobody yet.
fn at_stage_one(policy: &str, now: DateTime<Utc>) -> Paging {
    Paging {
        policy: policy.to_string(),
        round: 0,
        stage: 0,
        wave: 0,
        wave_started_at: now,
        engaged: Vec::new(),
        acknowledged_by: BTreeSet::new(),
        state: PagingState::Waiting,
        next_at: None,
    }
}

/// What the ticker does when `paging.next_at` has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The next stage (or the first again, on a repeat) was paged.
    NextStage,
    /// The acknowledgement ran out; the same stage was paged again.
    Repaged,
    /// The last stage of the last round timed out.
    Exhausted,
}

/// Moves the walk on once `next_at` has passed. `None`: nothing is due.
pub fn advance(
    roster: &Roster<'_>,
    paging: &mut Paging,
    incident_id: &str,
    episode: u32,
    now: DateTime<Utc>,
) -> Option<(Advance, Vec<Page>)> {
    if paging.next_at.is_none_or(|due| due > now) {
        return None;
    }
    let policy = roster.policies.get(&paging.policy)?;
    match paging.state {
        PagingState::Acknowledged => {
            let pages = page_wave(roster, paging, incident_id, episode, now);
            Some((Advance::Repaged, pages))
        }
        PagingState::Waiting => {
            let last_stage = policy.stages.len().saturating_sub(1) as u32;
            if paging.stage < last_stage {
                paging.stage += 1;
            } else if paging.round < policy.repeat {
                paging.round += 1;
                paging.stage = 0;
            } else {
                paging.state = PagingState::Exhausted;
                paging.next_at = None;
                return Some((Advance::Exhausted, Vec::new()));
            }
            let pages = page_wave(roster, paging, incident_id, episode, now);
            Some((Advance::NextStage, pages))
        }
        PagingState::Exhausted | PagingState::Stopped => {
            paging.next_at = None;
            None
        }
    }
}

/// How an acknowledgement by `by` changes the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckEffect {
    /// Escalation stops (until the acknowledgement timeout, if the plan has one).
    Stopped,
    /// The stage needs everyone it paged; these many still have to acknowledge.
    Waiting { missing: usize },
}

pub fn acknowledge(
    roster: &Roster<'_>,
    paging: &mut Paging,
    by: &str,
    acknowledge_timeout: Option<Span>,
    now: DateTime<Utc>,
) -> AckEffect {
    let needs_everyone = roster
        .policies
        .get(&paging.policy)
        .and_then(|p| p.stages.get(paging.stage as usize))
        .is_some_and(|s| s.all_must_acknowledge);
    paging.acknowledged_by.insert(by.to_string());
    if needs_everyone && paging.state == PagingState::Waiting {
        let missing = paging
            .engaged
            .iter()
            .filter(|c| !paging.acknowledged_by.contains(*c))
            .count();
        if missing > 0 {
            return AckEffect::Waiting { missing };
        }
    }
    paging.state = PagingState::Acknowledged;
    paging.next_at = acknowledge_timeout.and_then(|t| t.after(now));
    AckEffect::Stopped
}

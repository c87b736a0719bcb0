//! In-memory fakes of every port, beside the adapters they stand in for: one store for
//! every store port (as [`DynamoStore`](crate::store::DynamoStore) is), and scripted
//! fakes of the calls out. For handler tests; behind the `fakes` feature, so the
//! functions' binaries do not carry them.
//!
//! The store keeps the adapter's conditions (a claim is taken once, a head moves only
//! from the version read, a timeline key is written once), so a handler test on it
//! shows what the handler does against the table. The scripted fakes answer `Ok` unless
//! a test queues a failure, and log every call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use quench_core::alarm::{AlarmChange, AlarmKind, AlarmSource, AlarmState, MetricRef};
use quench_core::chat::{Channel, Delivery, DeliveryState};
use quench_core::config::Mirrors;
use quench_core::escalation::{Page, PageState};
use quench_core::incident::{may_page, AlarmReading};
use quench_core::incident::{Commit, DedupHead, IncidentRecord, TimelineEvent, TimelineKind};
use quench_core::ports::{fits_one_transaction, IncidentStore, StoreError};
use quench_core::ports::{
    ActionError, ActionRunner, AlarmStateInfo, AutomationResult, CommandRequest, CommandResult,
    Datapoint, InstanceStatus, MetricRequest, StepClaim, StepRun,
};
use quench_core::ports::{
    AlarmReader, ChatSender, DueItem, DueQueue, IncidentLog, NoticeStore, PageError, PageSender,
    PageStore, SendError, Sent, StepStore,
};
use quench_core::ports::{DeliveryHost, DeliveryNote};
use quench_core::ports::{IncidentMirror, MirrorReport};
use quench_core::runbook::StepOutcome;

/// A poisoned lock still holds the data a test wants to look at.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

type ClaimKey = (String, u32, u32, String);
type OutcomeKey = (String, u32, u32, String);
type DeliveryKey = (String, String, String);

#[derive(Debug, Default)]
struct Tables {
    heads: BTreeMap<String, DedupHead>,
    incidents: BTreeMap<String, IncidentRecord>,
    /// By (incident, event key).
    timeline: BTreeMap<(String, String), TimelineEvent>,
    claims: BTreeMap<ClaimKey, StepClaim>,
    outcomes: BTreeMap<OutcomeKey, StepOutcome>,
    /// By (incident, channel, event key).
    deliveries: BTreeMap<DeliveryKey, Delivery>,
    /// By (incident, page key).
    pages: BTreeMap<(String, String), Page>,
    /// When each claimed page's lease runs out, as the table's `due` index holds it.
    claimed_until: BTreeMap<(String, String), DateTime<Utc>>,
}

fn claim_key(claim: &StepClaim) -> ClaimKey {
    (
        claim.incident_id.clone(),
        claim.episode,
        claim.run,
        claim.step.clone(),
    )
}

fn outcome_key(run: &StepRun) -> OutcomeKey {
    (
        run.incident_id.clone(),
        run.episode,
        run.run,
        run.step.clone(),
    )
}

fn delivery_key(delivery: &Delivery) -> DeliveryKey {
    (
        delivery.incident_id.clone(),
        delivery.channel.clone(),
        delivery.event_key.clone(),
    )
}

fn page_key(page: &Page) -> (String, String) {
    (page.incident_id.clone(), page.key())
}

/// The incident table in memory: heads, incidents, timelines, step claims, chat
/// deliveries and pages. Every store port.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// With the incident item (and no head: what reads an incident by id needs).
    pub fn with_incident(self, incident: IncidentRecord) -> Self {
        self.put_incident(incident);
        self
    }

    /// With these timeline events.
    pub fn with_events(self, events: impl IntoIterator<Item = TimelineEvent>) -> Self {
        for event in events {
            self.add_event(event);
        }
        self
    }

    pub fn put_incident(&self, incident: IncidentRecord) {
        lock(&self.tables)
            .incidents
            .insert(incident.id.clone(), incident);
    }

    /// Changes the incident item in place.
    pub fn update_incident(&self, incident_id: &str, change: impl FnOnce(&mut IncidentRecord)) {
        if let Some(incident) = lock(&self.tables).incidents.get_mut(incident_id) {
            change(incident);
        }
    }

    /// Adds (or replaces) one timeline event.
    pub fn add_event(&self, event: TimelineEvent) {
        lock(&self.tables)
            .timeline
            .insert((event.incident_id.clone(), event.event_key.clone()), event);
    }

    pub fn put_claim(&self, claim: StepClaim) {
        lock(&self.tables).claims.insert(claim_key(&claim), claim);
    }

    pub fn put_delivery(&self, delivery: Delivery) {
        lock(&self.tables)
            .deliveries
            .insert(delivery_key(&delivery), delivery);
    }

    pub fn put_page(&self, page: Page) {
        lock(&self.tables).pages.insert(page_key(&page), page);
    }

    /// The head of a dedup key, as stored.
    pub fn head(&self, dedup_key: &str) -> Option<DedupHead> {
        lock(&self.tables).heads.get(dedup_key).cloned()
    }

    /// The incident item, as stored.
    pub fn record(&self, incident_id: &str) -> Option<IncidentRecord> {
        lock(&self.tables).incidents.get(incident_id).cloned()
    }

    /// The incident's timeline, oldest first (as the table reads it).
    pub fn events(&self, incident_id: &str) -> Vec<TimelineEvent> {
        let mut events: Vec<TimelineEvent> = lock(&self.tables)
            .timeline
            .values()
            .filter(|e| e.incident_id == incident_id)
            .cloned()
            .collect();
        events.sort_by(|a, b| (a.at, &a.event_key).cmp(&(b.at, &b.event_key)));
        events
    }

    /// The incident's events of one kind, oldest first.
    pub fn events_of(&self, incident_id: &str, kind: TimelineKind) -> Vec<TimelineEvent> {
        self.events(incident_id)
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// Every step claim, of every incident.
    pub fn claims(&self) -> Vec<StepClaim> {
        lock(&self.tables).claims.values().cloned().collect()
    }

    /// Every recorded step outcome, by run.
    pub fn outcomes(&self) -> Vec<(StepRun, StepOutcome)> {
        lock(&self.tables)
            .outcomes
            .iter()
            .map(|((incident_id, episode, run, step), outcome)| {
                let run = StepRun {
                    incident_id: incident_id.clone(),
                    episode: *episode,
                    run: *run,
                    step: step.clone(),
                };
                (run, outcome.clone())
            })
            .collect()
    }

    /// The state of one chat delivery.
    pub fn delivery_state(
        &self,
        incident_id: &str,
        channel: &str,
        event_key: &str,
    ) -> Option<DeliveryState> {
        let key = (
            incident_id.to_string(),
            channel.to_string(),
            event_key.to_string(),
        );
        lock(&self.tables).deliveries.get(&key).map(|d| d.state)
    }

    /// The incident's pages, by key.
    pub fn stored_pages(&self, incident_id: &str) -> Vec<Page> {
        lock(&self.tables)
            .pages
            .values()
            .filter(|p| p.incident_id == incident_id)
            .cloned()
            .collect()
    }
}

impl IncidentStore for MemoryStore {
    async fn load_head(&self, dedup_key: &str) -> Result<Option<DedupHead>, StoreError> {
        Ok(self.head(dedup_key))
    }

    async fn apply(&self, commit: &Commit) -> Result<(), StoreError> {
        // As DynamoDB would: a handler test must not pass on a commit the table refuses.
        fits_one_transaction(commit)?;
        let mut tables = lock(&self.tables);
        let current = tables.heads.get(&commit.head.dedup_key).map(|h| h.version);
        if current != commit.expected_version {
            return Err(StoreError::Conflict);
        }
        tables
            .heads
            .insert(commit.head.dedup_key.clone(), commit.head.clone());
        if let Some(incident) = &commit.incident {
            tables
                .incidents
                .insert(incident.id.clone(), incident.clone());
        }
        if let Some(event) = &commit.timeline {
            tables.timeline.insert(
                (event.incident_id.clone(), event.event_key.clone()),
                event.clone(),
            );
        }
        for page in &commit.pages {
            tables.pages.insert(page_key(page), page.clone());
        }
        Ok(())
    }
}

impl IncidentLog for MemoryStore {
    async fn incident(&self, incident_id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self.record(incident_id))
    }

    async fn timeline(&self, incident_id: &str) -> Result<Vec<TimelineEvent>, StoreError> {
        Ok(self.events(incident_id))
    }

    async fn append_timeline(&self, event: &TimelineEvent) -> Result<bool, StoreError> {
        let mut tables = lock(&self.tables);
        let key = (event.incident_id.clone(), event.event_key.clone());
        if tables.timeline.contains_key(&key) {
            return Ok(false);
        }
        tables.timeline.insert(key, event.clone());
        Ok(true)
    }
}

impl StepStore for MemoryStore {
    async fn claim_step(&self, claim: &StepClaim) -> Result<Option<StepClaim>, StoreError> {
        let mut tables = lock(&self.tables);
        let key = claim_key(claim);
        if let Some(existing) = tables.claims.get(&key) {
            return Ok(Some(existing.clone()));
        }
        tables.claims.insert(key, claim.clone());
        Ok(None)
    }

    async fn record_step_handle(&self, claim: &StepClaim) -> Result<(), StoreError> {
        let mut tables = lock(&self.tables);
        let key = claim_key(claim);
        if !tables.claims.contains_key(&key) {
            return Err(StoreError::Failed("the step claim is gone".into()));
        }
        tables.claims.insert(key, claim.clone());
        Ok(())
    }

    async fn release_step(&self, claim: &StepClaim) -> Result<(), StoreError> {
        lock(&self.tables).claims.remove(&claim_key(claim));
        Ok(())
    }

    async fn record_outcome(
        &self,
        run: &StepRun,
        outcome: &StepOutcome,
    ) -> Result<StepOutcome, StoreError> {
        Ok(lock(&self.tables)
            .outcomes
            .entry(outcome_key(run))
            .or_insert_with(|| outcome.clone())
            .clone())
    }

    async fn outcome(&self, run: &StepRun) -> Result<Option<StepOutcome>, StoreError> {
        Ok(lock(&self.tables).outcomes.get(&outcome_key(run)).cloned())
    }
}

impl NoticeStore for MemoryStore {
    async fn deliveries(&self, incident_id: &str) -> Result<Vec<Delivery>, StoreError> {
        Ok(lock(&self.tables)
            .deliveries
            .values()
            .filter(|d| d.incident_id == incident_id)
            .cloned()
            .collect())
    }

    async fn claim_delivery(
        &self,
        delivery: &Delivery,
        lease: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let mut tables = lock(&self.tables);
        let key = delivery_key(delivery);
        let free = tables.deliveries.get(&key).is_none_or(|existing| {
            existing.state == DeliveryState::Sending && existing.at < delivery.at - lease
        });
        if free {
            tables.deliveries.insert(key, delivery.clone());
        }
        Ok(free)
    }

    async fn release_delivery(&self, claim: &Delivery) -> Result<(), StoreError> {
        let mut tables = lock(&self.tables);
        let key = delivery_key(claim);
        if tables
            .deliveries
            .get(&key)
            .is_some_and(|d| d.state == DeliveryState::Sending && d.at == claim.at)
        {
            tables.deliveries.remove(&key);
        }
        Ok(())
    }

    async fn settle_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.put_delivery(delivery.clone());
        Ok(())
    }
}

impl PageStore for MemoryStore {
    async fn due(
        &self,
        queue: DueQueue,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueItem>, StoreError> {
        let tables = lock(&self.tables);
        let mut due: Vec<(DateTime<Utc>, DueItem)> = match queue {
            DueQueue::Pages => tables
                .pages
                .iter()
                .filter_map(|(key, p)| {
                    let due_at = match p.state {
                        PageState::Pending => p.due_at,
                        PageState::Sending => *tables.claimed_until.get(key)?,
                        _ => return None,
                    };
                    let item = DueItem::Page {
                        incident_id: p.incident_id.clone(),
                        page_key: p.key(),
                    };
                    Some((due_at, item))
                })
                .collect(),
            DueQueue::Paging | DueQueue::Routine => tables
                .incidents
                .values()
                .filter(|i| may_page(i) == (queue == DueQueue::Paging))
                .filter_map(|i| {
                    let item = DueItem::Incident {
                        incident_id: i.id.clone(),
                        dedup_key: i.dedup_key.clone(),
                    };
                    Some((i.due_at?, item))
                })
                .collect(),
        };
        due.retain(|(at, _)| *at <= now);
        due.sort_by_key(|(at, _)| *at);
        Ok(due.into_iter().take(limit).map(|(_, item)| item).collect())
    }

    async fn page(&self, incident_id: &str, page_key: &str) -> Result<Option<Page>, StoreError> {
        let key = (incident_id.to_string(), page_key.to_string());
        Ok(lock(&self.tables).pages.get(&key).cloned())
    }

    async fn pages(&self, incident_id: &str) -> Result<Vec<Page>, StoreError> {
        Ok(self.stored_pages(incident_id))
    }

    async fn claim_page(
        &self,
        page: &Page,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let mut tables = lock(&self.tables);
        let key = page_key(page);
        let free = tables.pages.get(&key).is_some_and(|stored| {
            (stored.state == PageState::Pending && stored.attempts == page.attempts)
                || (stored.state == PageState::Sending && stored.at <= now - lease)
        });
        if free {
            let mut claimed = page.clone();
            claimed.state = PageState::Sending;
            claimed.at = now;
            tables.claimed_until.insert(key.clone(), now + lease);
            tables.pages.insert(key, claimed);
        }
        Ok(free)
    }

    async fn settle_page(&self, page: &Page) -> Result<(), StoreError> {
        self.put_page(page.clone());
        Ok(())
    }
}

/// An EventBridge change of the EC2 CPU alarm `name` to `state` at `at`, in account
/// 123456789012, eu-west-1: the alarm change the handler tests build.
pub fn alarm_change(name: &str, state: AlarmState, at: DateTime<Utc>) -> AlarmChange {
    AlarmChange {
        source: AlarmSource::EventBridge,
        kind: AlarmKind::Metric,
        alarm_arn: format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
        alarm_name: name.into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        state,
        previous_state: None,
        state_at: at,
        reason: "Threshold Crossed".into(),
        description: None,
        metrics: vec![MetricRef {
            namespace: "AWS/EC2".into(),
            name: "CPUUtilization".into(),
            dimensions: BTreeMap::new(),
        }],
        threshold: Some(90.0),
        comparison: None,
        alarm_rule: None,
        tags: BTreeMap::new(),
        contributor: None,
    }
}

/// A monotonic clock that moves only when a test moves it or a slow fake call takes
/// time, so a test decides how long a tick's work lasts. It is also a delivery host:
/// a sleep moves it, and nothing is logged.
#[derive(Debug, Clone)]
pub struct FakeClock {
    origin: Instant,
    elapsed: Arc<Mutex<Duration>>,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock {
            origin: Instant::now(),
            elapsed: Arc::default(),
        }
    }
}

impl FakeClock {
    pub fn now(&self) -> Instant {
        self.origin + *lock(&self.elapsed)
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.elapsed) += by;
    }

    /// Time passed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        *lock(&self.elapsed)
    }
}

impl DeliveryHost for FakeClock {
    async fn sleep(&self, wait: Duration) {
        self.advance(wait);
    }

    fn instant(&self) -> Instant {
        self.now()
    }

    fn jitter_seed(&self) -> u64 {
        0
    }

    fn note(&self, _: DeliveryNote<'_>) {}
}

/// How long each call of a slow fake takes, on which clock.
#[derive(Debug, Clone, Default)]
pub struct Latency(Option<(FakeClock, Duration)>);

impl Latency {
    pub fn of(clock: &FakeClock, each: Duration) -> Self {
        Latency(Some((clock.clone(), each)))
    }

    fn pass(&self) {
        if let Some((clock, each)) = &self.0 {
            clock.advance(*each);
        }
    }
}

/// One send attempt: (channel kind, thread, key, when on tokio's clock, paused or not).
pub type ChatAttempt = (String, Option<String>, String, tokio::time::Instant);

/// Scripted answers per channel kind (`Ok` when the script is empty; Slack answers with
/// a thread `ts-<key>`) and a log of every attempt, dead letter and update.
#[derive(Debug, Default)]
pub struct FakeChat {
    pub script: Mutex<BTreeMap<&'static str, VecDeque<Result<Sent, SendError>>>>,
    pub attempts: Mutex<Vec<ChatAttempt>>,
    pub dead: Mutex<Vec<serde_json::Value>>,
    /// (channel kind, thread, body).
    pub updates: Mutex<Vec<(String, String, serde_json::Value)>>,
    /// How long each send takes.
    pub latency: Latency,
}

impl FakeChat {
    /// The next answers for channels of `kind`.
    pub fn script(&self, kind: &'static str, answers: Vec<Result<Sent, SendError>>) {
        lock(&self.script).insert(kind, answers.into());
    }

    /// (thread, key) of each attempt on channels of `kind`.
    pub fn attempts(&self, kind: &str) -> Vec<(Option<String>, String)> {
        lock(&self.attempts)
            .iter()
            .filter(|a| a.0 == kind)
            .map(|a| (a.1.clone(), a.2.clone()))
            .collect()
    }
}

impl ChatSender for FakeChat {
    async fn send(
        &self,
        channel: &Channel,
        _: &serde_json::Value,
        thread: Option<&str>,
        key: &str,
    ) -> Result<Sent, SendError> {
        let kind = channel.kind().as_str();
        self.latency.pass();
        lock(&self.attempts).push((
            kind.to_string(),
            thread.map(str::to_string),
            key.to_string(),
            tokio::time::Instant::now(),
        ));
        let scripted = lock(&self.script)
            .get_mut(kind)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| {
            Ok(Sent {
                thread: (kind == "slack").then(|| format!("ts-{key}")),
            })
        })
    }

    async fn dead_letter(&self, record: &serde_json::Value) -> Result<bool, SendError> {
        lock(&self.dead).push(record.clone());
        Ok(true)
    }

    async fn update(
        &self,
        channel: &Channel,
        body: &serde_json::Value,
        thread: &str,
    ) -> Result<(), SendError> {
        lock(&self.updates).push((
            channel.kind().as_str().to_string(),
            thread.to_string(),
            body.clone(),
        ));
        Ok(())
    }
}

/// Scripted action results, and a log of the calls that act.
#[derive(Debug, Default)]
pub struct FakeActions {
    /// What DescribeAlarms says; `ALARM` when unset.
    pub alarm: Mutex<Option<String>>,
    pub acted: Mutex<Vec<String>>,
    /// Failures of the next SendCommand calls, answered without running the command.
    pub send_errors: Mutex<VecDeque<ActionError>>,
    /// How many of the next calls that act (SendCommand, StartAutomationExecution,
    /// RebootInstances) act and then lose their answer: they fail `Unavailable`.
    pub lost_answers: Mutex<u32>,
    /// The commands sent: (marker, command id).
    pub sent: Mutex<Vec<(String, String)>>,
    /// The automations started: (client token, execution id). A start with a known
    /// token returns the execution it started, as SSM does.
    pub started: Mutex<Vec<(String, String)>>,
    /// The next command results; `Pending` when empty.
    pub commands: Mutex<VecDeque<CommandResult>>,
    /// The next automation results; `Pending` when empty.
    pub automations: Mutex<VecDeque<AutomationResult>>,
}

impl FakeActions {
    pub fn acted(&self) -> Vec<String> {
        lock(&self.acted).clone()
    }

    /// `answer`, unless the call's answer is to be lost.
    fn answer<T>(&self, answer: T, call: &str) -> Result<T, ActionError> {
        let mut lost = lock(&self.lost_answers);
        if *lost > 0 {
            *lost -= 1;
            return Err(ActionError::Unavailable(format!(
                "{call}: the answer was lost"
            )));
        }
        Ok(answer)
    }
}

impl ActionRunner for FakeActions {
    async fn send_command(&self, request: &CommandRequest) -> Result<String, ActionError> {
        if let Some(error) = lock(&self.send_errors).pop_front() {
            return Err(error);
        }
        lock(&self.acted).push(format!("send {}", request.document));
        let command_id = {
            let mut sent = lock(&self.sent);
            let id = format!("cmd-{}", sent.len() + 1);
            sent.push((request.marker.clone(), id.clone()));
            id
        };
        self.answer(command_id, "SendCommand")
    }

    async fn find_command(
        &self,
        request: &CommandRequest,
        _: DateTime<Utc>,
    ) -> Result<Option<String>, ActionError> {
        Ok(lock(&self.sent)
            .iter()
            .find(|(marker, _)| *marker == request.marker)
            .map(|(_, id)| id.clone()))
    }

    async fn command_result(&self, _: &str, _: &str, _: u32) -> Result<CommandResult, ActionError> {
        Ok(lock(&self.commands)
            .pop_front()
            .unwrap_or(CommandResult::Pending))
    }

    async fn start_automation(
        &self,
        document: &str,
        parameters: &BTreeMap<String, Vec<String>>,
        client_token: &str,
    ) -> Result<String, ActionError> {
        lock(&self.acted).push(format!(
            "start {document} {parameters:?} token={client_token}"
        ));
        let execution_id = {
            let mut started = lock(&self.started);
            match started.iter().find(|(token, _)| token == client_token) {
                Some((_, id)) => id.clone(),
                None => {
                    let id = format!("exec-{}", started.len() + 1);
                    started.push((client_token.to_string(), id.clone()));
                    id
                }
            }
        };
        self.answer(execution_id, "StartAutomationExecution")
    }

    async fn automation_result(&self, _: &str) -> Result<AutomationResult, ActionError> {
        Ok(lock(&self.automations)
            .pop_front()
            .unwrap_or(AutomationResult::Pending))
    }

    async fn reboot(&self, instance: &str) -> Result<(), ActionError> {
        lock(&self.acted).push(format!("reboot {instance}"));
        self.answer((), "RebootInstances")
    }

    async fn instance_status(&self, _: &str) -> Result<InstanceStatus, ActionError> {
        Ok(InstanceStatus {
            instance_state: "running".into(),
            instance_status: "ok".into(),
            system_status: "ok".into(),
        })
    }

    async fn alarm_state(&self, _: &str) -> Result<AlarmStateInfo, ActionError> {
        Ok(AlarmStateInfo {
            state: lock(&self.alarm).clone().unwrap_or_else(|| "ALARM".into()),
            reason: "r".into(),
        })
    }

    async fn metric_query(&self, _: &MetricRequest) -> Result<Vec<Datapoint>, ActionError> {
        Ok(Vec::new())
    }
}

/// A scripted mirror: answers every sync with `report` and logs (incident, event kind).
#[derive(Debug, Default)]
pub struct FakeMirror {
    pub report: Mutex<MirrorReport>,
    pub synced: Mutex<Vec<(String, TimelineKind)>>,
}

impl IncidentMirror for FakeMirror {
    async fn sync(
        &self,
        _: &Mirrors,
        incident: &IncidentRecord,
        event: &TimelineEvent,
    ) -> MirrorReport {
        lock(&self.synced).push((incident.id.clone(), event.kind));
        lock(&self.report).clone()
    }
}

/// Emails and SMS as sent, and failures queued for the next sends.
#[derive(Debug, Default)]
pub struct FakePager {
    /// Each send takes the next failure, if any, instead of sending.
    pub failures: Mutex<VecDeque<String>>,
    /// (contact, subject, body).
    pub emails: Mutex<Vec<(String, String, String)>>,
    /// (phone, body).
    pub sms: Mutex<Vec<(String, String)>>,
    /// How long each send takes.
    pub latency: Latency,
    /// When each send was tried, by the latency's clock.
    pub tried_at: Mutex<Vec<Instant>>,
}

impl FakePager {
    /// Who was emailed, in order.
    pub fn emailed(&self) -> Vec<String> {
        lock(&self.emails).iter().map(|e| e.0.clone()).collect()
    }

    /// Which numbers got an SMS, in order.
    pub fn texted(&self) -> Vec<String> {
        lock(&self.sms).iter().map(|s| s.0.clone()).collect()
    }

    fn failure(&self) -> Result<(), PageError> {
        self.latency.pass();
        if let Some((clock, _)) = &self.latency.0 {
            lock(&self.tried_at).push(clock.now());
        }
        match lock(&self.failures).pop_front() {
            Some(message) => Err(PageError(message)),
            None => Ok(()),
        }
    }
}

impl PageSender for FakePager {
    async fn email(&self, contact: &str, subject: &str, body: &str) -> Result<String, PageError> {
        self.failure()?;
        let mut emails = lock(&self.emails);
        emails.push((contact.into(), subject.into(), body.into()));
        Ok(format!("email-{}", emails.len()))
    }

    async fn sms(&self, phone: &str, body: &str) -> Result<String, PageError> {
        self.failure()?;
        let mut sms = lock(&self.sms);
        sms.push((phone.into(), body.into()));
        Ok(format!("sms-{}", sms.len()))
    }
}

/// Alarm states as a test sets them; a name without a reading does not exist.
#[derive(Debug, Default)]
pub struct FakeAlarms {
    pub readings: Mutex<Vec<AlarmReading>>,
    /// Set: every read fails with it.
    pub failure: Mutex<Option<String>>,
    /// The names of each read.
    pub asked: Mutex<Vec<Vec<String>>>,
    /// How long each read takes.
    pub latency: Latency,
}

impl AlarmReader for FakeAlarms {
    async fn readings(&self, names: &[String]) -> Result<Vec<AlarmReading>, PageError> {
        self.latency.pass();
        lock(&self.asked).push(names.to_vec());
        if let Some(message) = lock(&self.failure).clone() {
            return Err(PageError(message));
        }
        Ok(lock(&self.readings)
            .iter()
            .filter(|r| names.contains(&r.alarm_name))
            .cloned()
            .collect())
    }
}

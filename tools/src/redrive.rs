//! Dead letters sent through the consumer again, once their cause is fixed.
//!
//! Each selected letter's record (from the letter, or read from Kafka at its coordinates when
//! the letter left it out) goes through [`Consumer::handle`], the consumer's own decoding and
//! writing, in partition-offset order. A letter is deleted only after `handle` stored its reading;
//! a record that still fails stays in the queue: given back as it was when the reason is the same,
//! replaced by a letter with the new reason otherwise. Items are keyed by the record's
//! coordinates, so redriving a record twice overwrites its own item: nothing is stored twice.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use chrono::{TimeZone, Utc};
use sensor_consumer::aggregate::AggregateStore;
use sensor_consumer::dlq::{DeadLetter, MemoryDeadLetters};
use sensor_consumer::store::BatchWriter;
use sensor_consumer::{dead_letter_reason, Consumer};
use sensor_shared::SchemaSource;
use serde::Serialize;

use crate::dlq::{LetterQueue, Selection};
use crate::esm::RawRecord;
use crate::kafka::RecordSource;

/// How a redrive runs.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    pub selection: Selection,
    /// Change nothing in the queue (what would be deleted, replaced or removed is given back).
    /// The records still go through `handle`: give it a consumer whose stores keep nothing
    /// (`MemoryStore`, `MemoryAggregates`), as `sensorctl dlq redrive --dry-run` does.
    pub dry_run: bool,
    /// Records per call of the consumer (as an event source mapping's batch size).
    pub batch_size: usize,
    /// How long the letters being worked on stay invisible to others.
    pub hold: Duration,
}

/// What became of one record (one letter, or several letters of the same record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    /// `stored`, `failing` (still poison: `reason` says why now), `skipped` (not tried:
    /// `note` says why) or `error` (an outage stopped the redrive before it was tried).
    pub result: &'static str,
    pub previous_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Letters of this record in the queue (the same record dead-lettered more than once).
    pub letters: usize,
}

/// What a redrive did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub dry_run: bool,
    /// Letters that matched the selection.
    pub selected: usize,
    /// Records stored (their letters deleted).
    pub stored: usize,
    /// Records that still fail (kept in the queue with their reason now).
    pub failing: usize,
    pub skipped: usize,
    /// Records read from Kafka because their letter left them out.
    pub fetched: usize,
    /// Letters deleted as extra copies of a record's letter.
    pub copies_removed: usize,
    /// Records in partition-offset order.
    pub outcomes: Vec<Outcome>,
    /// The outage that stopped the redrive, if one did; everything not done is left as it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One record to send through the consumer: its letter, made whole, and every queued letter of it.
struct Candidate {
    letter: DeadLetter,
    receipts: Vec<String>,
}

fn coordinates(l: &DeadLetter) -> (String, i64, i64) {
    (l.topic.clone(), l.partition, l.offset)
}

/// The letter with the record read from Kafka in place of what it left out.
fn made_whole(l: &DeadLetter, r: RawRecord) -> DeadLetter {
    let b64 = base64::engine::general_purpose::STANDARD;
    DeadLetter {
        timestamp: r.timestamp_ms,
        key: r.key.map(|k| b64.encode(k)),
        value: r.value.map(|v| b64.encode(v)),
        headers: r
            .headers
            .into_iter()
            .map(|(name, v)| HashMap::from([(name, v.into_iter().map(|b| b as i8).collect())]))
            .collect(),
        omitted: None,
        ..l.clone()
    }
}

/// The event Lambda would deliver for these records.
pub fn event_of(letters: &[&DeadLetter]) -> KafkaEvent {
    let mut grouped: BTreeMap<String, Vec<KafkaRecord>> = BTreeMap::new();
    for l in letters {
        let mut k = KafkaRecord::default();
        k.topic = Some(l.topic.clone());
        k.partition = l.partition;
        k.offset = l.offset;
        k.timestamp = MillisecondTimestamp(
            Utc.timestamp_millis_opt(l.timestamp)
                .single()
                .unwrap_or_default(),
        );
        k.timestamp_type = Some("CREATE_TIME".into());
        k.key = l.key.clone();
        k.value = l.value.clone();
        k.headers = l.headers.clone();
        grouped
            .entry(format!("{}-{}", l.topic, l.partition))
            .or_default()
            .push(k);
    }
    let mut event = KafkaEvent::default();
    event.event_source = Some("SelfManagedKafka".into());
    event.records = grouped.into_iter().collect();
    event
}

/// Redrives the selected letters of `queue` through `consumer` (whose dead letters are caught in
/// memory: what still fails goes back to `queue` here). `records` reads records the letters left
/// out; without it those letters are skipped. Queue errors before anything is tried are `Err`;
/// an outage in the middle stops the redrive and is in [`Report::error`].
pub async fn redrive<S, W, A, Q, R>(
    consumer: &Consumer<S, W, MemoryDeadLetters, A>,
    queue: &Q,
    records: Option<&R>,
    opts: &RedriveOptions,
) -> Result<Report, String>
where
    S: SchemaSource,
    W: BatchWriter,
    A: AggregateStore,
    Q: LetterQueue,
    R: RecordSource,
{
    opts.selection.check()?;
    let queued = queue
        .receive_all(opts.hold)
        .await
        .map_err(|e| e.to_string())?;
    let mut report = Report {
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let mut give_back: Vec<String> = Vec::new();
    let mut selected: Vec<(DeadLetter, String)> = Vec::new();
    for q in queued {
        match q.letter {
            Ok(l) if opts.selection.matches(&l) => selected.push((l, q.receipt)),
            _ => give_back.push(q.receipt),
        }
    }
    report.selected = selected.len();
    selected.sort_by_key(|(l, _)| coordinates(l));

    let mut outcomes: Vec<Outcome> = Vec::new();
    let skip = |l: &DeadLetter, note: String| Outcome {
        topic: l.topic.clone(),
        partition: l.partition,
        offset: l.offset,
        result: "skipped",
        previous_reason: l.reason.clone(),
        reason: None,
        note: Some(note),
        letters: 1,
    };
    // One candidate per record: letters of the same coordinates and content are one record
    // dead-lettered more than once.
    let mut candidates: Vec<Candidate> = Vec::new();
    for (l, receipt) in selected {
        let class = dead_letter_reason(&l.reason);
        if class == "KeyCollision" && !opts.selection.names_reason(class) {
            outcomes.push(skip(
                &l,
                "a key collision: redriving it replaces the item stored at its coordinates; \
                 select it with --reason KeyCollision to do so"
                    .into(),
            ));
            give_back.push(receipt);
            continue;
        }
        let whole = if l.omitted.is_some() {
            let Some(records) = records else {
                outcomes.push(skip(
                    &l,
                    "the letter left its record out; give --bootstrap-servers or \
                     --broker-secret-arn to read it from Kafka"
                        .into(),
                ));
                give_back.push(receipt);
                continue;
            };
            let partition = i32::try_from(l.partition).unwrap_or(-1);
            match records.fetch(&l.topic, partition, l.offset).await {
                Ok(r) => {
                    report.fetched += 1;
                    made_whole(&l, r)
                }
                // Gone: retention or compaction took it; Unavailable: a later run may read it.
                Err(e) => {
                    outcomes.push(skip(&l, e.to_string()));
                    give_back.push(receipt);
                    continue;
                }
            }
        } else {
            l
        };
        let same_record = |c: &Candidate| {
            coordinates(&c.letter) == coordinates(&whole)
                && (&c.letter.key, &c.letter.value, &c.letter.headers)
                    == (&whole.key, &whole.value, &whole.headers)
        };
        match candidates.iter_mut().find(|c| same_record(c)) {
            Some(c) => c.receipts.push(receipt),
            None => candidates.push(Candidate {
                letter: whole,
                receipts: vec![receipt],
            }),
        }
    }
    if !give_back.is_empty() {
        queue
            .give_back(&give_back)
            .await
            .map_err(|e| e.to_string())?;
    }

    // Batches never name one coordinate twice: a later letter of the same coordinates with other
    // content waits for the next batch.
    let mut batches: Vec<Vec<Candidate>> = Vec::new();
    for c in candidates {
        let full = batches
            .last()
            .is_none_or(|b| b.len() >= opts.batch_size.max(1))
            || batches.last().is_some_and(|b| {
                b.iter()
                    .any(|o| coordinates(&o.letter) == coordinates(&c.letter))
            });
        if full {
            batches.push(Vec::new());
        }
        batches.last_mut().expect("pushed above").push(c);
    }

    let mut batches = batches.into_iter();
    while let Some(batch) = batches.next() {
        consumer.dead_letters.letters.lock().unwrap().clear();
        let event = event_of(&batch.iter().map(|c| &c.letter).collect::<Vec<_>>());
        if let Err(e) = consumer.handle(&event).await {
            let f = e.failure();
            report.error = Some(format!("{}: {}", f.class, f.message()));
            let left: Vec<Candidate> = batch
                .into_iter()
                .chain(batches.by_ref().flatten())
                .collect();
            for c in &left {
                outcomes.push(Outcome {
                    result: "error",
                    note: Some("not tried: the redrive stopped".into()),
                    letters: c.receipts.len(),
                    ..skip(&c.letter, String::new())
                });
            }
            let receipts: Vec<String> = left.into_iter().flat_map(|c| c.receipts).collect();
            if let Err(e) = queue.give_back(&receipts).await {
                tracing::warn!(error = %e, "letters not given back; they reappear when their hold ends");
            }
            break;
        }
        let failed: HashMap<(String, i64, i64), DeadLetter> = consumer
            .dead_letters
            .letters
            .lock()
            .unwrap()
            .drain(..)
            .map(|l| (coordinates(&l), l))
            .collect();
        let (mut delete, mut back, mut resend) = (Vec::new(), Vec::new(), Vec::new());
        for c in batch {
            let mut o = Outcome {
                topic: c.letter.topic.clone(),
                partition: c.letter.partition,
                offset: c.letter.offset,
                result: "stored",
                previous_reason: c.letter.reason.clone(),
                reason: None,
                note: None,
                letters: c.receipts.len(),
            };
            match failed.get(&coordinates(&c.letter)) {
                None => {
                    report.stored += 1;
                    delete.extend(c.receipts);
                }
                Some(now) => {
                    report.failing += 1;
                    o.result = "failing";
                    o.reason = Some(now.reason.clone());
                    let mut receipts = c.receipts.into_iter();
                    if now.reason == c.letter.reason {
                        // The same letter again: keep one, drop its copies.
                        back.extend(receipts.next());
                        report.copies_removed += receipts.len();
                        delete.extend(receipts);
                    } else {
                        resend.push(now.clone());
                        delete.extend(receipts);
                    }
                }
            }
            outcomes.push(o);
        }
        if opts.dry_run {
            report.copies_removed = 0;
            back.append(&mut delete);
            resend.clear();
        }
        // New letters go in before the old ones go out: a failure in between leaves a record
        // with two letters, never with none.
        let step = async {
            if !resend.is_empty() {
                queue.send(resend).await?;
            }
            if !delete.is_empty() {
                queue.delete(&delete).await?;
            }
            if !back.is_empty() {
                queue.give_back(&back).await?;
            }
            Ok::<(), sensor_consumer::DeadLetterError>(())
        };
        if let Err(e) = step.await {
            report.error = Some(e.to_string());
            let receipts: Vec<String> = batches
                .by_ref()
                .flatten()
                .flat_map(|c| c.receipts)
                .collect();
            let _ = queue.give_back(&receipts).await;
            break;
        }
    }
    outcomes
        .sort_by(|a, b| (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset)));
    report.skipped = outcomes.iter().filter(|o| o.result == "skipped").count();
    report.outcomes = outcomes;
    Ok(report)
}

/// The report as text for people.
pub fn report_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let verb = if r.dry_run { "would be " } else { "" };
    for o in &r.outcomes {
        let what = match (o.result, &o.reason, &o.note) {
            ("stored", _, _) => format!("{verb}stored"),
            ("failing", Some(now), _) if *now == o.previous_reason => {
                format!("still failing: {now}")
            }
            ("failing", Some(now), _) => format!("still failing, now: {now}"),
            (other, _, Some(note)) => format!("{other}: {note}"),
            (other, _, None) => other.to_string(),
        };
        let _ = writeln!(s, "{}/{}/{}  {what}", o.topic, o.partition, o.offset);
    }
    let _ = writeln!(
        s,
        "{} letter(s) selected: {} record(s) {verb}stored, {} still failing, {} skipped{}{}",
        r.selected,
        r.stored,
        r.failing,
        r.skipped,
        if r.fetched > 0 {
            format!(", {} read from Kafka", r.fetched)
        } else {
            String::new()
        },
        if r.copies_removed > 0 {
            format!(", {} duplicate letter(s) removed", r.copies_removed)
        } else {
            String::new()
        }
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "stopped: {e}");
    }
    s
}

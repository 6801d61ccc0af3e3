//! `plan` with an in-memory registry view: its predictions against what the producer then does.

use sensor_producer::testing;
use sensor_shared::{Compatibility, SchemaVersion};
use sensor_tools::plan::{diff, plan, plan_text, MemoryView, PlanOptions, Step};
use serde_json::{json, Value};

fn options(compatibility: Compatibility) -> PlanOptions {
    PlanOptions {
        compatibility,
        max_batch: 500,
        device_id: "000001".into(),
        topic: "sensor-readings".into(),
        envelope: false,
    }
}

fn lines(events: &[Value]) -> Vec<(usize, Value)> {
    events
        .iter()
        .cloned()
        .zip(1..)
        .map(|(e, i)| (i, e))
        .collect()
}

/// The producer for real, on an in-memory registry: the versions it registers.
async fn registered(events: &[Value]) -> Vec<SchemaVersion> {
    let producer = testing::producer(Compatibility::Backward);
    for e in events {
        let answer = producer.handle(e.clone()).await.unwrap();
        assert_eq!(answer.status_code, 200, "{}", answer.message);
    }
    producer.schemas.registry().versions()
}

fn actions(steps: &[Step]) -> Vec<(&str, Option<i64>)> {
    steps.iter().map(|s| (s.action, s.version)).collect()
}

#[tokio::test]
async fn predicts_the_versions_the_producer_registers() {
    // The demo: an empty event, one with a temperature, an empty one again.
    let events = [json!({}), json!({"temperature": 30}), json!({})];
    let view = MemoryView::default();
    let steps = plan(view, &lines(&events), &options(Compatibility::Backward))
        .await
        .unwrap();
    assert_eq!(
        actions(&steps),
        [
            ("register", Some(1)),
            ("register", Some(2)),
            ("reuse", Some(2))
        ]
    );
    let real = registered(&events).await;
    assert_eq!(real.len(), 2);
    assert_eq!(
        steps[0].definition.as_deref(),
        Some(real[0].definition.as_str())
    );
    assert_eq!(
        steps[1].definition.as_deref(),
        Some(real[1].definition.as_str())
    );
    assert_eq!(steps[2].definition, steps[1].definition);
    assert!(steps[0]
        .diff
        .iter()
        .any(|d| d.starts_with("+ deviceId: \"string\"")));
    assert_eq!(
        steps[1].diff,
        ["+ temperature: [\"null\",\"long\"] (default null)"]
    );
    assert!(
        steps.iter().all(|s| s.version_id.is_none()),
        "planned versions have no id"
    );
    let text = plan_text(&steps);
    assert!(
        text.contains("line 1: register v1 (BACKWARD), creating the schema"),
        "{text}"
    );
    assert!(text.contains("line 3: reuse v2 (planned above)"), "{text}");
}

#[tokio::test]
async fn against_registered_versions_it_reuses_or_registers_the_next() {
    let live = registered(&[json!({}), json!({"temperature": 30})]).await;
    let defs: Vec<&str> = live.iter().map(|v| v.definition.as_str()).collect();
    let view = MemoryView::new(Compatibility::Backward, &defs);
    let ids: Vec<_> = view.versions.iter().map(|v| v.id).collect();
    let events = [
        json!({"temperature": 31}),
        json!({}),
        json!([{"humidity": 0.5}, {"temperature": 2}]),
        json!({"humidity": 0.4}),
    ];
    let steps = plan(view, &lines(&events), &options(Compatibility::Backward))
        .await
        .unwrap();
    assert_eq!(
        actions(&steps),
        [
            ("reuse", Some(2)),
            ("reuse", Some(2)),
            ("register", Some(3)),
            ("reuse", Some(3))
        ]
    );
    assert_eq!(steps[0].version_id, Some(ids[1]));
    assert_eq!(
        steps[2].diff,
        ["+ humidity: [\"null\",\"double\"] (default null)"]
    );
    assert_eq!(steps[3].version_id, None, "v3 is only planned");
}

#[tokio::test]
async fn refuses_what_the_producer_refuses_and_says_why() {
    let live = registered(&[json!({"temperature": 30})]).await;
    let defs = [live[0].definition.as_str()];

    // The producer widens long to double under BACKWARD; the schema's own mode (FORWARD, in
    // the registry) refuses it: old readers cannot read a double.
    let forward_schema = MemoryView::new(Compatibility::Forward, &defs);
    let steps = plan(
        forward_schema,
        &lines(&[json!({"temperature": 30.5}), json!({"temperature": 31})]),
        &options(Compatibility::Backward),
    )
    .await
    .unwrap();
    assert_eq!(actions(&steps), [("refuse", None), ("reuse", Some(1))]);
    assert_eq!(steps[0].refusal.as_deref(), Some("Incompatible"));
    let why = steps[0].reason.as_deref().unwrap();
    assert!(
        why.contains("FORWARD") && why.contains("the schema's mode in the registry"),
        "{why}"
    );
    assert_eq!(steps[0].compatibility, "FORWARD");

    // Under BACKWARD everywhere, the same event registers v2 with the field widened.
    let backward = MemoryView::new(Compatibility::Backward, &defs);
    let steps = plan(
        backward,
        &lines(&[json!({"temperature": 30.5})]),
        &options(Compatibility::Backward),
    )
    .await
    .unwrap();
    assert_eq!(actions(&steps), [("register", Some(2))]);
    assert_eq!(
        steps[0].diff,
        ["~ temperature: [\"null\",\"long\"] (default null) → [\"null\",\"double\"] (default null)"]
    );

    // A type conflict is refused by the inference, whatever the mode.
    let view = MemoryView::new(Compatibility::Backward, &defs);
    let steps = plan(
        view,
        &lines(&[json!({"temperature": "hot"}), json!([])]),
        &options(Compatibility::Backward),
    )
    .await
    .unwrap();
    assert_eq!(steps[0].refusal.as_deref(), Some("Inference"));
    assert!(steps[0].reason.as_deref().unwrap().contains("temperature"));
    assert_eq!(steps[1].refusal.as_deref(), Some("Shape"));
}

#[test]
fn diffs_name_each_field_once() {
    let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#;
    let b = r#"{"type":"record","name":"R","namespace":"x","fields":[{"name":"a","type":"double"},{"name":"c","type":["null","long"],"default":null}]}"#;
    assert_eq!(
        diff(Some(a), b),
        [
            "~ namespace: null → \"x\"",
            "~ a: \"long\" → \"double\"",
            "+ c: [\"null\",\"long\"] (default null)",
            "- b",
        ]
    );
    assert!(diff(Some(a), a).is_empty());
}

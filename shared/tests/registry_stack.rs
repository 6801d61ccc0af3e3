//! The registry client against the local stack: moto with two accounts and IAM enforcement,
//! started by `scripts/stack.sh up` for each test on free ports and stopped when the test ends
//! (see `support`). Needs the project venv, so it runs only with the feature `stack-tests`
//! (`scripts/test.sh` turns it on).
//!
//! - the consumer account reads the producer's schemas only through the cross-account role, and
//!   the role cannot write;
//! - get-or-register: create, reuse, evolve, refuse incompatible definitions before registering;
//! - assumed-role credentials refresh by themselves in a long-lived client (SDK test clock);
//! - the consumer cache merges concurrent lookups into one Glue call and caches no failure;
//! - outages (throttling, 503, reset connections) are retryable errors and pass.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_glue::error::SdkError;
use aws_sdk_glue::types::{
    Compatibility as GlueCompatibility, DataFormat, MetadataKeyValuePair, RegistryId, SchemaId,
    SchemaVersionNumber,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde_json::{json, Value};
use uuid::Uuid;

use sensor_shared::aws::{
    assume_role_config, glue_client, CallCounter, GlueRegistry, GlueRegistryConfig,
};
use sensor_shared::infer::{infer, InferError, InferOptions};
use sensor_shared::schema::{Compatibility, Record, Type};
use sensor_shared::{RegistryError, SchemaCache, SchemaRegistry, SchemaSource, SchemaVersion};

use support::{Identity, OffsetClock, Stack, StackOptions, Via};

// ---------------------------------------------------------------------------------------------
// Definitions, inferred from events the way the producer does it

fn reading(extra: Value) -> Value {
    sensor_shared::testing::reading("000001", 1_700_000_000_000, extra)
}

/// The definition `event` gives on top of `previous`, with the producer's default options.
fn inferred(event: Value, previous: Option<&str>) -> String {
    let prev = previous.map(|d| Record::parse(d).expect("a registered definition parses"));
    let out = infer(&event, prev.as_ref(), &InferOptions::default()).expect("inference");
    assert!(out.changed, "the event must change the schema");
    out.definition
}

/// Version 1: `temperature` is a long.
fn first() -> String {
    inferred(reading(json!({"temperature": 21})), None)
}

/// Version 2: adds an optional `humidity`.
fn evolved(v1: &str) -> String {
    inferred(
        reading(json!({"temperature": 22, "humidity": 40.5})),
        Some(v1),
    )
}

/// `temperature` long → string. Inference refuses this itself, so the definition is edited by
/// hand, the way a producer with a stale or foreign schema might send it.
fn temperature_as_string(previous: &str) -> String {
    let prev = Record::parse(previous).unwrap();
    let refused = infer(
        &reading(json!({"temperature": "warm"})),
        Some(&prev),
        &InferOptions::default(),
    );
    assert!(matches!(refused, Err(InferError::TypeConflict { .. })));
    let mut rec = prev;
    let field = rec
        .fields
        .iter_mut()
        .find(|f| f.json_key == "temperature")
        .expect("temperature field");
    assert_eq!(field.ty, Type::Optional(Box::new(Type::Long)));
    field.ty = Type::Optional(Box::new(Type::String));
    rec.to_definition()
}

/// `temperature` long → double: inference allows the widening under BACKWARD (the default).
fn temperature_widened(v1: &str) -> String {
    let def = inferred(reading(json!({"temperature": 21.5})), Some(v1));
    let rec = Record::parse(&def).unwrap();
    assert_eq!(
        rec.field_by_key("temperature").unwrap().ty,
        Type::Optional(Box::new(Type::Double))
    );
    def
}

// ---------------------------------------------------------------------------------------------
// Clients

fn registry_config(stack: &Stack) -> GlueRegistryConfig {
    GlueRegistryConfig::new(stack.registry_name(), stack.schema_name())
}

async fn config(stack: &Stack, who: Identity) -> SdkConfig {
    stack.loader(who, Via::Moto).load().await
}

fn registry(config: &SdkConfig, counter: &CallCounter, cfg: GlueRegistryConfig) -> GlueRegistry {
    GlueRegistry::new(glue_client(config, Some(counter)), cfg)
}

/// (CreateSchema, RegisterSchemaVersion) calls so far.
fn writes(counter: &CallCounter) -> (u64, u64) {
    (
        counter.count("Glue", "CreateSchema"),
        counter.count("Glue", "RegisterSchemaVersion"),
    )
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn schema_id(registry: &str, schema: &str) -> SchemaId {
    SchemaId::builder()
        .registry_name(registry)
        .schema_name(schema)
        .build()
}

/// The producer registers version 1 (with its own identity, straight at moto).
async fn register_first(stack: &Stack) -> (SchemaVersion, String) {
    let def = first();
    let producer = config(stack, Identity::Producer).await;
    let reg = registry(&producer, &CallCounter::new(), registry_config(stack));
    let v1 = reg
        .get_or_register(&def)
        .await
        .expect("producer registers v1");
    assert_eq!(v1.number, 1);
    (v1, def)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reads_producer_schemas_only_through_the_role() {
    let stack = Stack::up(StackOptions::default());
    let (v1, def1) = register_first(&stack).await;

    // The consumer Lambda's own identity: no Glue permission at all.
    let own = GlueRegistry::new(
        glue_client(&config(&stack, Identity::Consumer).await, None),
        registry_config(&stack),
    );
    let e = own.get_version(v1.id).await.unwrap_err();
    assert!(matches!(e, RegistryError::AccessDenied(_)), "{e}");
    assert!(!e.is_retryable());
    let e = own.latest().await.unwrap_err();
    assert!(matches!(e, RegistryError::AccessDenied(_)), "{e}");

    // Even with every permission in the consumer account, the names, the version id and the
    // full ARN of the producer's schema resolve in the consumer account, where nothing exists.
    let admin_cfg = config(&stack, Identity::ConsumerAdmin).await;
    let admin = GlueRegistry::new(glue_client(&admin_cfg, None), registry_config(&stack));
    let e = admin.get_version(v1.id).await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound(_)), "{e}");
    assert_eq!(admin.latest().await.unwrap(), None);
    let arn = format!(
        "arn:aws:glue:{}:{}:schema/{}/{}",
        stack.region(),
        stack.var("PRODUCER_ACCOUNT_ID"),
        stack.registry_name(),
        stack.schema_name()
    );
    let e = admin
        .client()
        .get_schema_version()
        .schema_id(SchemaId::builder().schema_arn(&arn).build())
        .schema_version_number(SchemaVersionNumber::builder().version_number(1).build())
        .send()
        .await
        .expect_err("the producer's schema must not be readable by ARN from the consumer account");
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_entity_not_found_exception()),
        "{e:?}"
    );

    // Through the cross-account role (with the external id) the consumer reads.
    let consumer = config(&stack, Identity::Consumer).await;
    let assumed = assume_role_config(&consumer, &stack.schema_reader_role("show-read-only")).await;
    let counter = CallCounter::new();
    let via_role = registry(&assumed, &counter, registry_config(&stack));
    assert_eq!(via_role.get_version(v1.id).await.unwrap(), v1);
    // As the consumer Lambda builds it: lookups by id, no registry or schema named.
    let lookup = GlueRegistry::versions_by_id(glue_client(&assumed, None));
    assert_eq!(lookup.get_version(v1.id).await.unwrap(), v1);
    assert_eq!(via_role.latest().await.unwrap(), Some(v1.clone()));
    assert_eq!(v1.definition, def1);

    // ... but cannot write. A compatible version 2 passes the local check and reaches
    // RegisterSchemaVersion, which is denied:
    let def2 = evolved(&def1);
    let e = via_role.get_or_register(&def2).await.unwrap_err();
    assert!(matches!(e, RegistryError::AccessDenied(_)), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(writes(&counter), (0, 1));
    // A schema that does not exist yet reaches CreateSchema, which is denied:
    let other = registry(
        &assumed,
        &counter,
        GlueRegistryConfig::new(stack.registry_name(), "created-by-the-role"),
    );
    let e = other.get_or_register(&def1).await.unwrap_err();
    assert!(matches!(e, RegistryError::AccessDenied(_)), "{e}");
    assert_eq!(writes(&counter), (1, 1));
    // Every other change is a 403 as well.
    let glue = via_role.client();
    let sid = || schema_id(stack.registry_name(), stack.schema_name());
    let e = glue
        .create_registry()
        .registry_name("created-by-the-role")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), Some(403), "CreateRegistry: {e:?}");
    let e = glue
        .update_schema()
        .schema_id(sid())
        .compatibility(GlueCompatibility::None)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), Some(403), "UpdateSchema: {e:?}");
    let e = glue
        .put_schema_version_metadata()
        .schema_version_id(v1.id.to_string())
        .metadata_key_value(
            MetadataKeyValuePair::builder()
                .metadata_key("owner")
                .metadata_value("consumer")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), Some(403), "PutSchemaVersionMetadata: {e:?}");
    let e = glue
        .delete_schema()
        .schema_id(sid())
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), Some(403), "DeleteSchema: {e:?}");

    // Nothing changed in the producer account.
    let producer = config(&stack, Identity::Producer).await;
    let reg = registry(&producer, &CallCounter::new(), registry_config(&stack));
    assert_eq!(reg.latest().await.unwrap(), Some(v1.clone()));
    let schema = reg
        .client()
        .get_schema()
        .schema_id(sid())
        .send()
        .await
        .unwrap();
    assert_eq!(schema.compatibility(), Some(&GlueCompatibility::Backward));
    let untouched = registry(
        &producer,
        &CallCounter::new(),
        GlueRegistryConfig::new(stack.registry_name(), "created-by-the-role"),
    );
    assert_eq!(untouched.latest().await.unwrap(), None);
    let e = reg
        .client()
        .get_registry()
        .registry_id(
            RegistryId::builder()
                .registry_name("created-by-the-role")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_entity_not_found_exception()),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_register_creates_reuses_evolves_and_refuses() {
    let stack = Stack::up(StackOptions::default());
    let producer = config(&stack, Identity::Producer).await;
    let counter = CallCounter::new();
    let reg = registry(&producer, &counter, registry_config(&stack));
    let def1 = first();
    let def2 = evolved(&def1);

    // First call: schema and version 1 are created.
    assert_eq!(reg.latest().await.unwrap(), None);
    let v1 = reg.get_or_register(&def1).await.unwrap();
    assert_eq!((v1.number, v1.definition.as_str()), (1, def1.as_str()));
    assert_eq!(writes(&counter), (1, 0));
    let schema = reg
        .client()
        .get_schema()
        .schema_id(schema_id(stack.registry_name(), stack.schema_name()))
        .send()
        .await
        .unwrap();
    assert_eq!(schema.compatibility(), Some(&GlueCompatibility::Backward));
    assert_eq!(schema.data_format(), Some(&DataFormat::Avro));
    assert_eq!(schema.latest_schema_version(), Some(1));

    // Same definition, same client: answered from memory, no Glue call at all.
    let calls = counter.service_total("Glue");
    assert_eq!(reg.get_or_register(&def1).await.unwrap(), v1);
    assert_eq!(counter.service_total("Glue"), calls);

    // Same definition from a fresh client (another container): found by definition, nothing
    // registered.
    let lookups = counter.count("Glue", "GetSchemaByDefinition");
    let other = registry(&producer, &counter, registry_config(&stack));
    assert_eq!(other.get_or_register(&def1).await.unwrap(), v1);
    assert_eq!(writes(&counter), (1, 0));
    assert_eq!(counter.count("Glue", "GetSchemaByDefinition"), lookups + 1);
    assert_eq!(reg.latest().await.unwrap(), Some(v1.clone()));

    // An evolved definition: version 2.
    let v2 = reg.get_or_register(&def2).await.unwrap();
    assert_eq!((v2.number, v2.definition.as_str()), (2, def2.as_str()));
    assert_ne!(v2.id, v1.id);
    assert_eq!(writes(&counter), (1, 1));
    assert_eq!(other.latest().await.unwrap(), Some(v2.clone()));

    // long → string is not BACKWARD compatible: refused before anything is registered, from a
    // warm and from a fresh client.
    let def_str = temperature_as_string(&def2);
    for client in [&reg, &other] {
        let e = client.get_or_register(&def_str).await.unwrap_err();
        assert!(matches!(e, RegistryError::Incompatible(_)), "{e}");
        assert!(!e.is_retryable());
    }
    assert_eq!(writes(&counter), (1, 1));
    assert_eq!(reg.latest().await.unwrap(), Some(v2.clone()));

    // long → double (widening) is refused under FULL (old readers cannot read a double)...
    let wide = temperature_widened(&def1);
    let full_counter = CallCounter::new();
    let full = registry(
        &producer,
        &full_counter,
        GlueRegistryConfig {
            compatibility: Compatibility::Full,
            ..GlueRegistryConfig::new(stack.registry_name(), "sensor-readings-full")
        },
    );
    let f1 = full.get_or_register(&def1).await.unwrap();
    assert_eq!(f1.number, 1);
    let full_schema = full
        .client()
        .get_schema()
        .schema_id(schema_id(stack.registry_name(), "sensor-readings-full"))
        .send()
        .await
        .unwrap();
    assert_eq!(full_schema.compatibility(), Some(&GlueCompatibility::Full));
    let e = full.get_or_register(&wide).await.unwrap_err();
    assert!(matches!(e, RegistryError::Incompatible(_)), "{e}");
    assert_eq!(writes(&full_counter), (1, 0));
    assert_eq!(full.latest().await.unwrap(), Some(f1));

    // ... while under BACKWARD the same definition is a new version (3): the refusal above came
    // from the mode, not from the definition.
    let v3 = reg.get_or_register(&wide).await.unwrap();
    assert_eq!(v3.number, 3);
    assert_eq!(writes(&counter), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_role_credentials_refresh_in_a_long_lived_client() {
    let stack = Stack::up(StackOptions { moto_proxy: true });
    let (v1, _) = register_first(&stack).await;

    // The consumer's base config goes through the faultproxy, which counts sts:AssumeRole. The
    // SDK runs on a test clock, so no real time needs to pass.
    //
    // STS's shortest session is 900 s. The identity cache treats credentials as expired
    // `refresh_before_expiry` before expiry, minus a random jitter of up to half of it: with
    // 890 s, between 10 s and 455 s after they were issued. So calls close together share one
    // AssumeRole, and a clock 600 s ahead must refresh. (The requests are signed with the test
    // clock's time; moto does not check clock skew, real AWS would refuse beyond 5 minutes.)
    let clock = OffsetClock::default();
    let base = stack
        .loader(Identity::Consumer, Via::Proxy)
        .time_source(clock.clone())
        .load()
        .await;
    let role = sensor_shared::aws::AssumeRole {
        refresh_before_expiry: Duration::from_secs(890),
        ..stack.schema_reader_role("show-refresh")
    };
    assert_eq!(role.session_length, Duration::from_secs(900));
    let assumed = assume_role_config(&base, &role).await;
    let counter = CallCounter::new();
    // Built once, used for every call below.
    let reg = registry(&assumed, &counter, registry_config(&stack));
    assert_eq!(
        stack.proxy_passed("sts:AssumeRole"),
        0,
        "credentials are fetched lazily"
    );

    let mut expected_assume = 0;
    for (step, offset) in [0_u64, 0, 600, 1200, 1800].into_iter().enumerate() {
        clock.set_offset(Duration::from_secs(offset));
        let got = reg.get_version(v1.id).await;
        assert_eq!(
            got.as_ref(),
            Ok(&v1),
            "call {step} at +{offset} s failed: {got:?}"
        );
        // The first call assumes the role, the second reuses the credentials, every later one
        // comes after the cached credentials count as expired.
        if step != 1 {
            expected_assume += 1;
        }
        assert_eq!(
            stack.proxy_passed("sts:AssumeRole"),
            expected_assume,
            "AssumeRole calls after call {step} at +{offset} s"
        );
    }
    // Past the first credentials' expiry (+900 s) on the client's clock, the same client works.
    assert_eq!(expected_assume, 4);
    assert!(stack.proxy_passed("sts:AssumeRole") >= 2);
    assert_eq!(counter.count("Glue", "GetSchemaVersion"), 5);
    assert_eq!(stack.proxy_passed("glue:GetSchemaVersion"), 5);
    assert_eq!(stack.proxy_counters()["total_faulted"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_merges_concurrent_lookups_and_caches_no_failure() {
    const N: usize = 32;
    let stack = Stack::up(StackOptions::default());
    let (v1, def1) = register_first(&stack).await;

    let consumer = config(&stack, Identity::Consumer).await;
    let assumed = assume_role_config(&consumer, &stack.schema_reader_role("show-cache")).await;
    let counter = CallCounter::new();
    let cache = Arc::new(SchemaCache::new(
        registry(&assumed, &counter, registry_config(&stack)),
        16,
    ));

    // N lookups of an id the cache has not seen, released at once.
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                cache.get(v1.id).await
            })
        })
        .collect();
    let mut schemas = Vec::new();
    for t in tasks {
        schemas.push(t.await.unwrap().expect("lookup through the role"));
    }
    assert_eq!(counter.count("Glue", "GetSchemaVersion"), 1);
    assert_eq!(schemas[0].definition(), def1);
    assert!(schemas.iter().all(|s| Arc::ptr_eq(s, &schemas[0])));
    let stats = cache.stats();
    assert_eq!((stats.fetches, stats.entries), (1, 1));

    // Warm: no call.
    let hits = stats.hits;
    assert!(Arc::ptr_eq(&cache.get(v1.id).await.unwrap(), &schemas[0]));
    assert_eq!(counter.count("Glue", "GetSchemaVersion"), 1);
    assert_eq!(cache.stats().hits, hits + 1);

    // A version that does not exist: NotFound, not retryable, not cached (asked again).
    let missing = Uuid::new_v4();
    for round in 1..=2 {
        let e = cache.get(missing).await.unwrap_err();
        assert!(matches!(e, RegistryError::NotFound(_)), "{e}");
        assert!(!e.is_retryable());
        assert_eq!(counter.count("Glue", "GetSchemaVersion"), 1 + round);
        assert_eq!(cache.stats().entries, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_outage_is_retryable_and_passes() {
    const ATTEMPTS: u32 = 2;
    let stack = Stack::up(StackOptions { moto_proxy: true });
    let (v1, def1) = register_first(&stack).await;

    // The consumer, through the proxy, with few and quick retries.
    let consumer = stack
        .loader(Identity::Consumer, Via::Proxy)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .load()
        .await;
    let assumed = assume_role_config(&consumer, &stack.schema_reader_role("show-outage")).await;
    let counter = CallCounter::new();
    let cache = SchemaCache::new(registry(&assumed, &counter, registry_config(&stack)), 16);
    let reg = cache.source();

    let label = "glue:GetSchemaVersion";
    for mode in ["throttle", "503", "refuse"] {
        stack.fault(json!({"mode": mode, "match": "glue"}));
        let faulted = stack.proxy_faulted(label);
        let e = reg.get_version(v1.id).await.unwrap_err();
        assert!(matches!(e, RegistryError::Unavailable(_)), "{mode}: {e}");
        assert!(e.is_retryable(), "{mode}: {e}");
        // The SDK retried, within the configured attempts.
        assert_eq!(
            stack.proxy_faulted(label) - faulted,
            u64::from(ATTEMPTS),
            "{mode}"
        );
        // Through the cache: the same error, and nothing cached.
        let e = cache.get(v1.id).await.unwrap_err();
        assert!(e.is_retryable(), "{mode}: {e}");
        assert_eq!(cache.stats().entries, 0);
    }

    stack.fault(json!({"mode": "pass"}));
    assert_eq!(reg.get_version(v1.id).await.unwrap(), v1);
    assert_eq!(cache.get(v1.id).await.unwrap().definition(), def1);
    assert_eq!(cache.stats().entries, 1);
    // STS was never faulted: the failures above were Glue's alone.
    assert_eq!(stack.proxy_faulted("sts:AssumeRole"), 0);
}

//! `DynamoStore` through the real SDK against a scripted DynamoDB endpoint on 127.0.0.1: the
//! request body is our items' JSON, signed and sized correctly, and UnprocessedItems from the
//! response come back as items that `write_all` sends again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use sensor_consumer::item::{item_from_attributes, write_attribute};
use sensor_consumer::store::{write_all, Attributes, DynamoStore};
use sensor_consumer::{Backoff, BatchWriter, Item, StoreError};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A request as the endpoint saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Answers each request with the next scripted (status, body); the last one repeats.
async fn endpoint(script: Vec<(u16, Value)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (read, mut write) = sock.into_split();
            let mut read = BufReader::new(read);
            // Keep-alive: serve every request on this connection.
            loop {
                let mut headers = HashMap::new();
                let mut line = String::new();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                loop {
                    line.clear();
                    read.read_line(&mut line).await.unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    let (k, v) = l.split_once(':').unwrap();
                    headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
                }
                let len: usize = headers["content-length"].parse().unwrap();
                let mut body = vec![0; len];
                read.read_exact(&mut body).await.unwrap();
                log.lock().unwrap().push(Seen { headers, body });
                let (status, answer) = script[n.min(script.len() - 1)].clone();
                n += 1;
                let answer = answer.to_string();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                    answer.len()
                );
                write.write_all(head.as_bytes()).await.unwrap();
                write.write_all(answer.as_bytes()).await.unwrap();
            }
        }
    });
    (url, seen)
}

fn store(url: &str) -> DynamoStore {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(sensor_shared::aws::https_client(Default::default()))
        .region(Region::new("eu-west-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    DynamoStore {
        client: aws_sdk_dynamodb::Client::from_conf(config),
        table: "readings".into(),
    }
}

fn item(device: &str, t: i64) -> Item {
    item_from_attributes(&Attributes::from([
        ("deviceId".to_string(), AttributeValue::S(device.into())),
        ("_readingId".to_string(), AttributeValue::S(t.to_string())),
        ("t".to_string(), AttributeValue::N("1.5".into())),
    ]))
    .unwrap()
}

#[tokio::test]
async fn sends_the_items_json_and_retries_what_comes_back_unprocessed() {
    let unprocessed = json!({"UnprocessedItems": {"readings": [{"PutRequest": {"Item":
        {"deviceId": {"S": "d\"2"}, "_readingId": {"S": "2"}, "t": {"N": "1.5"}}}}]}});
    let (url, seen) = endpoint(vec![(200, unprocessed), (200, json!({}))]).await;
    let store = store(&url);
    let items = vec![item("d1", 1), item("d\"2", 2)];
    let backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(1),
        attempts: 3,
    };
    assert_eq!(write_all(&store, items.clone(), backoff).await.unwrap(), 2);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one call, then one for the unprocessed item");
    for (s, expected) in seen.iter().zip([&items[..], &items[1..]]) {
        assert_eq!(
            s.headers["x-amz-target"],
            "DynamoDB_20120810.BatchWriteItem"
        );
        assert!(s.headers["authorization"].starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
        let body: Value = serde_json::from_slice(&s.body).unwrap();
        let puts: Vec<Value> = expected
            .iter()
            .map(|i| json!({"PutRequest": {"Item": serde_json::from_slice::<Value>(i.json()).unwrap()}}))
            .collect();
        assert_eq!(body, json!({"RequestItems": {"readings": puts}}));
    }
}

/// One write of one item against an endpoint that always answers 400 with this error.
async fn write_against(error: &str, message: &str) -> (StoreError, Vec<Seen>) {
    let body =
        json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{error}"), "message": message});
    let (url, seen) = endpoint(vec![(400, body)]).await;
    let e = store(&url)
        .batch_write(vec![item("d", 1)])
        .await
        .unwrap_err();
    let seen = seen.lock().unwrap().clone();
    (e, seen)
}

#[tokio::test]
async fn refusals_and_outages_are_told_apart() {
    let (e, _) = write_against("ValidationException", "bad item").await;
    assert!(
        matches!(&e, StoreError::Refused(m) if m.contains("bad item")),
        "{e:?}"
    );

    let (e, _) = write_against("AccessDeniedException", "not allowed").await;
    assert!(
        matches!(&e, StoreError::AccessDenied(m) if m.contains("not allowed")),
        "{e:?}"
    );

    let (e, seen) = write_against("ProvisionedThroughputExceededException", "slow down").await;
    assert!(matches!(e, StoreError::Throttled(_)), "{e:?}");
    assert_eq!(seen.len(), 2, "the SDK retried the throttled call");
    assert_eq!(seen[0].body, seen[1].body, "with the same body");
}

mod aggregates {
    use super::*;
    use sensor_consumer::aggregate::{Aggregate, AggregateStore, DynamoAggregates, Put, WindowKey};

    fn table(url: &str) -> DynamoAggregates {
        DynamoAggregates {
            client: store(url).client,
            table: "aggregates".into(),
            backoff: Backoff {
                first: Duration::from_millis(1),
                max: Duration::from_millis(1),
                attempts: 3,
            },
        }
    }

    fn key(device: &str) -> WindowKey {
        WindowKey {
            device_id: device.into(),
            window_start: 60_000,
        }
    }

    fn stored(device: &str, version: u64) -> Aggregate {
        let mut a = Aggregate::empty(key(device), 60_000);
        a.add(&[sensor_consumer::aggregate::Reading {
            device_id: device.into(),
            timestamp_ms: 61_000,
            partition: "sensor-readings#0".into(),
            offset: 4,
            fields: vec![("t".into(), "1.5".parse().unwrap())],
        }]);
        a.version = version;
        a
    }

    /// An aggregate item as DynamoDB JSON.
    fn json_of(a: &Aggregate) -> Value {
        let mut buf = Vec::new();
        write_attribute(&mut buf, &AttributeValue::M(a.to_attributes()));
        serde_json::from_slice::<Value>(&buf).unwrap()["M"].clone()
    }

    #[tokio::test]
    async fn windows_are_read_consistently_and_unprocessed_keys_again() {
        let (a, b) = (stored("d1", 3), stored("d2", 1));
        let first = json!({"Responses": {"aggregates": [json_of(&a)]},
            "UnprocessedKeys": {"aggregates": {"Keys": [
                {"deviceId": {"S": "d2"}, "windowStart": {"N": "60000"}}], "ConsistentRead": true}}});
        let second = json!({"Responses": {"aggregates": [json_of(&b)]}});
        let (url, seen) = endpoint(vec![(200, first), (200, second)]).await;
        let got = table(&url)
            .get_many(vec![key("d1"), key("d2"), key("d3")])
            .await
            .unwrap();
        assert_eq!(got, vec![a, b]);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[0].headers["x-amz-target"],
            "DynamoDB_20120810.BatchGetItem"
        );
        let bodies: Vec<Value> = seen
            .iter()
            .map(|s| serde_json::from_slice(&s.body).unwrap())
            .collect();
        assert_eq!(
            bodies[0]["RequestItems"]["aggregates"]["ConsistentRead"],
            true
        );
        assert_eq!(
            bodies[0]["RequestItems"]["aggregates"]["Keys"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            bodies[1]["RequestItems"]["aggregates"]["Keys"],
            json!([{"deviceId": {"S": "d2"}, "windowStart": {"N": "60000"}}])
        );
    }

    #[tokio::test]
    async fn a_write_is_conditioned_on_the_version_read() {
        let conflict = json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed"});
        let (url, seen) = endpoint(vec![(400, conflict), (200, json!({}))]).await;
        let t = table(&url);
        let mut next = stored("d1", 3);
        assert_eq!(t.put(&next, 2).await.unwrap(), Put::Conflict);
        next.version = 1;
        assert_eq!(t.put(&next, 0).await.unwrap(), Put::Written);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "a conflict is not retried by the SDK");
        let bodies: Vec<Value> = seen
            .iter()
            .map(|s| serde_json::from_slice(&s.body).unwrap())
            .collect();
        assert_eq!(bodies[0]["ConditionExpression"], "#k = :v");
        assert_eq!(
            bodies[0]["ExpressionAttributeNames"],
            json!({"#k": "_version"})
        );
        assert_eq!(
            bodies[0]["ExpressionAttributeValues"],
            json!({":v": {"N": "2"}})
        );
        assert_eq!(bodies[0]["Item"], json_of(&stored("d1", 3)));
        assert_eq!(bodies[1]["ConditionExpression"], "attribute_not_exists(#k)");
        assert_eq!(
            bodies[1]["ExpressionAttributeNames"],
            json!({"#k": "deviceId"})
        );
        assert!(bodies[1].get("ExpressionAttributeValues").is_none());
    }

    #[tokio::test]
    async fn throttling_is_a_retryable_store_error() {
        let throttled = json!({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "Rate exceeded"});
        let (url, _) = endpoint(vec![(400, throttled)]).await;
        let e = table(&url).put(&stored("d1", 1), 0).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Throttled(ref m) if m.contains("aggregates PutItem")),
            "{e:?}"
        );
        let e = table(&url).get_many(vec![key("d1")]).await.unwrap_err();
        assert!(matches!(e, StoreError::Throttled(_)), "{e:?}");
    }
}

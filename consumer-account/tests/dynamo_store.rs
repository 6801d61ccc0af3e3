//! `DynamoStore` through the real SDK against a scripted DynamoDB endpoint on 127.0.0.1: the
//! request body is our items' JSON, signed and sized correctly, and UnprocessedItems from the
//! response come back as items that `write_all` sends again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use sensor_consumer::item::item_from_attributes;
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

    let (e, seen) = write_against("ProvisionedThroughputExceededException", "slow down").await;
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert_eq!(seen.len(), 2, "the SDK retried the throttled call");
    assert_eq!(seen[0].body, seen[1].body, "with the same body");
}

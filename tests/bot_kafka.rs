//! `tickflow bot --brokers B --signals-topic signals` against a real tansu
//! broker: every stored signal reaches the topic, keyed by its symbol, as
//! the API's JSON with its number, also across a SIGKILL; a repeat after a
//! kill carries the same number, so a consumer drops it.

use crate::bot::{bot, caught_up, history, open, publish, stored};
use crate::support::kafka::Broker;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tickflow_shared::render::write_json_signal;
use tickflow_strategy::live::outbox::PARTITIONS;

/// Every message of `topic` as `(key, JSON)`, once `count` distinct numbers arrived.
fn consume(bootstrap: &str, topic: &str, count: usize) -> Vec<(String, Value)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bot-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition_offset(topic, partition, Offset::Beginning).expect("partition");
    }
    consumer.assign(&partitions).expect("assign");
    let mut messages = Vec::new();
    let mut seqs = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seqs.len() < count {
        assert!(Instant::now() < deadline, "hang guard: {} of {count} signals on the topic", seqs.len());
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.expect("a message");
        let key = String::from_utf8(message.key().expect("a key").to_vec()).expect("utf-8 key");
        let value: Value = serde_json::from_slice(message.payload().expect("a payload")).expect("JSON");
        seqs.insert(value["seq"].as_i64().expect("seq"));
        messages.push((key, value));
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_puts_every_signal_on_kafka_keyed_by_symbol() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let bars = history();
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, store) = open(&dir);
    let kafka = ["--brokers", bootstrap.as_str(), "--signals-topic", "signals"];
    let mut running = bot(&url, &kafka);
    publish(&*store, 0, &bars).await;
    publish(&*store, 1, &bars).await;
    // Killed once on the way: the outbox resumes from its mark.
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.0.kill().expect("SIGKILL");
    running.0.wait().expect("wait");
    publish(&*store, 2, &bars).await;
    let mut running = bot(&url, &kafka);
    caught_up(&*store, &bars, &mut running).await;
    let (signals, _) = stored(&*store).await;
    let numbered = store.signal_changes(None, 0, usize::MAX).await.expect("changes").signals;
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.published("sma-cross", "signals").await.expect("mark") < numbered.last().expect("signals").seq {
        assert!(Instant::now() < deadline, "hang guard: the outbox mark never reached the last signal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let messages = consume(&bootstrap, "signals", signals.len());
    let mut by_seq = BTreeMap::new();
    for (key, value) in messages {
        assert_eq!(Some(key.as_str()), value["symbol"].as_str(), "keyed by symbol: {value}");
        let seq = value["seq"].as_i64().expect("seq");
        if let Some(earlier) = by_seq.insert(seq, value.clone()) {
            assert_eq!(earlier, value, "a repeat is the same message");
        }
    }
    let expected: BTreeMap<i64, Value> = numbered
        .iter()
        .map(|change| {
            let mut text = String::new();
            write_json_signal(&mut text, &change.signal);
            let mut value: Value = serde_json::from_str(&text).expect("JSON");
            value["seq"] = change.seq.into();
            (change.seq, value)
        })
        .collect();
    assert_eq!(by_seq, expected, "every stored signal is on the topic");
}

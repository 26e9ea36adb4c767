//! Contract 7 at the edge (issue 18): every input `tickflow produce` cannot
//! send as a trade goes to the dead-letter topic as JSON with its raw
//! input, source position and reason, and is counted in the summary line.

use crate::support::kafka::{Broker, Storage};
use crate::support::tickflow;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};
use tickflow_shared::codec::Reject;

/// Reads `count` messages of partition 0 of `topic` from the start (a hang
/// guard of 5 minutes, not a timing assertion), each as a [`Reject`] with its key.
pub(crate) fn dead_letters(broker: &Broker, topic: &str, count: usize) -> Vec<(String, Reject)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "dead-letters")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Offset(0)).expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut received = Vec::new();
    while received.len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} dead letters came back: {received:?}", received.len());
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.expect("consume");
        let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8 key");
        let reject: Reject = serde_json::from_slice(message.payload().expect("payload")).expect("a reject as JSON");
        received.push((key, reject));
    }
    received
}

#[test]
fn a_replay_sends_every_bad_row_to_the_dead_letter_topic_with_its_reason() {
    let broker = Broker::with(Storage::Memory);
    let dir = tempfile::tempdir().expect("tempdir");
    let mixed = dir.path().join("mixed.csv");
    std::fs::write(
        &mixed,
        "timestamp,symbol,price,volume,exchange\n\
         1381132800464,SPY,167.41,100,P\n\
         1381132800465,SPY,1.2.3,100,P\n\
         1381132800466,SPY,-5,100,P\n\
         1381132800467,SPY,167.40\n\
         2013-10-07T08:00:01Z,SPY,167.42,200,P\n\
         1381132800470,SPY,167.43,0,P\n",
    )
    .expect("write");
    let wrong = dir.path().join("wrong-header.csv");
    std::fs::write(&wrong, "time,sym,px,qty\n1381132800464,SPY,167.41,100\n").expect("write");
    let paths = [mixed.to_str().expect("path"), wrong.to_str().expect("path")];
    let bootstrap = broker.bootstrap();
    let produced = tickflow(&["produce", "--brokers", &bootstrap, "--partitions", "1", "--replay", paths[0], paths[1]]);
    assert!(produced.contains("Produced 2 trades"), "{produced}");
    assert!(produced.contains("5 rejected to ticks.rejects"), "{produced}");

    let mut got = dead_letters(&broker, "ticks.rejects", 5);
    got.sort_by(|a, b| (&a.1.source, a.1.position).cmp(&(&b.1.source, b.1.position)));
    let expected = [
        (paths[0], 3, "price \"1.2.3\" is not a decimal number", "1381132800465,SPY,1.2.3,100,P"),
        (paths[0], 4, "price must be positive", "1381132800466,SPY,-5,100,P"),
        (paths[0], 5, "row has 3 fields but the header has 5", "1381132800467,SPY,167.40"),
        (paths[0], 7, "volume must be positive", "1381132800470,SPY,167.43,0,P"),
        (paths[1], 1, "header lacks column `timestamp`", "time,sym,px,qty"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((key, reject), (source, position, reason, raw)) in got.iter().zip(expected) {
        assert_eq!((reject.source.as_str(), reject.position), (source, position), "{reject:?}");
        assert!(reject.reason.contains(reason), "{reject:?} should say {reason:?}");
        assert_eq!(reject.raw.trim_end(), raw, "{reject:?}");
        assert_eq!(key, &reject.source, "keyed by its source");
    }
}

#[test]
fn the_dead_letter_topic_can_be_named() {
    let broker = Broker::with(Storage::Memory);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("one-bad.csv");
    std::fs::write(&file, "timestamp,symbol,price,volume\n1381132800464,SPY,167.41,100\n1381132800465,SPY,x,1\n")
        .expect("write");
    let bootstrap = broker.bootstrap();
    let path = file.to_str().expect("path");
    let produced = tickflow(&["produce", "--brokers", &bootstrap, "--rejects-topic", "bad-input", "--replay", path]);
    assert!(produced.contains("Produced 1 trades") && produced.contains("1 rejected to bad-input"), "{produced}");
    let got = dead_letters(&broker, "bad-input", 1);
    assert_eq!((got[0].1.source.as_str(), got[0].1.position), (path, 3), "{got:?}");
}

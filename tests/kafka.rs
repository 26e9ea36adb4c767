//! The Kafka test infrastructure itself, against a real tansu broker: topics
//! created through the admin API, an idempotent producer, a consumer reading
//! from offset 0, and the wire format end to end.

use crate::support::kafka::Broker;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tickflow_shared::wire;
use tickflow_shared::{Price, Size, Symbol, Tick};

const PARTITIONS: i32 = 3;

fn trades() -> Vec<Tick> {
    let symbols = ["SPY", "BAC", "AIG", "IBM"].map(|s| Symbol::new(s).expect("symbol"));
    (0..400u64)
        .map(|i| Tick {
            symbol: symbols[(i % 4) as usize].clone(),
            ts: 1_381_132_800_000_000_000 + i as i64 * 1_000_000,
            price: Price(16_741_000_000 + i as i64),
            size: Size(10_000_000_000),
            seq: i / 4,
        })
        .collect()
}

fn client(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker.bootstrap());
    config
}

/// Creates the `ticks` topic through the admin API and produces `trades()` to it.
fn topic_with_trades(broker: &Broker) -> Vec<Tick> {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().expect("admin client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let created = runtime
        .block_on(
            admin
                .create_topics(&[NewTopic::new("ticks", PARTITIONS, TopicReplication::Fixed(1))], &AdminOptions::new()),
        )
        .expect("create topics");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: BaseProducer = client(broker).set("enable.idempotence", "true").create().expect("producer");
    let sent = trades();
    let mut value = String::new();
    for tick in &sent {
        wire::encode(tick, &mut value);
        let record = BaseRecord::to("ticks").key(tick.symbol.as_str()).payload(value.as_str());
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("every message delivered");
    sent
}

/// Polls until `count` messages came back (a hang guard of 5 minutes, not a timing assertion).
fn receive(consumer: &BaseConsumer, count: usize) -> Vec<Tick> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut received = Vec::new();
    while received.len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} messages came back", received.len());
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.expect("consume");
        let key = std::str::from_utf8(message.key().expect("key")).expect("utf-8 key").to_owned();
        let decoded = wire::decode(message.payload().expect("payload")).expect("a trade");
        assert_eq!(key, decoded.tick.symbol.as_str(), "keyed by symbol");
        received.push(decoded.tick);
    }
    received
}

fn by_symbol(ticks: Vec<Tick>) -> BTreeMap<String, Vec<Tick>> {
    let mut map: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    for tick in ticks {
        map.entry(tick.symbol.to_string()).or_default().push(tick);
    }
    map
}

#[test]
fn an_idempotent_producer_and_a_consumer_agree_through_tansu() {
    let broker = Broker::start();
    let sent = topic_with_trades(&broker);
    let consumer: BaseConsumer = client(&broker).set("group.id", "smoke").create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset("ticks", partition, Offset::Offset(0)).expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let received = receive(&consumer, sent.len());
    assert_eq!(by_symbol(received), by_symbol(sent), "every trade once, each symbol in order");
}

/// What the archiver relies on: a group starts at the earliest offset when it
/// has none, and a new member resumes exactly after the committed offsets.
#[test]
fn a_consumer_group_starts_at_earliest_and_resumes_after_its_commit() {
    let broker = Broker::start();
    let sent = topic_with_trades(&broker);
    let group = || -> BaseConsumer {
        let consumer: BaseConsumer = client(&broker)
            .set("group.id", "archiver")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&["ticks"]).expect("subscribe");
        consumer
    };
    let first = group();
    let mut received = receive(&first, 150);
    first.commit_consumer_state(rdkafka::consumer::CommitMode::Sync).expect("commit");
    drop(first);
    let second = group();
    received.extend(receive(&second, sent.len() - 150));
    assert_eq!(by_symbol(received), by_symbol(sent), "every trade exactly once across the restart");
}

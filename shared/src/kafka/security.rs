//! Failing fast on a wrong password or certificate: librdkafka retries a
//! failed SASL or SSL handshake forever and reports it only as an event on
//! the client's main queue (which an admin client never serves), so a
//! request made with a wrong password would just time out. [`Security`]
//! runs a probe client beside the request, serves its events, and stops the
//! request with librdkafka's reason when a handshake fails.

use super::KafkaConfig;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use std::sync::Mutex;
use std::time::Duration;

/// A probe connection that notices an authentication or SSL failure.
pub struct Security {
    probe: BaseProducer<Recorder>,
}

impl Security {
    /// A probe with `kafka`'s settings; it connects to the brokers at once.
    pub fn new(kafka: &KafkaConfig) -> KafkaResult<Self> {
        Ok(Self { probe: kafka.client(&[]).create_with_context(Recorder::default())? })
    }

    /// Awaits `request`, unless an authentication or SSL failure comes
    /// first: then librdkafka's message for it.
    pub async fn guard<T>(self, request: impl Future<Output = T>) -> Result<T, String> {
        let probe = self.probe;
        let failed = async {
            loop {
                probe.poll(Duration::ZERO);
                if let Some(failure) = probe.context().failure() {
                    return failure;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let result = tokio::select! {
            result = request => Ok(result),
            failure = failed => Err(failure),
        };
        // Dropping a client joins librdkafka's threads: not on the runtime's.
        std::thread::spawn(move || drop(probe));
        result
    }
}

/// The probe's context: remembers the first authentication or SSL failure.
#[derive(Default)]
struct Recorder(Mutex<Option<String>>);

impl Recorder {
    fn failure(&self) -> Option<String> {
        self.0.lock().ok().and_then(|failure| failure.clone())
    }
}

impl ClientContext for Recorder {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL))
            && let Ok(mut failure) = self.0.lock()
        {
            failure.get_or_insert_with(|| reason.to_owned());
        }
    }
}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

//! Subscription fan-out behind one trait: the embedded default broadcasts in process; a
//! Redis implementation (for many replicas) plugs in behind the same interface.

use std::sync::Arc;

use anyhow::Context as _;
use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::redis::Redis;

/// Something subscribers may want to hear about. Events carry ids, not rows: each
/// subscriber loads what it may see, so visibility rules hold for every delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// A comment was added to a post.
    #[serde(rename_all = "camelCase")]
    CommentAdded {
        /// The post.
        post_id: i64,
        /// The new comment.
        comment_id: i64,
    },
    /// A post became published.
    #[serde(rename_all = "camelCase")]
    PostPublished {
        /// The post.
        post_id: i64,
    },
}

/// Publishes events to every subscriber.
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to current subscribers (fire and forget).
    fn publish(&self, event: Event);
    /// A stream of events published from now on.
    fn subscribe(&self) -> BoxStream<'static, Event>;
}

/// In-process fan-out over a tokio broadcast channel.
pub struct LocalBus {
    sender: broadcast::Sender<Event>,
}

impl LocalBus {
    /// A bus buffering up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: Event) {
        // An error only means nobody is subscribed right now.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        BroadcastStream::new(self.sender.subscribe())
            .filter_map(|item| async move {
                match item {
                    Ok(event) => Some(event),
                    Err(lagged) => {
                        tracing::warn!(error = %lagged, "slow subscriber missed events");
                        None
                    }
                }
            })
            .boxed()
    }
}

/// Fan-out through Redis pub/sub, so a subscriber on any replica hears events published on
/// any other. Each replica holds one subscriber connection feeding its local bus; while
/// Redis is unreachable, events are delivered locally (subscriptions degrade to this
/// replica) and the connection is retried until Redis returns.
pub struct RedisBus {
    local: LocalBus,
    redis: Redis,
    channel: String,
}

impl RedisBus {
    /// A bus on `redis`, listening from now on.
    pub fn start(url: &str, redis: Redis) -> anyhow::Result<Arc<Self>> {
        let client = ::redis::Client::open(url).context("REDIS_URL: invalid Redis URL")?;
        let channel = redis.key(&["events"]);
        let bus = Arc::new(Self {
            local: LocalBus::default(),
            redis,
            channel: channel.clone(),
        });
        crate::redis::listen(client, channel, Arc::downgrade(&bus), |_| {}, Self::deliver);
        Ok(bus)
    }

    /// Forwards one Redis message to local subscribers.
    fn deliver(&self, payload: &str) {
        match serde_json::from_str::<Event>(payload) {
            Ok(event) => self.local.publish(event),
            Err(err) => tracing::warn!(error = %err, "ignoring a malformed event"),
        }
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: Event) {
        let Ok(payload) = serde_json::to_string(&event) else {
            return;
        };
        let (redis, channel, local) = (
            self.redis.clone(),
            self.channel.clone(),
            self.local.sender.clone(),
        );
        // Publishing must not hold up the mutation that caused it.
        tokio::spawn(async move {
            let sent = redis
                .run("publish", |mut c| async move {
                    ::redis::cmd("PUBLISH")
                        .arg(channel)
                        .arg(payload)
                        .query_async::<i64>(&mut c)
                        .await
                })
                .await;
            if sent.is_err() {
                let _ = local.send(event);
            }
        });
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        self.local.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_later_events() {
        let bus = LocalBus::default();
        bus.publish(Event::PostPublished { post_id: 1 });
        let mut stream = bus.subscribe();
        bus.publish(Event::PostPublished { post_id: 2 });
        assert_eq!(
            stream.next().await,
            Some(Event::PostPublished { post_id: 2 })
        );
    }
}

//! Subscription fan-out behind one trait: the embedded default broadcasts in process; a
//! Redis implementation (for many replicas) plugs in behind the same interface.

use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Something subscribers may want to hear about. Events carry ids, not rows: each
/// subscriber loads what it may see, so visibility rules hold for every delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A comment was added to a post.
    CommentAdded {
        /// The post.
        post_id: i64,
        /// The new comment.
        comment_id: i64,
    },
    /// A post became published.
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

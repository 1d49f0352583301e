// Package broker consumes and publishes OpenCTI connector messages on RabbitMQ.
//
// It is the only package of the SDK that talks AMQP 0-9-1 (github.com/rabbitmq/amqp091-go).
// It owns its reconnect loops instead of relying on the library's experimental recovery:
// every connection loss is logged, followed by an exponential back-off, a new connection
// and, for a [Consumer], a new consumer on the same queue.
//
// A [Consumer] reads a queue the platform declared (it never declares queues), with manual
// acknowledgement and a prefetch that also bounds the number of concurrent handlers. The
// handler acknowledges each [Delivery] itself, typically after its result was published, so
// a crash or a lost connection makes RabbitMQ redeliver the message rather than lose it:
// handlers must tolerate redelivery.
//
// A [Publisher] keeps one long-lived connection with a channel in confirm mode and returns
// from [Publisher.Publish] only once RabbitMQ has confirmed the message, republishing after
// nacks, confirm timeouts and connection losses. Delivery is therefore at least once: a
// message whose confirm was lost with its connection is published again.
// [Publisher.PublishBatch] gives the same guarantees to many messages at once without a
// round trip per message: it keeps a bounded window of them unconfirmed, and republishes
// exactly those not confirmed when an attempt fails.
//
// [Envelope] is the JSON message the platform's workers expect on the push queue, encoded
// byte for byte as pycti encodes it.
package broker

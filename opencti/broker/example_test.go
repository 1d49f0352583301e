package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/riskiq-opencti/connectors/opencti/broker"
)

func ExampleConfigFromURL() {
	cfg, err := broker.ConfigFromURL("amqp://opencti:s3cret@rabbitmq:5672/%2F?connection_name=listen")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Host, cfg.Port, cfg.VHost, cfg.User)
	fmt.Println(cfg) // no password
	// Output:
	// rabbitmq 5672 / opencti
	// amqp://opencti@rabbitmq:5672/%2F?connection_name=listen
}

func ExampleEnvelope_Marshal() {
	applicant := "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
	body, err := broker.NewEnvelope([]byte(`{"type": "bundle"}`), 1, &applicant, nil, "work_1").Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(body))
	// Output:
	// {"bundle_type": "QUEUE_BUNDLE", "applicant_id": "88ec0c6a-13ce-5e39-b486-354fe4a7084f", "action_sequence": 1, "entities_types": [], "content": "eyJ0eXBlIjogImJ1bmRsZSJ9", "update": false, "draft_id": null, "work_id": "work_1"}
}

// This example consumes a listen queue and acknowledges each message only after its result
// was published and confirmed.
func ExampleConsumer_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg := broker.Config{Host: "rabbitmq", User: "opencti", Password: "s3cret", ConnectionName: "listen"}

	pub := broker.NewPublisher(cfg, broker.WithLogger(logger))
	defer pub.Close()
	consumer := broker.NewConsumer(cfg, "listen_connector-id", broker.WithPrefetch(1), broker.WithLogger(logger))
	err := consumer.Run(ctx, func(ctx context.Context, d *broker.Delivery) {
		body, err := broker.NewEnvelope(d.Body, 1, nil, nil, "").Marshal()
		if err != nil {
			_ = d.Reject(false)
			return
		}
		if err := pub.Publish(ctx, "amqp.worker.exchange", "push_routing_connector-id", body); err != nil {
			if ctx.Err() == nil {
				_ = d.Reject(true) // e.g. the exchange is gone
			}
			return // stopping: RabbitMQ redelivers the unacknowledged message
		}
		_ = d.Ack()
	})
	if err != nil {
		logger.Error("Consumer failed", slog.Any("error", err))
	}
}

// This example publishes the parts of a split bundle, pipelined, and returns once RabbitMQ
// confirmed all of them.
func ExamplePublisher_PublishBatch() {
	ctx := context.Background()
	cfg := broker.Config{Host: "rabbitmq", User: "opencti", Password: "s3cret", ConnectionName: "push"}
	pub := broker.NewPublisher(cfg, broker.WithPublishWindow(500))
	defer pub.Close()

	parts := [][]byte{[]byte(`{"type": "bundle", "objects": [{"type": "ipv4-addr", "value": "10.0.0.1"}]}`)}
	bodies := make([][]byte, len(parts))
	for i, part := range parts {
		body, err := broker.NewEnvelope(part, i+1, nil, nil, "work_1").Marshal()
		if err != nil {
			fmt.Println(err)
			return
		}
		bodies[i] = body
	}
	n, err := pub.PublishBatch(ctx, "amqp.worker.exchange", "push_routing_connector-id", bodies)
	if err != nil {
		fmt.Printf("%d of %d parts confirmed: %v\n", n, len(bodies), err)
	}
}

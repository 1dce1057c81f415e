"""Server scaffolding every service shares: error mapping, metrics, gRPC, Kafka workers."""

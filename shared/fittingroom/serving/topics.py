"""Kafka topic names (DESIGN §3): the chain each stage consumes and publishes."""

REQUESTS = "tryon.requests"
SEGMENTED = "tryon.segmented"
STYLED = "tryon.styled"
TRANSLATED = "tryon.translated"
COMPLETED = "tryon.completed"
FAILED = "tryon.failed"
DLQ = "tryon.dlq"

ALL_TOPICS = (REQUESTS, SEGMENTED, STYLED, TRANSLATED, COMPLETED, FAILED, DLQ)

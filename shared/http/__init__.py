"""What every HTTP edge shares: uvicorn hosted by the ServiceHost (server), RFC 9457 problem+json
(problems, body_guard) and one OpenTelemetry SERVER span per request (tracing)."""

"""HTTP and WebSocket routes, one module per concept. Each route validates, calls logic and
shapes the response; nothing else."""

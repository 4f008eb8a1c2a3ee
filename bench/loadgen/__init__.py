"""The load generator behind `bench/load.py`: real WebSocket clients, one socket per user, an
open-loop schedule of sends, and the figures of each step (latency, deliveries/s, loss)."""

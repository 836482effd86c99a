"""CLI verb groups. Each module has ``register(subparsers)``; handlers print and call the core."""

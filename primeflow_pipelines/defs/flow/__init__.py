"""Options-flow assets: prints, events, context, signals."""

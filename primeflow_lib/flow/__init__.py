"""Options-flow intelligence: option symbols, print classification, context, strategies, scoring."""

"""Everything BigBlueButton-specific: API proxy, join interception, bus, recordings."""

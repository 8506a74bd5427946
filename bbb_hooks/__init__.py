"""Everything BigBlueButton-specific: API proxy, join interception, checksums, XML."""

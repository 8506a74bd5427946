"""Protected playback (G14, G17): signed links, what the decision reads, the pages."""

"""Text read in pictures: its words, as search, counts and exports see them (pure Python)."""

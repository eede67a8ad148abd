"""Domain vocabulary and rules: categories, statuses, red-line kinds, lifecycle."""

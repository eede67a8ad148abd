"""Field capture (issue 15): patrol records, evidence on cases, today's work list and GPX."""

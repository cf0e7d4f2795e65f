"""Call-center figures: one aggregation of the journal into hourly summary tables, and the reports on them."""

"""The service desk's data: customers, catalogue, knowledge base, work orders, IVR lookups, calendar, demo data."""

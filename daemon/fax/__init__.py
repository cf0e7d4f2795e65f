"""Fax: jobs in both directions, the outbound queue, the document library and the sender seam (the T.30 engine)."""

"""The software fax engine: spandsp T.30 sessions on call audio (session, pool) and fax documents (TIFF-F, PDF, PNG)."""

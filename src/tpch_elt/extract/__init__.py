"""Extract: TPC-H data generated at a scale factor, and the order batches split from it."""

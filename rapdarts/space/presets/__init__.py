"""Package data: the published genotypes (DARTS_V1, DARTS_V2, PDARTS)."""

"""Pre-screening of a hospital's EHR population (OMOP CDM v5.4) against the eligibility criteria.

`iliad7 prescreen` runs it (docs/prescreen.md): `source` opens the OMOP tables on DuckDB,
PostgreSQL or Spark, `features` holds the one definition of each field's population form (ibis
plans compiled to every engine), `records` builds each person's screening record from what the
engine returns with the pure functions of `mapping` (which a FHIR import can call too), and `run`
judges every record with `iliad7.eligibility.screen`, the function `iliad7 screen` runs.
`synth` writes a synthetic population to try it on.
"""

"""CDISC and HL7 standards: SDTM and ADaM datasets, SAS XPORT, Dataset-JSON, define.xml, ODM, FHIR.

The datasets are built from a guarded snapshot of the trial database (`snapshot`),
so every export is held to the exporting user's sites and blinding; writers
(`xpt`, `dataset_json`, `define`, `exports`) only format what the builders made.
"""

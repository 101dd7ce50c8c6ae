"""Offline data pipeline: manifests and clinical scales -> plan -> frames -> labels -> face crops -> dataset.csv."""

"""painwatch offline training: manifests and clinical scales -> frames -> face crops -> dataset -> model."""

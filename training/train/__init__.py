"""`painwatch train`: config, grouped splits, tf.data input, pool4 cache, fitting, metrics and the CV report."""

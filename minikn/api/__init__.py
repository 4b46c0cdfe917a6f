"""Resource types and admission (pure): KServe v1beta1/v1alpha2, core/v1; convert, validate."""

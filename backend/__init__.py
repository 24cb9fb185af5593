"""PlateOps domain logic: store, jobs, data, training, detection. Never imports streamlit."""

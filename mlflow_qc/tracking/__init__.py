"""The run tree's names and the queries that read it; imports nothing of mlflow_qc above errors."""

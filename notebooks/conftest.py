"""`make notebooks` (pytest --nbval notebooks/): chain/ holds the notebooks that
06-notebooks-as-steps.ipynb runs as steps; they are its inputs, saved without outputs,
not examples to execute on their own."""

collect_ignore = ["chain"]

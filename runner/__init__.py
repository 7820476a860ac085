"""runner: grids -> job plans -> executors (local, Slurm via submitit, Apptainer) -> shards -> reports."""

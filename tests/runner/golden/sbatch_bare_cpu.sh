#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=2
#SBATCH --error=/runs/demo/logs/features/%j_0_log.err
#SBATCH --job-name=sertack-features
#SBATCH --mem=8G
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/runs/demo/logs/features/%j_0_log.out
#SBATCH --signal=USR2@90
#SBATCH --time=30
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /runs/demo/logs/features/%j_%t_log.out --error /runs/demo/logs/features/%j_%t_log.err /opt/venv/bin/python -u -m submitit.core._submit /runs/demo/logs/features

#!/bin/bash

# Parameters
#SBATCH --account=proj42
#SBATCH --array=0-299%64
#SBATCH --cpus-per-task=4
#SBATCH --dependency=afterany:41:42
#SBATCH --error=/runs/demo/logs/train/%A_%a_0_log.err
#SBATCH --gpus-per-task=1
#SBATCH --job-name=sertack-train
#SBATCH --mail-type=FAIL
#SBATCH --mem=16G
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/runs/demo/logs/train/%A_%a_0_log.out
#SBATCH --partition=gpu
#SBATCH --signal=USR2@90
#SBATCH --time=120
#SBATCH --wckey=submitit

# setup
module load apptainer/1.3
export OMP_NUM_THREADS=4
export TF_CPP_MIN_LOG_LEVEL=2
export APPTAINERENV_OMP_NUM_THREADS=4
export APPTAINERENV_TF_CPP_MIN_LOG_LEVEL=2

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /runs/demo/logs/train/%A_%a_%t_log.out --error /runs/demo/logs/train/%A_%a_%t_log.err apptainer exec --nv --bind /runs/demo,/data/emodb,/usr/bin/scontrol,/usr/lib/x86_64-linux-gnu/slurm-wlm,/run/munge,/etc/slurm /shared/images/sertack.sif python -u -m submitit.core._submit /runs/demo/logs/train

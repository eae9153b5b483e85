#!/bin/bash
# Multi-node DDP on SLURM: 2 nodes x 4 GPUs. Submit from the repository root:  sbatch scripts/slurm_ddp.sh
# Lightning reads SLURM's variables; --devices must equal --ntasks-per-node and --num-nodes must equal --nodes.
# Every task writes to the same run folder, runs/<data>-<model>-<job id> (or --name), on a shared filesystem.
#SBATCH --job-name=litcls
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%j.out

set -euo pipefail
source .venv/bin/activate
srun python train.py --accelerator gpu --devices 4 --num-nodes 2 --strategy ddp \
    --num-workers "${SLURM_CPUS_PER_TASK}" "$@"

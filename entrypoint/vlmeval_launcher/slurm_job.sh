# shellcheck shell=bash
# What every vlmeval sbatch script runs after its settings (vlmeval slurm writes those above;
# this part is the same in every script: vlmeval_launcher/slurm_job.sh).
set -euo pipefail

# VLMEVAL_RUNTIME, at submit time, picks how the nodes run vlmeval:
#   pyxis      the image through pyxis/enroot (srun --container-image, --container-mounts)
#   apptainer  the image through apptainer exec --nv (a .sif file or docker://…)
#   venv       $venv/bin/vlmeval, a venv on a filesystem every node mounts
# In the image, the shared volumes are mounted where the image expects them (docker/Dockerfile).
runtime=${VLMEVAL_RUNTIME:-$runtime}
# The hub cache (model weights): $HF_HOME of the submitting shell, else the HF default.
hf_home=${HF_HOME:-$HOME/.cache/huggingface}
mounts="$output:/outputs,$data_dir:/data,$hf_home:/cache/huggingface"
# The setting $1 (image, venv) must be set for this runtime.
need() {
    if [ -z "${!1}" ]; then
        echo "vlmeval: error: runtime $runtime needs $1= in this script" >&2
        exit 2
    fi
}
case $runtime in
    pyxis)
        need image
        step=(--container-image="$image" --container-mounts="$mounts")
        vlmeval=(/opt/venv/bin/vlmeval)
        volumes=(--output /outputs --data-dir /data)
        export HF_HOME=/cache/huggingface
        ;;
    apptainer)
        need image
        step=()
        vlmeval=(apptainer exec --nv --bind "$mounts" "$image" /opt/venv/bin/vlmeval)
        volumes=(--output /outputs --data-dir /data)
        export HF_HOME=/cache/huggingface
        ;;
    venv)
        need venv
        step=()
        vlmeval=("$venv/bin/vlmeval")
        volumes=(--output "$output" --data-dir "$data_dir")
        export HF_HOME=$hf_home
        ;;
    *)
        echo "vlmeval: error: VLMEVAL_RUNTIME=$runtime: choose pyxis, apptainer or venv" >&2
        exit 2
        ;;
esac
mkdir -p "$output" "$data_dir" "$hf_home"

# srun, not the batch shell, runs vlmeval: --signal's SIGTERM reaches it (what finished is
# kept, exit 143), and scancel's too. A requeued or resubmitted task resumes.
if [ "$shards" -gt 0 ]; then
    # A job array, one shard per task. The shard count is this script's, not
    # SLURM_ARRAY_TASK_COUNT: a resubmission of some tasks (sbatch --array=3 …) keeps it.
    exec srun --ntasks=1 "${step[@]}" "${vlmeval[@]}" eval \
        --shard "$SLURM_ARRAY_TASK_ID/$shards" "${volumes[@]}" "${run_flags[@]}"
fi
# One job of several nodes: one torchrun rendezvous, at the job's first host.
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
# shellcheck disable=SC2016 # $SLURM_NODEID is each node's own, expanded in its task
exec srun --ntasks-per-node=1 "${step[@]}" sh -c 'exec "$@" --node-rank "$SLURM_NODEID"' node \
    "${vlmeval[@]}" eval --nnodes "$SLURM_NNODES" --rdzv-endpoint "$head_node:$rdzv_port" \
    "${volumes[@]}" "${run_flags[@]}"

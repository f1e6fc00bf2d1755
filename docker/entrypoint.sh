#!/bin/sh
# The image's entrypoint, run by tini (PID 1).
#   docker run vlmeval eval -m tiny-vlm -d ShapesMCQ   -> vlmeval eval -m tiny-vlm -d ShapesMCQ
#   docker run vlmeval --help                          -> vlmeval --help
#   docker run vlmeval make test-gpu                   -> make test-gpu (anything else is exec'd)
# vlmeval then replaces itself with torchrun, so signals from `docker stop` reach the ranks.
set -e

# vlmeval's commands; tests/test_container.py checks this list against `vlmeval --help`.
VLMEVAL_COMMANDS="eval score prompts gpus list doctor fetch"

if [ "$#" -eq 0 ]; then
    set -- --help
fi
case "$1" in
    -*) exec vlmeval "$@" ;;
esac
for command in $VLMEVAL_COMMANDS; do
    if [ "$1" = "$command" ]; then
        exec vlmeval "$@"
    fi
done
exec "$@"

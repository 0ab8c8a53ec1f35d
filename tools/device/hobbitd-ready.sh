# Sourced by the device scripts that start hobbitd (daemon-check.sh, offload-check.sh).
#
# wait_ready HOBBIT_CLI PID PORT SECONDS: waits until hobbitd (process PID) answers `hobbit info`
# on 127.0.0.1:PORT; fails as soon as the process exits, or after SECONDS.
wait_ready() {
  local cli="$1" pid="$2" port="$3" seconds="$4"
  for _ in $(seq 1 $((seconds * 2))); do
    kill -0 "$pid" 2>/dev/null || return 1
    "$cli" info --server "127.0.0.1:$port" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

"""A throw-away single-node SLURM cluster on localhost, for the cluster test.

Debian's `slurm-wlm` and `munge` are installed with apt-get when missing. `slurm.conf` and
`gres.conf` go where every SLURM program looks for them, /etc/slurm: the jobs' own `srun` (the
plugin's job step) runs with the SLURM_* variables, $SLURM_CONF included, removed from its
environment. They are written only where no SLURM configuration exists, and removed at the end.
The rest lives in one temporary folder: the munge key and socket, state, spool, logs. The daemons
run in the foreground as children of the test and are stopped by their process ids. The node offers
one `gpu` GRES with no device behind it (File=/dev/null): enough for SLURM to schedule GPU requests;
the jobs themselves fall back to the CPU.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PACKAGES = ["slurm-wlm", "munge"]
PROGRAMS = ["munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "sinfo", "scancel"]
CONF_DIR = Path("/etc/slurm")
CONF_FILES = ["slurm.conf", "gres.conf"]
MARK = "# Test cluster of tgan's tests/slurm_cluster.py: removed when the test ends.\n"
PARTITION = "debug"
# The profile asks up to 8 GB for some jobs: the node says it has at least this much
# (SlurmdParameters=config_overrides) so that they fit on small machines; the jobs use far less.
MIN_NODE_MEMORY_MB = 32000


class CannotRun(Exception):
    """This machine cannot host the cluster (not root, no apt-get, a SLURM of its own): skip, with why."""


def install() -> None:
    """Install slurm-wlm and munge with apt-get unless their programs are already there."""
    if all(shutil.which(p) for p in PROGRAMS):
        return
    if shutil.which("apt-get") is None:
        raise CannotRun(f"SLURM is not installed and there is no apt-get to install {' '.join(PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env)
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise CannotRun(f"`{' '.join(command)}` failed: {(result.stdout + result.stderr)[-600:]}")


def check_can_run() -> None:
    """Raise CannotRun with the reason where the test cluster cannot be started."""
    if os.geteuid() != 0:
        raise CannotRun("starting munged, slurmctld and slurmd needs root")
    install()
    for name in CONF_FILES:
        path = CONF_DIR / name
        if path.exists() and not path.read_text(errors="replace").startswith(MARK):
            raise CannotRun(f"{path} exists: this machine has a SLURM configuration of its own, left untouched")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    return total_kb // 1024


def write_config(root: Path, host: str, munge_socket: Path) -> None:
    """slurm.conf and gres.conf in CONF_DIR for one node named after this host; state, spool and
    logs under `root`. No accounting database; one partition; a gpu GRES backed by /dev/null."""
    for sub in ("state", "spool"):
        (root / sub).mkdir()
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    (CONF_DIR / "slurm.conf").write_text(MARK + f"""\
ClusterName=tgantest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
DefMemPerCPU=1000
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs={max(os.cpu_count() or 1, 2)} \
RealMemory={max(_memory_mb(), MIN_NODE_MEMORY_MB)} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    (CONF_DIR / "gres.conf").write_text(MARK + f"NodeName={host} Name=gpu Count=1 File=/dev/null\n")


def _start_munge(root: Path) -> tuple[subprocess.Popen, Path]:
    """munged as user munge with its own key (1024 random bytes) and socket under root/munge."""
    munge = root / "munge"
    munge.mkdir()
    munge.chmod(0o755)  # munged wants its socket's folder open to all (the key file itself is 0400)
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    user = pwd.getpwnam("munge")
    for path in (munge, key):
        os.chown(path, user.pw_uid, user.pw_gid)
    sock = munge / "munge.socket"
    with open(munge / "munged.err", "w") as err:
        daemon = subprocess.Popen(
            ["munged", "--foreground", f"--key-file={key}", f"--socket={sock}", f"--pid-file={munge}/munged.pid",
             f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"],
            user="munge", group="munge", stdout=subprocess.DEVNULL, stderr=err)
    return daemon, sock


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists())


def _wait(what: str, ready, daemons: list[subprocess.Popen], logs: list[Path], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        for daemon in daemons:
            if daemon.poll() is not None:
                raise RuntimeError(f"{daemon.args[0]} exited with {daemon.returncode} before {what}:\n"
                                   + _tails(logs))
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}:\n" + _tails(logs))


def _stop(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@contextmanager
def single_node_cluster():
    """Start munged, slurmctld and slurmd (call check_can_run first); yield a function that returns
    the tails of the daemons' logs, for failure messages.

    On exit, jobs still queued or running are cancelled, the three daemons are stopped by their ids,
    and the configuration and the temporary folder are removed.
    """
    root = Path(tempfile.mkdtemp(prefix="tgan-slurm-"))
    root.chmod(0o755)  # munged runs as user munge and must reach its folder
    host = socket.gethostname().split(".")[0]
    daemons: list[subprocess.Popen] = []
    logs = [root / "munge" / "munged.err", root / "munge" / "munged.log", root / "slurmctld.log", root / "slurmd.log"]
    try:
        munged, munge_socket = _start_munge(root)
        daemons.append(munged)
        _wait("the munge socket", munge_socket.exists, daemons, logs)
        write_config(root, host, munge_socket)
        for command in (["slurmctld", "-D"], ["slurmd", "-D"]):
            daemons.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))

        def node_idle() -> bool:
            state = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True)
            return state.stdout.strip() == "idle"

        _wait("the node to be idle (sinfo)", node_idle, daemons, logs)
        yield lambda: _tails(logs)
    finally:
        if len(daemons) == 3 and daemons[1].poll() is None:
            subprocess.run(["scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name], capture_output=True)
        for daemon in reversed(daemons):
            _stop(daemon)
        for name in CONF_FILES:
            path = CONF_DIR / name
            if path.exists() and path.read_text(errors="replace").startswith(MARK):
                path.unlink()
        shutil.rmtree(root, ignore_errors=True)

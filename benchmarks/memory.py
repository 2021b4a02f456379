"""Peak memory of the measured work in a benchmark subprocess (Linux).

After set-up (tensors / model / trainer built, warm-up done, ``gc.collect()``) the peak-RSS counter is reset by
writing ``5`` to ``/proc/self/clear_refs`` and the baseline is read as ``VmRSS``; after the measured work the peak
is ``VmHWM - baseline``. Where the reset is refused the baseline is ``VmHWM`` after set-up (``hwm_reset: false``).
"""

from __future__ import annotations

import gc


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class PeakMemory:
    """``VmHWM`` after the measured work minus the resident set after set-up."""

    def start(self) -> None:
        gc.collect()
        self.hwm_reset = self.reset()
        self.baseline_kb = _status_kb("VmRSS") if self.hwm_reset else _status_kb("VmHWM")

    @staticmethod
    def reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current VmRSS (Linux >= 4.0)
            return True
        except OSError:
            return False

    def stop(self) -> dict:
        hwm = _status_kb("VmHWM")
        return {
            "peak_mb": (hwm - self.baseline_kb) / 1024,
            "baseline_mb": self.baseline_kb / 1024,
            "vmhwm_mb": hwm / 1024,
            "hwm_reset": self.hwm_reset,
        }


def memory_method(mmap_threshold: int) -> str:
    """The method in words, for the results file."""
    glibc = (
        f"Subprocesses run with MALLOC_MMAP_THRESHOLD_={mmap_threshold}, so glibc returns every freed block of "
        f"{mmap_threshold // 1024} KiB or more to the OS at once and VmHWM follows live memory (with glibc's "
        "dynamic threshold, identical training runs differed by up to ~50 MB of retained heap)"
        if mmap_threshold
        else "glibc's default malloc settings"
    )
    return (
        "peak_mb = VmHWM after the measured work - VmRSS after set-up, with VmHWM reset to VmRSS by writing 5 to "
        "/proc/self/clear_refs after set-up (training: reset again after the warm-up steps); "
        "if the reset is refused (hwm_reset false) the baseline is VmHWM after set-up. " + glibc
    )


import pytest


def _spin() -> None:
    while True:
        pass


def test_load_monitor_sees_another_busy_process():
    import multiprocessing as mp
    import os

    from hwnas.device.threads import sample_load

    if not os.path.exists("/proc/stat"):
        pytest.skip("the load of other processes is read from /proc/stat (Linux)")
    hog = mp.Process(target=_spin, daemon=True)
    hog.start()
    try:
        load = sample_load(1.0)
    finally:
        hog.terminate()
        hog.join()
    assert load.other_cores > 0.5 and load.busy and "cores busy" in load.describe()

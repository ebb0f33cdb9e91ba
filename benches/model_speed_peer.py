"""pyxccd 1.1.0's sccd_detect and cold_detect on the 724-observation sample_2 series, pixels per second
on one core, and the breaks cold_detect finds (for benches/model_speed.sh, beside benches/model_speed.rs)."""
import sys, time, datetime
import numpy as np
from pyxccd import cold_detect, sccd_detect

path = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
d = np.genfromtxt(path, delimiter=",", dtype=np.int64)
# sccd_detect takes dates, six bands and QA; cold_detect the thermal band too.
every = [np.ascontiguousarray(d[:, i]) for i in range(9)]
no_thermal = every[:7] + every[8:]
for name, f, cols in (("sccd_detect", sccd_detect, no_thermal), ("cold_detect", cold_detect, every)):
    f(*cols)
    # Per core: the thread's CPU time, not the wall clock, so that other work on a shared machine does
    # not count against it (the Rust side measures the same way).
    t = time.thread_time()
    for _ in range(reps):
        out = f(*cols)
    s = time.thread_time() - t
    print(f"{name}: {reps / s:.0f} pixels/s per core, CPU time ({len(cols[0])} observations)")
res = cold_detect(*every)
for r in res:
    if r["t_break"] > 0:
        print("cold break", datetime.date.fromordinal(int(r["t_break"])))

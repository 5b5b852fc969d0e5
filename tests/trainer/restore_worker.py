"""One rank of a parallel restore (trainer/s3_restore.py), run under torchrun by
test_s3_transfers.py: `argv` = URL, checkpoint root, output folder. Each download is slowed and
recorded (key, start, end) in `<output>/rank_<R>.json`, so the test sees who fetched what, when."""

import json
import sys
import time
from pathlib import Path

import torch.distributed as dist

from trainer import exit_codes, s3_restore, s3_store

url, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
s3 = s3_store.client()
fetched = []
real_download = s3.download_file


def slow_download(bucket, key, dest, **kw):
    start = time.time()
    time.sleep(0.3)  # long enough that ranks fetching one after the other could not overlap
    real_download(bucket, key, dest, **kw)
    fetched.append({"key": key, "start": start, "end": time.time()})


s3.download_file = slow_download
got = s3_restore.restore_latest(url, root, rank, world, s3=s3)
(out / f"rank_{rank}.json").write_text(json.dumps({"restored": str(got), "fetched": fetched}))
dist.barrier()
dist.destroy_process_group()
exit_codes.exit_process(0)
